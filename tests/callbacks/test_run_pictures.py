"""RunPictures: curves.png every epoch, confusion_matrix.{png,csv} after test."""

import csv
from pathlib import Path

import matplotlib.pyplot as plt

from hqnn_pl.callbacks import RunPictures
from tests.harness import fit

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_every_run_leaves_curves_and_confusion_matrix(tmp_path: Path) -> None:
    fit("--trainer.max_epochs=2")
    run = tmp_path / "runs/quickstart/version_0"
    assert (run / "curves.png").read_bytes()[:8] == PNG_MAGIC
    assert (run / "confusion_matrix.png").read_bytes()[:8] == PNG_MAGIC
    rows = list(csv.reader((run / "confusion_matrix.csv").open()))
    assert rows[0][1:] == [str(i) for i in range(10)] and len(rows) == 11
    assert sum(int(v) for row in rows[1:] for v in row[1:]) > 0
    assert plt.get_fignums() == []


def test_curves_history_survives_a_checkpoint(tmp_path: Path) -> None:
    pictures = RunPictures()
    pictures.history = {0: {"train/loss": 2.0, "val/acc": 0.5}, 1: {"train/loss": 1.0}}
    restored = RunPictures()
    restored.load_state_dict(pictures.state_dict())
    assert restored.history == pictures.history
    assert restored.draw_curves(tmp_path / "curves.png").read_bytes()[:8] == PNG_MAGIC
    assert plt.get_fignums() == []
