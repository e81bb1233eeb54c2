"""EpochTimer: the wall time of every training epoch, logged next to the epoch's metrics."""

from __future__ import annotations

import time

from lightning.pytorch import Callback, LightningModule, Trainer


class EpochTimer(Callback):
    """Log ``time/epoch_s``: seconds from the start of a training epoch to its end.

    The time includes the epoch's validation (Lightning validates before the epoch ends) and is
    logged once per epoch, so ``metrics.csv`` holds it in the epoch's row. An epoch resumed from
    a mid-epoch checkpoint logs the time of its remaining steps only. ``hqnn-pl-compare``
    adds it to every run it starts and reports the mean seconds per epoch.

    From YAML::

        trainer:
          callbacks:
            - class_path: hqnn_pl.callbacks.EpochTimer
    """

    #: When the running epoch started (``time.perf_counter``), None between epochs.
    _start: float | None = None

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start the clock."""
        del trainer, pl_module
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Log the seconds since the epoch started."""
        del trainer
        if self._start is None:
            return
        elapsed = time.perf_counter() - self._start
        pl_module.log("time/epoch_s", elapsed, on_step=False, on_epoch=True, sync_dist=False)
        self._start = None
