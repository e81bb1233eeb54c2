"""ExceptionCheckpoint: a resumable checkpoint when a run dies of an exception or SIGTERM."""

from __future__ import annotations

import os
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from lightning.pytorch.utilities.exceptions import SIGTERMException

from hqnn_pl.callbacks.utils import run_dir
from hqnn_pl.errors import ConfigurationError, NonFiniteLossError


class ExceptionCheckpoint(Callback):
    """Save a resumable checkpoint when fitting stops on an exception, SIGTERM or Ctrl-C.

    Like Lightning's ``OnExceptionCheckpoint``, but it finds the run's checkpoint folder by
    itself and does not make every later ``fit`` resume implicitly. When fitting stops on an
    exception (including ``KeyboardInterrupt`` and the SIGTERM a cluster sends on pre-emption,
    which Lightning turns into an exception after the current batch), the training state is
    saved as ``on_exception.ckpt`` next to ``last.ckpt`` (not after a non-finite loss, whose
    weights may be NaN: :class:`~hqnn_pl.callbacks.FiniteLossGuard`); ``--ckpt_path last``
    takes the newer of the two. Nothing is saved unless this fit took an optimisation step, so
    a run that fails while starting (a bad setting, a mismatched checkpoint) never replaces a
    good checkpoint. The file is deleted when a later fit in the same folder completes. The CLI
    adds this callback to every run.

    Args:
        dirpath: Folder of the checkpoint; None uses the ``ModelCheckpoint``'s folder (or
            ``<run folder>/checkpoints``).
        filename: Checkpoint name without ``.ckpt``.
    """

    FILE_EXTENSION = ".ckpt"

    def __init__(self, dirpath: str | None = None, filename: str = "on_exception") -> None:
        super().__init__()
        if not filename:
            raise ConfigurationError("ExceptionCheckpoint needs a filename, e.g. on_exception.")
        self.dirpath = dirpath
        self.filename = filename
        self._given_dirpath = dirpath
        self._start_step: int | None = None
        self.saved_path: str | None = None
        #: The type of the exception that stopped fitting (``KeyboardInterrupt`` for Ctrl-C).
        self.stopped_by: type[BaseException] | None = None

    @property
    def ckpt_path(self) -> str | None:
        """Path of the checkpoint; None until the run's folder is known."""
        if not self.dirpath:
            return None
        return os.path.join(self.dirpath, self.filename + self.FILE_EXTENSION)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Resolve the folder: the given one, the ModelCheckpoint's, or the run's checkpoints."""
        del pl_module, stage
        if self._given_dirpath:
            return
        callback = trainer.checkpoint_callback
        dirpath = getattr(callback, "dirpath", None) if callback is not None else None
        self.dirpath = str(dirpath) if dirpath else str(run_dir(trainer) / "checkpoints")

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Remember the step training (re)started from."""
        del pl_module
        self._start_step = trainer.global_step

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Fitting is over: a later exception (e.g. in the test after fit) saves nothing."""
        del trainer, pl_module
        self._start_step = None

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: Any) -> None:
        """Save the training state if this fit took at least one optimisation step.

        Under DDP, saving is collective (it ends in a barrier), so it is only attempted for
        interruptions every rank sees (SIGTERM, Ctrl-C); an exception on one rank would leave the
        others waiting in their all-reduce and the barrier would hang the run.
        """
        del pl_module
        self.stopped_by = type(exception)
        path = self.ckpt_path
        if path is None or self._start_step is None or trainer.global_step <= self._start_step:
            return
        if isinstance(exception, NonFiniteLossError):  # the weights may already be NaN
            return
        if trainer.world_size > 1 and not isinstance(
            exception, KeyboardInterrupt | SIGTERMException
        ):
            rank_zero_warn(
                f"No {self.filename}.ckpt: {type(exception).__name__} may have stopped one DDP "
                "rank only, and saving needs all of them. Resume from last.ckpt."
            )
            return
        trainer.save_checkpoint(path)
        self.saved_path = path
        rank_zero_info(f"Saved a resumable checkpoint at step {trainer.global_step}: {path}")

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """After a completed fit, remove the file left by an earlier interruption."""
        del pl_module
        path = self.ckpt_path
        if stage == "fit" and path and trainer.is_global_zero and os.path.exists(path):
            trainer.strategy.remove_checkpoint(path)
