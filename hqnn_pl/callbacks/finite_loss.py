"""FiniteLossGuard: stop at the first NaN or infinite training loss instead of reporting it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor

from hqnn_pl.errors import ConfigurationError, NonFiniteLossError


class FiniteLossGuard(Callback):
    """Stop training at the first non-finite loss, weight or statistic, before it is saved.

    The check runs before the backward pass of every training step, so the optimiser never
    applies the step that produced the NaN, and the epoch never ends: no ``last.ckpt`` or best
    checkpoint is written from it, and the checkpoints of earlier, finite epochs stay as they
    were (:class:`~hqnn_pl.callbacks.ExceptionCheckpoint` saves nothing for this error). The run
    then ends with :class:`~hqnn_pl.errors.NonFiniteLossError` naming the epoch and step, so
    ``hqnn-pl`` exits with a non-zero status and sweeps or comparisons record a failed run, not
    a result. An update can also overflow the weights, or activations the BatchNorm statistics,
    while every loss stays finite: the whole state is checked at each epoch's end, before its
    checkpoints are saved, so no checkpoint ever holds a NaN. The message says whether the
    run's newest checkpoint is finite. Under DDP every rank learns of a NaN on any rank (one
    all-reduce per step), so all stop together. The CLI adds this callback to every run.
    """

    def on_before_backward(
        self, trainer: Trainer, pl_module: LightningModule, loss: Tensor
    ) -> None:
        """Raise when the loss about to be backpropagated is NaN or infinite on any rank."""
        del pl_module
        non_finite = not bool(torch.isfinite(loss.detach()).all())
        if trainer.world_size > 1:
            non_finite = trainer.strategy.reduce_boolean_decision(non_finite, all=False)
        if not non_finite:
            return
        raise NonFiniteLossError(
            f"the training loss is {float(loss.detach().float().mean()):g} at epoch "
            f"{trainer.current_epoch}, step {trainer.global_step} ({_kept(trainer)}). {_ADVICE}"
        )

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Stop before the epoch's checkpoints are saved if the state is no longer finite."""
        if not trainer.sanity_checking and trainer.state.fn == TrainerFn.FITTING:
            self._check_state(trainer, pl_module)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Stop before the epoch-end checkpoints are saved if the state is no longer finite."""
        self._check_state(trainer, pl_module)

    def _check_state(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Raise when a weight or a statistic (BatchNorm's running means) is NaN or infinite.

        An update can overflow the weights, and activations can overflow the running
        statistics, while every loss stays finite; no checkpoint may keep such a state.
        """
        bad = non_finite_entries(pl_module.state_dict())
        non_finite = bool(bad)
        if trainer.world_size > 1:
            non_finite = trainer.strategy.reduce_boolean_decision(non_finite, all=False)
        if not non_finite:
            return
        shown = ", ".join(bad[:3]) + (" ..." if len(bad) > 3 else "") or "on another rank"
        raise NonFiniteLossError(
            f"the weights or statistics became non-finite ({shown}) by the end of epoch "
            f"{trainer.current_epoch}, step {trainer.global_step}; this epoch's checkpoints "
            f"were not saved ({_kept(trainer)}). {_ADVICE}"
        )


_ADVICE = (
    "Lower the learning rate (model.init_args.optimizer.init_args.lr), clip gradients "
    "(--trainer.gradient_clip_val) or check the data for NaNs."
)


def non_finite_entries(state: dict[str, Any]) -> list[str]:
    """The names of the floating-point tensors of ``state`` that hold a NaN or an infinity."""
    return [
        name
        for name, value in state.items()
        if isinstance(value, Tensor)
        and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]


def _kept(trainer: Trainer) -> str:
    """What the run's newest checkpoint holds, in words (or that there is none)."""
    # The newest file of any ModelCheckpoint; the one without a monitor (last.ckpt) first.
    saved = sorted(trainer.checkpoint_callbacks, key=lambda cb: cb.monitor is not None)
    kept = next((path for cb in saved if (path := cb.last_model_path or cb.best_model_path)), "")
    return _checkpoint_state(kept) if kept else "no checkpoint was saved yet"


def _checkpoint_state(path: str) -> str:
    """Say whether the checkpoint at ``path`` holds only finite weights and statistics.

    The guard keeps non-finite states out of this run's checkpoints, but a resumed run may
    start from a checkpoint written without it.
    """
    from hqnn_pl.run.checkpoint_io import read_checkpoint

    try:
        state = read_checkpoint(Path(path))["state_dict"]
    except ConfigurationError as error:
        return f"the last checkpoint {path} cannot be read: {error}"
    bad = non_finite_entries(state)
    if bad:
        shown = ", ".join(bad[:3]) + (" ..." if len(bad) > 3 else "")
        return f"the last checkpoint {path} already holds non-finite values in {shown}"
    return f"the last checkpoint, {path}, holds finite weights and statistics"
