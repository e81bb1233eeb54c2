"""EpochMetricsCheckpoint: an epoch's train/ row inside its checkpoints, written back on resume."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from hqnn_pl.callbacks.epoch_metrics import CHECKPOINT_KEY
from hqnn_pl.cli import main
from hqnn_pl.experiments.runner import is_finished
from tests.harness import (
    QUICK,
    QUICKSTART,
    epochs_with,
    fit,
    load_checkpoint,
    metrics_rows,
    start_cli,
)

RUN = Path("runs/quickstart/version_0")


def test_the_pending_row_is_none_mid_epoch_and_the_train_metrics_at_its_end(
    tmp_path: Path,
) -> None:
    fit("--test_after_fit=false", "--trainer.max_epochs=2",
        "--trainer.callbacks+=tests.callbacks.helpers.PendingRowProbe")  # fmt: skip
    rows = json.loads((tmp_path / "pending_rows.json").read_text())
    assert rows["first_batch"] == [None, None]  # 1 of 3 batches: nothing to store yet
    logged = {int(row["epoch"]): row for row in metrics_rows(tmp_path / RUN) if row["train/loss"]}
    for epoch, pending in enumerate(rows["epoch_end"]):
        assert (pending["epoch"], pending["step"]) == (epoch, 3 * epoch + 2)
        train = {key for key in pending if key.startswith("train/")}
        assert {"train/loss", "train/acc"} <= train
        assert not any(key.startswith("val/") for key in pending)
        for key in train:  # exactly what Lightning then wrote to metrics.csv
            assert float(logged[epoch][key]) == pending[key], key
    # the epoch-end checkpoint carries the last epoch's row
    assert (
        load_checkpoint(tmp_path / RUN / "checkpoints/last.ckpt")[CHECKPOINT_KEY]
        == (rows["epoch_end"][-1])
    )


def test_a_kill_at_an_epoch_end_keeps_that_epochs_training_row(tmp_path: Path) -> None:
    process = start_cli(
        "fit", "--config", QUICKSTART, *QUICK, "--trainer.max_epochs=3",
        "--trainer.callbacks+=tests.callbacks.helpers.KillAfterLastCheckpoint", cwd=tmp_path,
    )  # fmt: skip
    assert process.wait(timeout=180) == -signal.SIGKILL
    run = tmp_path / RUN
    assert load_checkpoint(run / "checkpoints/last.ckpt")["epoch"] == 1  # saved, then killed
    assert epochs_with(run, "train/loss") == [0]  # epoch 1's row never reached the file
    main(["fit", "--config", str(run / "config.yaml"), *QUICK, "--trainer.max_epochs=3",
          "--ckpt_path=last"])  # fmt: skip
    assert epochs_with(run, "train/loss") == [0, 1, 2]
    assert epochs_with(run, "val/loss") == [0, 1, 2]
    assert is_finished(run)
