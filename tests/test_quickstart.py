"""The offline quickstart really learns the real scikit-learn digits."""

from __future__ import annotations

import csv
from pathlib import Path

from hqnn_pl.cli import main
from tests.conftest import CONFIGS


def test_quickstart_learns_real_digits(tmp_path: Path) -> None:
    main(
        [
            "fit",
            "--config",
            str(CONFIGS / "quickstart.yaml"),
            "--trainer.max_epochs",
            "3",
            "--trainer.enable_progress_bar",
            "false",
        ]
    )
    rows = list(csv.DictReader((tmp_path / "runs/quickstart/version_0/metrics.csv").open()))
    test_acc = [float(row["test/acc"]) for row in rows if row.get("test/acc")]
    # Chance is 10%. Measured: 96.7% after 3 epochs (2-core CPU, seed 42); the bar leaves headroom.
    assert test_acc and test_acc[-1] > 0.80
