"""RunPictures: the pictures every run leaves in its folder (curves and confusion matrix)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn

from hqnn_pl.callbacks.utils import run_dir
from hqnn_pl.errors import ConfigurationError
from hqnn_pl.run.files import atomic_path

#: The epoch metrics drawn in ``curves.png``: (panel, split, metric key).
CURVES = (
    ("loss", "train", "train/loss"),
    ("loss", "val", "val/loss"),
    ("accuracy", "train", "train/acc"),
    ("accuracy", "val", "val/acc"),
)


class RunPictures(Callback):
    """Write ``curves.png`` every epoch and ``confusion_matrix.{png,csv}`` after testing.

    ``curves.png`` shows the train and validation loss and accuracy per epoch (the epoch means
    the model logs as ``train/loss``, ``val/acc``, ...), redrawn at the end of every training
    epoch; the history is kept in checkpoints, so a resumed run continues its curves. After
    ``test``, the model's ``test_confusion_matrix`` (rows: true class, columns: predicted) is
    written as a CSV with class names and as a labelled heat map. Rank zero only; a picture that
    fails is a warning, never a failed run. The CLI adds this callback to every run.

    Args:
        dpi: Resolution of the PNG files.
    """

    def __init__(self, dpi: int = 120) -> None:
        super().__init__()
        self.dpi = dpi
        self.history: dict[int, dict[str, float]] = {}

    def state_dict(self) -> dict[str, Any]:
        """The per-epoch history, saved in checkpoints."""
        return {"history": {str(k): v for k, v in self.history.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the history of a resumed run."""
        self.history = {int(k): dict(v) for k, v in state_dict.get("history", {}).items()}

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Record this epoch's means and redraw ``curves.png``."""
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        row = {key: float(metrics[key]) for _, _, key in CURVES if key in metrics}
        if row:
            self.history[trainer.current_epoch] = row
            self._draw_curves(trainer)

    @rank_zero_only
    def _draw_curves(self, trainer: Trainer) -> None:
        try:
            self.draw_curves(run_dir(trainer) / "curves.png")
        except ConfigurationError:  # a full disk: the run's files are at risk, not only this
            raise
        except Exception as error:  # otherwise a picture must never fail a run
            rank_zero_warn(f"RunPictures: could not draw curves.png ({error}).")

    def draw_curves(self, path: Path) -> Path:
        """Draw the recorded history.

        Args:
            path: PNG to write (its folder is created).

        Returns:
            ``path``.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path.parent.mkdir(parents=True, exist_ok=True)
        epochs = sorted(self.history)
        figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
        panels = {"loss": axes[0], "accuracy": axes[1]}
        for panel, split, key in CURVES:
            points = [(e, self.history[e][key]) for e in epochs if key in self.history[e]]
            if points:
                x, y = zip(*points, strict=True)
                panels[panel].plot(x, y, marker="o", markersize=3, label=split)
        for panel, axis in panels.items():
            axis.set_xlabel("epoch")
            axis.set_ylabel(panel)
            if axis.lines:
                axis.legend(fontsize=8)
        try:
            with atomic_path(path, f"draw {path.name}") as partial:
                figure.savefig(partial, dpi=self.dpi, bbox_inches="tight")
        finally:
            plt.close(figure)
        return path

    @rank_zero_only
    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Write the test confusion matrix as CSV and PNG."""
        matrix = getattr(pl_module, "test_confusion_matrix", None)
        if matrix is None:
            return
        names = getattr(trainer.datamodule, "class_names", None) if trainer.datamodule else None
        if not names or len(names) != matrix.shape[0]:
            names = [str(i) for i in range(matrix.shape[0])]
        try:
            self.write_confusion_matrix(matrix.tolist(), [str(n) for n in names], run_dir(trainer))
        except ConfigurationError:  # a full disk
            raise
        except Exception as error:
            rank_zero_warn(f"RunPictures: could not write the confusion matrix ({error}).")

    def write_confusion_matrix(
        self, matrix: list[list[int]], names: list[str], folder: Path
    ) -> tuple[Path, Path]:
        """Write ``confusion_matrix.csv`` and ``confusion_matrix.png`` into ``folder``.

        Args:
            matrix: Counts, rows true class, columns predicted class.
            names: Class names.
            folder: Output folder (created).

        Returns:
            The CSV and PNG paths.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        folder.mkdir(parents=True, exist_ok=True)
        csv_path = folder / "confusion_matrix.csv"
        with (
            atomic_path(csv_path, "write confusion_matrix.csv") as partial,
            partial.open("w", newline="") as handle,
        ):
            writer = csv.writer(handle)
            writer.writerow(["true \\ predicted", *names])
            for name, row in zip(names, matrix, strict=True):
                writer.writerow([name, *(int(v) for v in row)])
        size = max(4.0, 0.45 * len(names) + 2)
        figure, axis = plt.subplots(figsize=(size, size))
        image = axis.imshow(matrix, cmap="Blues")
        figure.colorbar(image, ax=axis, fraction=0.046)
        ticks = range(len(names))
        axis.set_xticks(ticks, names, rotation=90 if len(names) > 10 else 0)
        axis.set_yticks(ticks, names)
        axis.set_xlabel("predicted")
        axis.set_ylabel("true")
        if len(names) <= 20:
            peak = max(max(row) for row in matrix) or 1
            for i, row in enumerate(matrix):
                for j, value in enumerate(row):
                    colour = "white" if value > peak / 2 else "black"
                    axis.text(
                        j, i, str(int(value)), ha="center", va="center", fontsize=7, color=colour
                    )
        total = sum(map(sum, matrix)) or 1
        correct = sum(matrix[i][i] for i in ticks)
        axis.set_title(f"test confusion matrix (accuracy {correct / total:.4f})", fontsize=9)
        png_path = folder / "confusion_matrix.png"
        try:
            with atomic_path(png_path, "draw confusion_matrix.png") as partial:
                figure.savefig(partial, dpi=self.dpi, bbox_inches="tight")
        finally:
            plt.close(figure)
        return csv_path, png_path
