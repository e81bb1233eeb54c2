"""A new run's output: no false warnings, no advertising, real warnings kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.harness import QUICK, QUICKSTART, subprocess_env


def test_a_new_run_prints_no_false_warning_and_no_tips(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "hqnn_pl", "fit", "--config", QUICKSTART, *QUICK,
         "--test_after_fit=false"],
        cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "exists and is not empty" not in output
    assert "Tip:" not in output and "litlogger" not in output
    assert "LeafSpec" not in output
    # a real warning stays visible: 3 batches are fewer than the logging interval of 10
    assert "smaller than the logging interval" in output
