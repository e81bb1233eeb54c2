from __future__ import annotations

import json
from pathlib import Path

import pytest

from hqnn_pl.experiments.collect import read_run

METRICS = """epoch,step,time/epoch_s,train/loss,val/acc,test/acc,test/loss
0,9,2.0,1.5,,,
0,9,,,0.5,,
1,19,4.0,1.0,,,
1,19,,,0.7,,
1,19,,,,0.75,0.6
"""


def _attempt(folder: Path, returncode: int) -> None:
    (folder / "compare_run.json").write_text(
        json.dumps({"attempts": [{"returncode": returncode, "seconds": 3.0, "threads": 1}]})
    )


def test_a_run_folder_is_read_into_curves_tests_and_timing(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_text(METRICS)
    _attempt(tmp_path, 0)
    run = read_run("x", 0, tmp_path)
    assert run.status == "finished"
    assert run.test == {"test/acc": 0.75, "test/loss": 0.6}
    assert run.curves["train/loss"] == {0: 1.5, 1: 1.0}
    assert run.curves["val/acc"] == {0: 0.5, 1: 0.7}
    assert run.epoch_seconds == pytest.approx(3.0)
    assert (run.wall_seconds, run.threads) == (3.0, 1)


@pytest.mark.parametrize(("returncode", "status"), [(143, "interrupted"), (2, "failed")])
def test_unfinished_runs_say_why(tmp_path: Path, returncode: int, status: str) -> None:
    (tmp_path / "metrics.csv").write_text(METRICS.rsplit("1,19,,,,", 1)[0])
    _attempt(tmp_path, returncode)
    assert read_run("x", 0, tmp_path).status == status
    assert read_run("x", 0, tmp_path / "missing").status == "not started"


def test_progress_lines_of_parallel_runs_never_interleave(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sys
    import threading

    from hqnn_pl.experiments.runner import Runner

    runner = Runner([], [], parallel=4, threads=1)
    threads = [
        threading.Thread(
            target=lambda i=i: [runner.report(f"run {i} line {k}") for k in range(500)]
        )
        for i in range(4)
    ]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, as a busy machine does
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2000 and all(line.count("run ") == 1 for line in lines)


def test_seconds_per_epoch_is_the_median_over_seeds() -> None:
    import math

    from hqnn_pl.experiments.collect import RunResult
    from hqnn_pl.experiments.report import median_epoch_seconds

    def run(seed: int, seconds: float) -> RunResult:
        return RunResult("a", seed, Path("."), True, epoch_seconds=seconds)

    # one run slowed 10x by other jobs does not drag the figure; unlogged runs are skipped
    runs = [run(0, 40.0), run(1, 438.0), run(2, 50.0), run(3, math.nan)]
    assert median_epoch_seconds(runs) == 50.0
    assert median_epoch_seconds([run(0, math.nan)]) is None
