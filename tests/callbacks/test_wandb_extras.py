"""WandbExtras: wandb.watch and the test confusion matrix for W&B runs, nothing without W&B."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from hqnn_pl.callbacks import WandbExtras
from hqnn_pl.callbacks.wandb_extras import confusion_matrix_rows
from tests.callbacks.helpers import offline_runs, wandb_offline
from tests.conftest import CONFIGS
from tests.harness import fit

__all__ = ["wandb_offline"]

WANDB = str(CONFIGS / "trainer/wandb.yaml")


def test_confusion_matrix_rows_are_actual_predicted_count() -> None:
    rows = confusion_matrix_rows(torch.tensor([[3, 1], [0, 2]]), ["a", "b"])
    assert rows == [["a", "a", 3], ["a", "b", 1], ["b", "a", 0], ["b", "b", 2]]


def test_watch_logs_gradient_histograms(wandb_offline: Path) -> None:
    override = wandb_offline / "watch.yaml"
    callbacks = yaml.safe_load(Path(WANDB).read_text())["trainer"]["callbacks"]
    for callback in callbacks:
        if callback["class_path"].endswith("WandbExtras"):
            callback["init_args"] = {"watch": "all", "watch_log_freq": 1}
    override.write_text(yaml.safe_dump({"trainer": {"callbacks": callbacks}}))
    fit("--config", WANDB, "--config", str(override), "--test_after_fit=false")
    (run,) = offline_runs(wandb_offline / "runs")
    assert any(k.startswith("gradients/network.middle.weights") for k in run.history_keys)
    assert any(k.startswith("parameters/network.middle.weights") for k in run.history_keys)


def test_a_wandb_failure_never_fails_the_run(
    wandb_offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wandb
    from lightning.pytorch.loggers import WandbLogger

    def unreachable(*args: object, **kwargs: object) -> None:
        raise ConnectionError("W&B is unreachable")

    monkeypatch.setattr(wandb, "plot_table", unreachable)
    monkeypatch.setattr(WandbLogger, "log_image", unreachable)
    with pytest.warns(UserWarning, match="W&B: could not log the confusion matrix"):
        fit("--config", WANDB)
    (run,) = offline_runs(wandb_offline / "runs")
    assert "test/acc" in run.summary


def test_extras_do_nothing_without_wandb(tmp_path: Path) -> None:
    fit("--trainer.callbacks+=hqnn_pl.callbacks.WandbExtras", "--trainer.callbacks.watch=all")
    assert not (tmp_path / "wandb").exists() and not (tmp_path / "runs/wandb").exists()
    with pytest.raises(ValueError, match="watch_log_freq must be a positive"):
        WandbExtras(watch_log_freq=0)
