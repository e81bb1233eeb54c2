from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import CONFIGS, REPO


def test_multi_seed_is_the_compare_tool(tmp_path) -> None:
    result = subprocess.run(
        [
            sys.executable, str(REPO / "benchmarks" / "multi_seed.py"),
            "--config", str(CONFIGS / "quickstart.yaml"), str(CONFIGS / "quickstart.yaml"),
            "--seeds", "2", "--out", str(tmp_path / "out"), "--plan-only",
        ],
        capture_output=True, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    # Same options and refusals as hqnn-pl-compare: one config twice is an error.
    assert result.returncode == 2
    config = CONFIGS / "quickstart.yaml"
    assert result.stderr.strip() == (
        f"hqnn-pl-compare: error: The same config is given twice ({config}): give each config once."
    )
