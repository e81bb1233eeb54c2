from __future__ import annotations

import subprocess
import sys

from tests.conftest import CONFIGS, REPO


def test_multi_seed_table_on_real_digits(tmp_path) -> None:
    result = subprocess.run(
        [
            sys.executable, str(REPO / "benchmarks" / "multi_seed.py"),
            "--config", str(CONFIGS / "quickstart.yaml"),
            "--seeds", "2", "--parallel", "2", "--out", str(tmp_path),
            "--", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "5",
        ],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    header, _rule, row = result.stdout.splitlines()[:3]
    assert header.startswith("| config | seeds | test/acc |")
    name, seeds, acc = (cell.strip() for cell in row.strip("|").split("|")[:3])
    assert (name, seeds) == ("quickstart", "2")
    mean, std = (float(v) for v in acc.split("+-"))
    assert 0.0 < mean <= 1.0 and std >= 0.0
    assert len(list(tmp_path.glob("quickstart/seed_*/**/metrics.csv"))) == 2
