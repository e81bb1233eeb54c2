"""EpochMetricsCheckpoint: an epoch's training metrics travel inside its checkpoint."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn

#: Key of the pending row in a checkpoint.
CHECKPOINT_KEY = "hqnn_pl_train_epoch_metrics"


class EpochMetricsCheckpoint(Callback):
    """Store the finished epoch's training metrics in every checkpoint saved at its end.

    Lightning saves a run's epoch-end checkpoints (``last.ckpt``, the best) before it logs that
    epoch's ``train/`` means, so a run killed between the two would resume after an epoch
    whose training row never reached ``metrics.csv``. This callback puts that row (the values
    Lightning is about to log, with their ``epoch`` and ``step``) into the checkpoint; when the
    CLI resumes from it, the row is written if ``metrics.csv`` lacks it
    (:func:`hqnn_pl.run.continuing.keep_csv_metrics`). Checkpoints saved mid-epoch store nothing.
    The CLI adds this callback to every run.
    """

    def on_save_checkpoint(
        self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """Add the epoch's training row when every training batch of the epoch has run."""
        del pl_module
        row = pending_train_row(trainer)
        if row is not None:
            checkpoint[CHECKPOINT_KEY] = row


def pending_train_row(trainer: Trainer) -> dict[str, Any] | None:
    """The training metrics Lightning will log at the end of this epoch, or None mid-epoch.

    Args:
        trainer: A trainer inside ``fit``.

    Returns:
        ``{"epoch": e, "step": s, "train/loss": ..., ...}`` as the CSV logger will write it.
    """
    if trainer.state.fn != TrainerFn.FITTING:
        return None
    epoch_loop = trainer.fit_loop.epoch_loop
    if not trainer.num_training_batches or (
        epoch_loop.batch_progress.current.ready < trainer.num_training_batches
    ):
        return None
    # Lightning's own record of the epoch's logged values (lightning < 3, pinned).
    results = getattr(epoch_loop, "_results", None)
    if results is None:
        return None
    logged = results.metrics(False)["log"]
    if not logged:
        return None
    row: dict[str, Any] = {key: float(value) for key, value in logged.items()}
    row["epoch"] = trainer.current_epoch
    row["step"] = trainer.global_step - 1  # the step Lightning logs epoch-end rows at
    return row
