"""GradientMonitor: circuit-weight gradients per quantum layer next to the classical layers'."""

from __future__ import annotations

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor
from torch.optim import Optimizer

from hqnn_pl.callbacks.utils import is_quantum_module

_STATS = ("mean", "var", "norm")


class GradientMonitor(Callback):
    """Log the mean, variance and norm of the gradients of every quantum layer, per epoch.

    Before every optimiser step the gradients of each quantum layer's weights (modules of
    :mod:`hqnn_pl.quantum`), and of all other (classical) parameters together, are summarised
    by their mean, variance (over the parameters) and L2 norm; the epoch's averages over steps
    are logged as ``grad/<layer>/{mean,var,norm}`` and ``grad/classical/{mean,var,norm}`` to
    every logger (CSV, W&B). Vanishing circuit-weight gradients next to healthy classical ones
    are the signature of a barren plateau in training.

    From YAML::

        trainer:
          callbacks:
            - class_path: hqnn_pl.callbacks.GradientMonitor
    """

    def __init__(self) -> None:
        super().__init__()
        self._sums: dict[str, Tensor] = {}
        self._steps = 0

    @staticmethod
    def groups(pl_module: LightningModule) -> dict[str, list[Tensor]]:
        """Trainable parameters grouped as ``{quantum layer name: [...], "classical": [...]}``."""
        groups: dict[str, list[Tensor]] = {}
        quantum: set[int] = set()
        for name, module in pl_module.named_modules():
            if is_quantum_module(module):
                params = [p for p in module.parameters() if p.requires_grad]
                if params:
                    groups[name] = params
                    quantum.update(id(p) for p in params)
        groups["classical"] = [
            p for p in pl_module.parameters() if p.requires_grad and id(p) not in quantum
        ]
        return groups

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start this epoch's sums."""
        self._sums, self._steps = {}, 0

    def on_before_optimizer_step(
        self, trainer: Trainer, pl_module: LightningModule, optimizer: Optimizer
    ) -> None:
        """Add this step's gradient statistics to the epoch's sums."""
        del trainer, optimizer
        with torch.no_grad():
            for name, params in self.groups(pl_module).items():
                grads = [p.grad.detach().flatten().double() for p in params if p.grad is not None]
                if not grads:
                    continue
                flat = torch.cat(grads)
                var = flat.var(unbiased=False)
                stats = torch.stack([flat.mean(), var, flat.norm()])
                self._sums[name] = self._sums.get(name, torch.zeros_like(stats)) + stats
        self._steps += 1

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Log the epoch's average gradient statistics of every group."""
        del trainer
        if not self._steps:
            return
        metrics = {
            f"grad/{name}/{stat}": float(value) / self._steps
            for name, sums in self._sums.items()
            for stat, value in zip(_STATS, sums.tolist(), strict=True)
        }
        pl_module.log_dict(metrics, on_step=False, on_epoch=True, sync_dist=False)
