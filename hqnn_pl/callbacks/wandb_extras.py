"""WandbExtras: the test confusion matrix and gradient watching for W&B runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from torch import Tensor

from hqnn_pl.callbacks.utils import wandb_guard, wandb_loggers
from hqnn_pl.errors import ConfigurationError

#: W&B's own confusion-matrix chart (the one ``wandb.plot.confusion_matrix`` uses).
CONFUSION_MATRIX_SPEC = "wandb/confusion_matrix/v1"


def confusion_matrix_rows(matrix: Tensor, class_names: list[str]) -> list[list[object]]:
    """Rows ``[actual, predicted, count]`` of a confusion matrix, as W&B's chart expects.

    Args:
        matrix: Counts of shape (C, C); rows are true classes, columns predicted ones.
        class_names: The C class names.

    Returns:
        C * C rows.
    """
    counts = matrix.tolist()
    return [
        [class_names[i], class_names[j], int(counts[i][j])]
        for i in range(len(class_names))
        for j in range(len(class_names))
    ]


class WandbExtras(Callback):
    """What a W&B run gets beyond metrics: the test confusion matrix and, optionally, ``watch``.

    Does nothing without a ``WandbLogger``. After ``test`` it logs the model's
    ``test_confusion_matrix`` as ``test/confusion_matrix`` (W&B's confusion-matrix chart with the
    datamodule's ``class_names``); with ``watch`` set it calls ``wandb.watch`` on the model when
    fitting starts and ``unwatch`` when it ends. The resolved CLI config, the parameter counts
    and the circuit pictures reach W&B through the CLI's config callback, ``ParameterCount`` and
    ``CircuitDrawer``. Rank zero only; a W&B failure is a warning, never a failed run.

    Args:
        watch: What ``wandb.watch`` logs: ``"gradients"``, ``"parameters"`` or ``"all"``
            (histograms every ``watch_log_freq`` steps); None does not watch.
        watch_log_freq: Steps between two ``watch`` histograms.
        confusion_matrix: Log the test confusion matrix.
    """

    def __init__(
        self,
        watch: Literal["gradients", "parameters", "all"] | None = None,
        watch_log_freq: int = 100,
        confusion_matrix: bool = True,
    ) -> None:
        super().__init__()
        if watch_log_freq < 1:
            raise ConfigurationError(
                f"watch_log_freq must be a positive number of steps, got {watch_log_freq}."
            )
        self.watch = watch
        self.watch_log_freq = watch_log_freq
        self.confusion_matrix = confusion_matrix

    def _each_watched(
        self, trainer: Trainer, what: str, action: Callable[[WandbLogger], object]
    ) -> None:
        """Apply ``action`` to every W&B logger inside :func:`wandb_guard` when ``watch`` is set."""
        if self.watch is None:
            return
        for logger in wandb_loggers(trainer):
            with wandb_guard(what):
                action(logger)

    @rank_zero_only
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Start ``wandb.watch`` on the model if asked."""
        self._each_watched(
            trainer,
            "watch the model",
            lambda logger: logger.watch(
                pl_module, log=self.watch, log_freq=self.watch_log_freq, log_graph=False
            ),
        )

    @rank_zero_only
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Remove the ``watch`` hooks."""
        self._each_watched(
            trainer, "unwatch the model", lambda logger: logger.experiment.unwatch(pl_module)
        )

    @rank_zero_only
    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Log the test confusion matrix as W&B's confusion-matrix chart."""
        matrix = getattr(pl_module, "test_confusion_matrix", None)
        if not self.confusion_matrix or matrix is None:
            return
        names = getattr(trainer.datamodule, "class_names", None)
        if not names or len(names) != matrix.shape[0]:
            names = [str(i) for i in range(matrix.shape[0])]
        for logger in wandb_loggers(trainer):
            with wandb_guard("log the confusion matrix"):
                import wandb

                table = wandb.Table(
                    columns=["Actual", "Predicted", "nPredictions"],
                    data=confusion_matrix_rows(matrix, [str(n) for n in names]),
                )
                chart = wandb.plot_table(
                    CONFUSION_MATRIX_SPEC,
                    table,
                    {"Actual": "Actual", "Predicted": "Predicted", "nPredictions": "nPredictions"},
                    {"title": "Test confusion matrix"},
                )
                logger.experiment.log(
                    {"test/confusion_matrix": chart, "trainer/global_step": trainer.global_step}
                )
