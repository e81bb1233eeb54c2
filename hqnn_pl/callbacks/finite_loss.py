"""FiniteLossGuard: stop at the first NaN or infinite training loss instead of reporting it."""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor

from hqnn_pl.errors import ConfigurationError, NonFiniteLossError


class FiniteLossGuard(Callback):
    """Stop training at the first non-finite training loss, before it reaches the weights.

    The check runs before the backward pass of every training step, so the optimiser never
    applies the step that produced the NaN, and the epoch never ends: no ``last.ckpt`` or best
    checkpoint is written from it, and the checkpoints of earlier, finite epochs stay as they
    were (:class:`~hqnn_pl.callbacks.ExceptionCheckpoint` saves nothing for this error). The run
    then ends with :class:`~hqnn_pl.errors.NonFiniteLossError` naming the epoch and step, so
    ``hqnn-pl`` exits with a non-zero status and sweeps or comparisons record a failed run, not
    a result. Under DDP every rank learns of a NaN on any rank (one all-reduce per step), so all
    stop together. The CLI adds this callback to every run.
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
        # The newest file of any ModelCheckpoint; the one without a monitor (last.ckpt) first.
        saved = sorted(trainer.checkpoint_callbacks, key=lambda cb: cb.monitor is not None)
        kept = next(
            (path for cb in saved if (path := cb.last_model_path or cb.best_model_path)), ""
        )
        where = _checkpoint_state(kept) if kept else "no checkpoint was saved yet"
        raise NonFiniteLossError(
            f"the training loss is {float(loss.detach().float().mean()):g} at epoch "
            f"{trainer.current_epoch}, step {trainer.global_step} ({where}). Lower the learning "
            "rate (model.init_args.optimizer.init_args.lr), clip gradients "
            "(--trainer.gradient_clip_val) or check the data for NaNs."
        )


def _checkpoint_state(path: str) -> str:
    """Say whether the checkpoint at ``path`` holds only finite weights and statistics.

    A loss can stay finite while activations overflow, so a checkpoint saved before the first
    non-finite loss may already hold infinite or NaN BatchNorm statistics.
    """
    from hqnn_pl.run.checkpoint_io import read_checkpoint

    try:
        state = read_checkpoint(Path(path))["state_dict"]
    except ConfigurationError as error:
        return f"the last checkpoint {path} cannot be read: {error}"
    bad = [
        name
        for name, value in state.items()
        if isinstance(value, Tensor)
        and value.is_floating_point()
        and not bool(torch.isfinite(value).all())
    ]
    if bad:
        shown = ", ".join(bad[:3]) + (" ..." if len(bad) > 3 else "")
        return f"the last checkpoint {path} already holds non-finite values in {shown}"
    return f"the last checkpoint, {path}, holds finite weights and statistics"
