"""hqnn-pl-compare survives a kill and reports failed runs while summarising the rest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hqnn_pl.experiments.runner import is_finished, is_locked
from tests.conftest import REPO
from tests.data.idx import make_idx_dataset
from tests.experiments.helpers import CNN, HQNN, compare, write_config


def _wait(condition, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.slow  # three tool runs and four training processes: about a minute on a quiet machine
def test_killed_comparison_resumes_without_redoing_finished_seeds(tmp_path: Path) -> None:
    config = write_config(tmp_path, "hqnn", HQNN.format(block="trained"))
    args = ["--config", config, "--seeds", "2", "--out", "out", "--",
            "--trainer.max_epochs", "6"]  # fmt: skip
    seed0, seed1 = (tmp_path / "out" / "runs" / "hqnn" / f"seed_{s}" for s in (0, 1))
    tool = subprocess.Popen(
        [sys.executable, "-m", "hqnn_pl.experiments", *args],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
    )
    try:
        _wait(lambda: (seed1 / "checkpoints" / "last.ckpt").is_file(), 900, "seed 1's epoch")
        tool.kill()  # SIGKILL: no chance to clean up
        tool.wait(10)
    finally:
        if tool.poll() is None:
            tool.kill()
    assert is_finished(seed0) and not is_finished(seed1)
    # The training child dies with the tool (and checkpoints) rather than living on.
    _wait(lambda: not is_locked(seed1), 300, "the orphaned run to stop")
    finished_metrics = (seed0 / "metrics.csv").read_bytes()
    mtime = (seed0 / "metrics.csv").stat().st_mtime_ns
    rerun = compare(*args, cwd=tmp_path, timeout=1800)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "1 of 2 runs finished before: skipped." in rerun.stdout
    assert "hqnn seed 1: resuming from" in rerun.stdout
    assert (seed0 / "metrics.csv").read_bytes() == finished_metrics
    assert (seed0 / "metrics.csv").stat().st_mtime_ns == mtime
    assert len(json.loads((seed0 / "compare_run.json").read_text())["attempts"]) == 1
    attempts = json.loads((seed1 / "compare_run.json").read_text())["attempts"]
    assert attempts[-1]["resumed_from"] is not None and attempts[-1]["returncode"] == 0
    assert is_finished(seed1)
    epochs = {
        line.split(",")[0]
        for line in (seed1 / "metrics.csv").read_text().splitlines()[1:]
    }  # fmt: skip
    assert len((seed1 / "metrics.csv").read_text().splitlines()) > 6 and epochs
    assert "| hqnn | HQNNParallel | 2/2 |" in rerun.stdout


def test_failed_config_is_reported_and_the_rest_summarised(tmp_path: Path) -> None:
    make_idx_dataset(tmp_path / "mnist", n_train=60, n_test=20)
    data = "data:\n  class_path: MNISTDataModule\n  init_args:\n    data_dir: {}\n"
    good = write_config(tmp_path, "good", CNN, data=data.format(tmp_path / "mnist"))
    bad = write_config(tmp_path, "missing", CNN, data=data.format(tmp_path / "nowhere"))
    result = compare(
        "--config", good, bad, "--seeds", "2", "--parallel", "2", "--out", "out", "--",
        "--trainer.max_epochs", "1", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert (
        "4 runs in" in result.stdout and "2 done" in result.stdout and "2 failed" in result.stdout
    )
    assert "FAILED missing seed 0" in result.stdout
    report = (tmp_path / "out" / "results.md").read_text()
    assert "| good | CNN | 2/2 |" in report
    assert "| missing | CNN | 0/2 |" in report
    assert "- missing seed 1: failed (see `out/runs/missing/seed_1/log.txt`)" in report
    log = (tmp_path / "out/runs/missing/seed_0/log.txt").read_text()
    assert "nowhere" in log
