"""PredictionWriter: true labels next to predictions and probabilities, as CSV in the run folder."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from hqnn_pl.callbacks import PredictionWriter
from hqnn_pl.cli import main
from hqnn_pl.errors import ConfigurationError
from tests.harness import fit

RUN = Path("runs/quickstart/version_0")


def test_predictions_hold_true_labels_and_match_test_accuracy(tmp_path: Path) -> None:
    fit("--test_after_fit=false", "--trainer.limit_train_batches=20", "--trainer.max_epochs=2")
    config, last = str(RUN / "config.yaml"), str(RUN / "checkpoints/last.ckpt")
    everything = "--trainer.limit_test_batches=1.0"  # the fit's config tested one batch
    main(["test", "--config", config, "--ckpt_path", last, everything])
    tested = next(Path("runs/quickstart").glob("version_1/metrics.csv"))
    test_acc = float(next(r["test/acc"] for r in csv.DictReader(tested.open()) if r["test/acc"]))
    quiet = "--trainer.enable_progress_bar=false"
    main(["predict", "--config", config, "--ckpt_path", last, quiet])
    rows = list(csv.DictReader((RUN / "predictions.csv").open()))
    assert len(rows) == 360  # the digits' test split, all of it
    labels = [int(row["label"]) for row in rows]
    predicted = [int(row["predicted"]) for row in rows]
    assert sorted(set(labels)) == list(range(10))  # the truth, not a copy of the prediction
    assert labels != predicted or test_acc == 1.0
    accuracy = sum(a == b for a, b in zip(labels, predicted, strict=True)) / len(rows)
    assert accuracy == pytest.approx(test_acc, abs=1e-6)
    assert all(row["label_name"] == row["label"] for row in rows)  # digits are named by value
    # predict made no run folder of its own: only the fit and the test exist
    assert sorted(p.name for p in Path("runs/quickstart").iterdir()) == ["version_0", "version_1"]


def test_rows_follow_the_batches_with_named_classes_and_probabilities(tmp_path: Path) -> None:
    writer = PredictionWriter(filename="out.csv")
    writer.dirpath = tmp_path / "run"
    trainer = SimpleNamespace(
        world_size=1, global_rank=0, datamodule=SimpleNamespace(class_names=["cat", "dog"])
    )
    batches = [
        {"probabilities": torch.tensor([[0.9, 0.1], [0.2, 0.8]]), "labels": torch.tensor([0, 0])},
        {"probabilities": torch.tensor([[0.3, 0.7]]), "labels": torch.tensor([1])},
    ]
    writer.write_on_epoch_end(trainer, None, batches, [[[4, 5], [6]]])  # type: ignore[arg-type]
    rows = list(csv.DictReader((tmp_path / "run/out.csv").open()))
    assert [r["index"] for r in rows] == ["4", "5", "6"]
    assert [(r["label_name"], r["predicted_name"]) for r in rows] == [
        ("cat", "cat"), ("cat", "dog"), ("dog", "dog")
    ]  # fmt: skip
    assert (rows[1]["p_cat"], rows[1]["p_dog"]) == ("0.2", "0.8")


def test_unlabelled_predictions_have_no_truth_columns(tmp_path: Path) -> None:
    writer = PredictionWriter()
    writer.dirpath = tmp_path
    trainer = SimpleNamespace(world_size=1, global_rank=0, datamodule=None)
    unlabelled = [torch.tensor([[0.6, 0.4]])]  # bare probabilities: no truth columns
    writer.write_on_epoch_end(trainer, None, unlabelled, [[[0]]])  # type: ignore[arg-type]
    (row,) = csv.DictReader((tmp_path / "predictions.csv").open())
    assert list(row) == ["index", "predicted", "predicted_name", "p_0", "p_1"]


def test_the_file_must_be_csv() -> None:
    with pytest.raises(ConfigurationError, match="writes CSV"):
        PredictionWriter(filename="predictions.json")
