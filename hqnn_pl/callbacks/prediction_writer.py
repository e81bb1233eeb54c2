"""PredictionWriter: what ``hqnn-pl predict`` computed, as a CSV file in the run folder."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from hqnn_pl.callbacks.utils import run_dir
from hqnn_pl.errors import ConfigurationError


class PredictionWriter(BasePredictionWriter):
    """Write the true and predicted class and the class probabilities of every predicted image.

    One row per image, in the order of the predict loader (the test split of the datamodule):
    ``index`` (position in that split), ``label`` and ``label_name`` (the true class, when the
    data is labelled), ``predicted`` and ``predicted_name`` (the model's class) and ``p_<class>``
    probabilities; the share of rows with ``label == predicted`` is the test accuracy. The file
    goes into :attr:`dirpath`: the CLI sets it to the run folder of the checkpoint predicted
    with, so predictions sit next to that run's checkpoints and metrics; without it, into the
    current run folder. Under DDP each rank writes its own file (``predictions.rank<r>.csv``)
    with the indices of its share. The CLI adds this callback to every run; it only acts in
    ``predict``.

    Args:
        filename: Name of the CSV file.
    """

    def __init__(self, filename: str = "predictions.csv") -> None:
        super().__init__(write_interval="epoch")
        if not filename.endswith(".csv"):
            raise ConfigurationError(
                f"PredictionWriter writes CSV: filename {filename!r} ends not in .csv."
            )
        self.filename = filename
        self.dirpath: Path | None = None

    def write_on_epoch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        predictions: Sequence[Any],
        batch_indices: Sequence[Any],
    ) -> None:
        """Write this rank's predictions once the predict loop has finished."""
        del pl_module
        if predictions and isinstance(predictions[0], list):  # several dataloaders: the first
            predictions, batch_indices = predictions[0], batch_indices[0]
        if not predictions:
            return
        labelled = all(isinstance(batch, dict) for batch in predictions)
        probabilities = torch.cat(
            [_probabilities(batch).detach().float().cpu() for batch in predictions]
        )
        labels = torch.cat([b["labels"].cpu() for b in predictions]).tolist() if labelled else []
        indices = _flatten(batch_indices)
        if len(indices) != len(probabilities):
            indices = list(range(len(probabilities)))
        names = list(getattr(trainer.datamodule, "class_names", None) or [])
        if len(names) != probabilities.shape[1]:
            names = [str(c) for c in range(probabilities.shape[1])]
        stem = self.filename.removesuffix(".csv")
        name = self.filename if trainer.world_size == 1 else f"{stem}.rank{trainer.global_rank}.csv"
        path = (self.dirpath or run_dir(trainer)) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        predicted = probabilities.argmax(dim=1).tolist()
        truth = ["label", "label_name"] if labelled else []
        with path.open("w", newline="") as file:
            writer = csv.writer(file)
            header = ["index", *truth, "predicted", "predicted_name"]
            writer.writerow([*header, *(f"p_{n}" for n in names)])
            for row, (index, cls, p) in enumerate(
                zip(indices, predicted, probabilities.tolist(), strict=True)
            ):
                true = [labels[row], names[labels[row]]] if labelled else []
                writer.writerow([index, *true, cls, names[cls], *(f"{q:.6g}" for q in p)])
        accuracy = ""
        if labelled:
            correct = sum(a == b for a, b in zip(labels, predicted, strict=True))
            accuracy = f", accuracy {correct / len(labels):.4f}"
        rank_zero_info(f"Wrote {len(predicted)} predictions to {path}{accuracy}")


def _probabilities(batch: Any) -> Tensor:
    return batch["probabilities"] if isinstance(batch, dict) else batch


def _flatten(nested: Any) -> list[int]:
    """Sample indices from Lightning's (per dataloader, per batch) nesting."""
    if isinstance(nested, int | torch.Tensor):
        return [int(nested)]
    return [index for item in nested for index in _flatten(item)]
