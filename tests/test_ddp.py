"""DDP on two CPU processes (gloo): synced metrics and identical quantum weights on both ranks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from hqnn_pl.cli import main
from tests.conftest import CONFIGS
from tests.harness import QUICKSTART, subprocess_env

QUANTUM_WEIGHTS = "network.middle.weights"


def test_hqnn_parallel_trains_with_ddp_on_two_cpu_processes(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hqnn_pl",
            "fit",
            "--config",
            QUICKSTART,
            "--trainer.accelerator=cpu",
            "--trainer.devices=2",
            "--trainer.strategy=ddp",
            "--trainer.max_epochs=1",
            "--trainer.limit_train_batches=4",
            "--trainer.limit_val_batches=2",
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false",
            "--test_after_fit=false",
            "--trainer.callbacks+=tests.callbacks.helpers.RankStateDump",
            "--trainer.callbacks+=hqnn_pl.callbacks.ParameterCount",
        ],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [torch.load(tmp_path / f"rank_state/rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    # each rank trained on its own shard of the data ...
    assert len(ranks[0]["labels"]) == len(ranks[1]["labels"]) == 4 * 32
    assert ranks[0]["labels"] != ranks[1]["labels"]
    # ... yet the logged epoch metrics are the same on both ranks: they were synced
    synced = sorted(k for k in ranks[0]["metrics"] if k.startswith(("train/", "val/")))
    assert {"train/loss", "train/acc", "val/loss", "val/acc", "val/f1"} <= set(synced)
    for key in synced:
        assert ranks[0]["metrics"][key] == pytest.approx(ranks[1]["metrics"][key], abs=1e-6), key
    # the quantum weights (and all others) trained, and stayed identical across the ranks
    weights = [r["state"][QUANTUM_WEIGHTS] for r in ranks]
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], ranks[0]["initial"][QUANTUM_WEIGHTS])
    for key, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][key]), key
    # rank zero alone wrote the run folder
    run = tmp_path / "runs/quickstart"
    assert [p.name for p in run.iterdir()] == ["version_0"]
    assert (run / "version_0/checkpoints/last.ckpt").is_file()
    assert (run / "version_0/parameter_counts.json").is_file()


def test_ddp_config_is_multi_gpu_with_synced_batchnorm(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(
            [
                "fit",
                "--config",
                QUICKSTART,
                "--config",
                str(CONFIGS / "trainer/ddp.yaml"),
                "--print_config",
            ]
        )
    trainer = yaml.safe_load(capsys.readouterr().out)["trainer"]
    assert trainer["strategy"] == "ddp" and trainer["devices"] == "auto"
    assert trainer["accelerator"] == "gpu" and trainer["sync_batchnorm"] is True


def test_sync_batchnorm_on_cpu_is_refused_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as failed:
        main(["fit", "--config", QUICKSTART, "--trainer.sync_batchnorm=true"])
    assert failed.value.code == 2
    assert "--trainer.sync_batchnorm false" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
