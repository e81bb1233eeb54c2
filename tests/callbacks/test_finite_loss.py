"""FiniteLossGuard: a NaN loss, weight or statistic stops the run before it is saved."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.harness import QUICK, QUICKSTART, fails_with, load_checkpoint, subprocess_env

RUNS = Path("runs/quickstart")
LR = "--model.init_args.optimizer.init_args.lr"


def test_a_nan_loss_stops_the_run_with_the_last_finite_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    poison = "--trainer.callbacks+=tests.callbacks.helpers.PoisonWeights"
    line = fails_with(
        capsys, 1, "fit", "--config", QUICKSTART, *QUICK, "--trainer.max_epochs=3", poison
    )
    assert "nan at epoch 1, step 4" in line
    assert "last.ckpt, holds finite weights and statistics" in line
    checkpoints = RUNS / "version_0/checkpoints"
    last = load_checkpoint(checkpoints / "last.ckpt")
    assert last["epoch"] == 0 and last["global_step"] == 3  # the finite epoch
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values())
    assert not (checkpoints / "on_exception.ckpt").exists()  # NaN weights are never saved
    assert [p.name for p in checkpoints.glob("best*")] == [
        p.name for p in checkpoints.glob("best-epoch=0-*")
    ]
    assert "test/acc" not in (RUNS / "version_0/metrics.csv").read_text()


def test_non_finite_statistics_stop_the_run_before_they_are_saved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stats = "--trainer.callbacks+=tests.callbacks.helpers.PoisonRunningStats"
    line = fails_with(capsys, 1, "fit", "--config", QUICKSTART, *QUICK, stats)
    assert "non-finite (network.trunk" in line and "running_var" in line
    assert "end of epoch 0" in line and "no checkpoint was saved yet" in line
    assert not list(RUNS.rglob("*.ckpt"))


def test_a_message_says_when_a_checkpoint_is_not_finite(tmp_path: Path) -> None:
    from hqnn_pl.callbacks.finite_loss import _checkpoint_state

    path = tmp_path / "resumed.ckpt"
    torch.save({"state_dict": {"bn.running_var": torch.tensor([1.0, float("inf")])}}, path)
    assert "already holds non-finite values in bn.running_var" in _checkpoint_state(str(path))


def test_a_huge_learning_rate_ends_with_a_nonzero_status(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable, "-m", "hqnn_pl", "fit", "--config", QUICKSTART, f"{LR}=1e8",
            "--trainer.max_epochs=3", "--trainer.limit_train_batches=5",
            "--trainer.enable_progress_bar=false",
        ],
        env=subprocess_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1
    # the update overflows the weights while the loss is still finite: stopped at the epoch's end
    assert "hqnn-pl: error: the weights or statistics became non-finite" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.rglob("best*.ckpt"))
