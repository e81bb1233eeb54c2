"""W&B logging, checked by reading the offline run back; nothing here touches the network."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from hqnn_pl.run.loggers import wandb_connection_problem
from tests.callbacks.helpers import offline_runs, wandb_offline
from tests.conftest import CONFIGS
from tests.harness import fit

__all__ = ["wandb_offline"]

WANDB = str(CONFIGS / "trainer/wandb.yaml")


def test_offline_run_records_config_counts_circuits_metrics_and_confusion_matrix(
    wandb_offline: Path,
) -> None:
    fit("--config", WANDB)
    (run,) = offline_runs(wandb_offline / "runs")
    # the full resolved CLI config, the model's hyperparameters and the parameter counts
    assert run.config["model"]["class_path"] == "hqnn_pl.models.HQNNParallel"
    assert run.config["model"]["init_args"]["n_qubits"] == 5
    assert run.config["data"]["class_path"] == "hqnn_pl.datamodules.DigitsDataModule"
    assert run.config["trainer"]["max_epochs"] == 1
    assert run.config["seed_everything"] == 42
    assert run.config["depth"] == 3
    assert run.config["params/quantum"] == 180 and run.config["params/total"] == 24074
    assert run.display_name == "quickstart" and run.tags == ["hqnn-pl"]
    # metrics, circuit pictures, confusion matrix
    for key in ("train/loss", "val/acc", "val/f1", "test/acc", "trainer/global_step"):
        assert key in run.summary, key
    assert 0.0 <= run.summary["test/acc"] <= 1.0
    assert "circuits/network.middle" in run.history_keys
    assert "test/confusion_matrix_table" in run.summary
    names = [p.name for p in run.files]
    # every circuit (4) of the layer, at the start and trained
    assert sum(n.startswith("network.middle_") and n.endswith(".png") for n in names) == 8
    assert any(n.startswith("confusion_matrix_table") for n in names)
    # the run folder is the W&B run's own: config, counts, circuits and checkpoints
    folder = wandb_offline / "runs/hqnn-pl" / run.run_id
    saved = yaml.safe_load((folder / "config.yaml").read_text())
    assert saved["trainer"]["logger"]["class_path"] == "lightning.pytorch.loggers.WandbLogger"
    for name in ("parameter_counts.json", "checkpoints/last.ckpt", "circuits"):
        assert (folder / name).exists(), name
    assert not (wandb_offline / "runs/config.yaml").exists()


def test_no_api_key_falls_back_to_offline_with_one_warning(
    wandb_offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "online")
    with pytest.warns(UserWarning) as warned:
        fit("--config", WANDB, "--test_after_fit=false")
    about_wandb = [str(w.message) for w in warned if "W&B" in str(w.message)]
    assert len(about_wandb) == 1, about_wandb
    assert "no API key" in about_wandb[0] and "wandb sync" in about_wandb[0]
    assert len(offline_runs(wandb_offline / "runs")) == 1


def test_unreachable_server_is_detected_without_sending_anything(
    wandb_offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a local port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
    problem = wandb_connection_problem(timeout=1.0)
    assert problem is not None and f"127.0.0.1:{port} is unreachable" in problem
    monkeypatch.delenv("WANDB_API_KEY")
    assert "no API key" in (wandb_connection_problem() or "")


def test_resume_continues_the_same_wandb_run(wandb_offline: Path) -> None:
    fit("--config", WANDB, "--test_after_fit=false")
    fit("--config", WANDB, "--test_after_fit=false", "--trainer.max_epochs=2", "--ckpt_path=last")
    first, second = offline_runs(wandb_offline / "runs")
    assert first.run_id == second.run_id
    assert [p.name for p in (wandb_offline / "runs/hqnn-pl").iterdir()] == [first.run_id]
    assert second.summary["epoch"] == 1
