"""``hqnn-pl predict``: true labels next to predictions, in the run folder, never untrained."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hqnn_pl.cli import main
from tests.harness import QUICKSTART, fit

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


@pytest.mark.parametrize("subcommand", ["predict", "test", "validate"])
def test_evaluating_without_a_checkpoint_is_refused(
    subcommand: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as failed:
        main([subcommand, "--config", QUICKSTART])
    assert failed.value.code == 2
    err = capsys.readouterr().err
    assert "--ckpt_path" in err and "--allow_untrained" in err
    assert not Path("runs").exists()


def test_untrained_predictions_on_purpose(tmp_path: Path) -> None:
    main(
        [
            "predict", "--config", QUICKSTART, "--allow_untrained=true",
            "--trainer.limit_predict_batches=1", "--trainer.enable_progress_bar=false",
        ]
    )  # fmt: skip
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open()))
    assert len(rows) == 32 and "label" in rows[0]
