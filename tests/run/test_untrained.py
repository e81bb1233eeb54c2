"""A fit that trains no step never reports a result, nor does a comparison count one."""

from __future__ import annotations

from pathlib import Path

import pytest

from hqnn_pl.experiments.runner import is_finished
from tests.harness import QUICK, QUICKSTART, fails_with


@pytest.mark.parametrize(
    "setting",
    ["--trainer.max_epochs=0", "--trainer.limit_train_batches=0", "--trainer.max_steps=0",
     "--trainer.limit_train_batches=0.0"],
)  # fmt: skip
def test_a_fit_that_would_train_nothing_is_refused_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str
) -> None:
    line = fails_with(capsys, 2, "fit", "--config", QUICKSTART, *QUICK, setting)
    assert setting.split("=")[0] in line and "would train no step" in line
    assert not Path("runs").exists()  # nothing ran, nothing was written


def test_a_compared_run_with_test_metrics_but_no_training_is_not_finished(
    tmp_path: Path,
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("epoch,step,test/acc,test/loss\n0,0,0.1,2.3\n")
    assert not is_finished(run)
    (run / "metrics.csv").write_text(
        "epoch,step,test/acc,test/loss,train/loss\n0,9,,,1.5\n0,9,0.8,0.6,\n"
    )
    assert is_finished(run)
