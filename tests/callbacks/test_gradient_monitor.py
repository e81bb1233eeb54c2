"""GradientMonitor: ``grad/<layer>/{mean,var,norm}`` per epoch, quantum layers apart."""

from __future__ import annotations

import math
from pathlib import Path

from hqnn_pl.callbacks import GradientMonitor
from tests.harness import epochs_with, fit, metrics_rows

RUN = Path("runs/quickstart/version_0")


def test_every_epoch_logs_the_gradient_statistics_of_each_group(tmp_path: Path) -> None:
    fit("--test_after_fit=false", "--trainer.max_epochs=2",
        "--trainer.callbacks+=hqnn_pl.callbacks.GradientMonitor")  # fmt: skip
    run = tmp_path / RUN
    columns = [f"grad/{g}/{s}" for g in ("network.middle", "classical") for s in GRAD_STATS]
    for column in columns:
        assert epochs_with(run, column) == [0, 1], column  # one value per epoch
    for row in (r for r in metrics_rows(run) if r["grad/classical/norm"]):
        values = {column: float(row[column]) for column in columns}
        assert all(math.isfinite(v) for v in values.values()), values
        for group in ("network.middle", "classical"):
            assert values[f"grad/{group}/norm"] > 0  # gradients reached both kinds of weights
            assert values[f"grad/{group}/var"] >= 0
    header = metrics_rows(run)[0]
    assert sorted(key for key in header if key.startswith("grad/")) == sorted(columns)


GRAD_STATS = ("mean", "var", "norm")


def test_gradient_monitor_separates_quantum_and_classical_parameters() -> None:
    from hqnn_pl.models import HQNNParallel

    model = HQNNParallel(num_classes=10, in_channels=1, image_size=16)
    groups = GradientMonitor.groups(model)
    assert list(groups) == ["network.middle", "classical"]
    assert sum(p.numel() for p in groups["network.middle"]) == 4 * 3 * 5 * 3
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert sum(p.numel() for params in groups.values() for p in params) == total
