"""EpochTimer: ``time/epoch_s``, the seconds of every training epoch, in its metrics row."""

from __future__ import annotations

import time
from pathlib import Path

from tests.harness import epochs_with, fit, metrics_rows

RUN = Path("runs/quickstart/version_0")


def test_every_epoch_logs_its_positive_wall_time(tmp_path: Path) -> None:
    started = time.perf_counter()
    fit("--test_after_fit=false", "--trainer.max_epochs=2",
        "--trainer.callbacks+=hqnn_pl.callbacks.EpochTimer")  # fmt: skip
    elapsed = time.perf_counter() - started
    run = tmp_path / RUN
    assert epochs_with(run, "time/epoch_s") == [0, 1]  # one value per epoch, no step rows
    seconds = [float(row["time/epoch_s"]) for row in metrics_rows(run) if row["time/epoch_s"]]
    assert all(0 < s < elapsed for s in seconds), (seconds, elapsed)
    assert sum(seconds) < elapsed


def test_no_timer_no_column(tmp_path: Path) -> None:
    fit("--test_after_fit=false")
    assert "time/epoch_s" not in metrics_rows(tmp_path / RUN)[0]
