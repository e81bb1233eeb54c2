from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hqnn_pl import __version__
from hqnn_pl.cli import main
from tests.conftest import CONFIGS
from tests.harness import assert_trained_and_tested, only_run

#: One epoch of one training, one validation and one test batch.
ONE_SHORT_EPOCH = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=1",
    "--trainer.limit_val_batches=1",
    "--trainer.limit_test_batches=1",
]


def run_cli(*args: str) -> None:
    main([*args])


@pytest.mark.parametrize("config", ["mnist/hqnn_parallel.yaml", "mnist/cnn.yaml"])
def test_fit_one_step_on_fake_mnist(config: str, mnist_dir: Path) -> None:
    run_cli(
        "fit",
        "--config",
        str(CONFIGS / config),
        "--data.init_args.data_dir",
        str(mnist_dir),
        "--data.init_args.download",
        "false",
        *ONE_SHORT_EPOCH,
    )
    assert_trained_and_tested(only_run(), steps=1)


def test_fit_writes_checkpoints_and_resolved_config(mnist_dir: Path, tmp_path: Path) -> None:
    run_cli(
        "fit",
        "--config",
        str(CONFIGS / "mnist/hqnn_parallel.yaml"),
        "--data.init_args.data_dir",
        str(mnist_dir),
        "--data.init_args.batch_size",
        "16",
        "--trainer.max_epochs",
        "2",
        "--trainer.enable_progress_bar",
        "false",
    )
    run = tmp_path / "runs" / "mnist-hqnn_parallel" / "version_0"
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert "last.ckpt" in checkpoints
    assert any(name.startswith("best-epoch=") for name in checkpoints)
    config = yaml.safe_load((run / "config.yaml").read_text())
    # linked from the data at instantiation, so the saved config cannot contradict it
    assert "num_classes" not in config["model"]["init_args"]
    assert config["data"]["init_args"]["data_dir"] == str(mnist_dir)
    metrics = (run / "metrics.csv").read_text()
    for key in ("train/loss", "val/acc", "val/acc_top5", "val/f1", "test/acc"):
        assert key in metrics
    # validate and test load the checkpoint through the same CLI
    for subcommand in ("validate", "test", "predict"):
        run_cli(
            subcommand,
            "--config",
            str(run / "config.yaml"),
            "--ckpt_path",
            str(run / "checkpoints" / "last.ckpt"),
            "--trainer.logger",
            "false",
        )
    # predict writes one row per test image (20 in the fake MNIST) into the checkpoint's run
    rows = list(csv.DictReader((run / "predictions.csv").open()))
    assert len(rows) == 20 and [row["index"] for row in rows[:3]] == ["0", "1", "2"]
    probabilities = [float(rows[0][f"p_{digit}"]) for digit in range(10)]
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)
    assert int(rows[0]["predicted"]) == max(range(10), key=probabilities.__getitem__)


def test_checkpointing_can_be_switched_off(tmp_path: Path) -> None:
    run_cli(
        "fit",
        "--config", str(CONFIGS / "quickstart.yaml"),
        "--trainer.enable_checkpointing", "false",
        "--trainer.max_epochs", "1",
        "--trainer.limit_train_batches", "2",
        "--trainer.enable_progress_bar", "false",
    )  # fmt: skip
    assert not list(tmp_path.rglob("*.ckpt"))
    assert (tmp_path / "runs/quickstart/version_0/metrics.csv").is_file()


def test_help_and_version_as_subprocesses() -> None:
    version = subprocess.run(
        [sys.executable, "-m", "hqnn_pl", "--version"], capture_output=True, text=True, check=True
    )
    assert __version__ in version.stdout
    help_text = subprocess.run(
        [sys.executable, "-m", "hqnn_pl", "fit", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--test_after_fit" in help_text and "--checkpoint.monitor" in help_text
    model_help = subprocess.run(
        [sys.executable, "-m", "hqnn_pl", "fit", "--model.help", "HQNNParallel"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--model.n_qubits" in model_help and "Qubits q per circuit" in model_help


def test_print_config_resolves_short_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli("fit", "--config", str(CONFIGS / "quickstart.yaml"), "--print_config")
    assert exit_info.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["class_path"] == "hqnn_pl.models.HQNNParallel"
    assert printed["data"]["class_path"] == "hqnn_pl.datamodules.DigitsDataModule"
    assert printed["seed_everything"] == 42


def expect_exit(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        run_cli(*args)
    assert exit_info.value.code not in (0, None)
    return capsys.readouterr().err


def test_misspelled_key_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    err = expect_exit(
        capsys,
        "fit",
        "--config",
        str(CONFIGS / "quickstart.yaml"),
        "--model.init_args.n_qubit",
        "4",
    )
    first = err.strip().splitlines()[0]  # the key comes first, not after ~70 lines of usage
    assert "takes no argument 'n_qubit'; did you mean n_qubits?" in first


def test_misspelled_key_in_a_yaml_file_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = yaml.safe_load((CONFIGS / "quickstart.yaml").read_text())
    config["data"]["init_args"]["batch_sise"] = 8
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    err = expect_exit(capsys, "fit", "--config", str(tmp_path / "bad.yaml"))
    assert "takes no argument 'batch_sise'; did you mean batch_size?" in err


def test_class_count_that_disagrees_with_the_data(capsys: pytest.CaptureFixture[str]) -> None:
    err = expect_exit(
        capsys,
        "fit",
        "--config",
        str(CONFIGS / "quickstart.yaml"),
        "--model.init_args.num_classes",
        "5",
    )
    assert "model.init_args.num_classes=5 but the data has 10" in err


def test_n_features_not_divisible_by_n_qubits(capsys: pytest.CaptureFixture[str]) -> None:
    err = expect_exit(
        capsys,
        "fit",
        "--config",
        str(CONFIGS / "quickstart.yaml"),
        "--model.init_args.n_features",
        "21",
    )
    assert err.startswith("hqnn-pl: error: n_features (21) must be a multiple of n_qubits (5)")
    assert "Traceback" not in err


def test_missing_mnist_folder_without_download(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    err = expect_exit(
        capsys,
        "fit",
        "--config",
        str(CONFIGS / "mnist/cnn.yaml"),
        "--data.init_args.data_dir",
        str(tmp_path / "no-mnist-here"),
        "--data.init_args.download",
        "false",
    )
    assert "no-mnist-here" in err and "--data.init_args.download true" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("*.ckpt"))


def test_optimizer_and_scheduler_from_the_command_line(tmp_path: Path) -> None:
    run_cli(
        "fit",
        "--config", str(CONFIGS / "quickstart.yaml"),
        "--model.init_args.optimizer", "torch.optim.SGD",
        "--model.init_args.optimizer.lr", "0.05",
        "--model.init_args.optimizer.momentum", "0.9",
        "--model.init_args.lr_scheduler", "torch.optim.lr_scheduler.StepLR",
        "--model.init_args.lr_scheduler.step_size", "1",
        "--model.init_args.lr_scheduler.gamma", "0.1",
        "--trainer.max_epochs", "2",
        "--trainer.limit_train_batches", "3",
        "--trainer.enable_progress_bar", "false",
        "--trainer.callbacks+", "lightning.pytorch.callbacks.LearningRateMonitor",
        "--trainer.callbacks.logging_interval", "epoch",
    )  # fmt: skip
    config = yaml.safe_load((tmp_path / "runs/quickstart/version_0/config.yaml").read_text())
    assert config["model"]["init_args"]["optimizer"]["class_path"] == "torch.optim.SGD"
    rows = list(csv.DictReader((tmp_path / "runs/quickstart/version_0/metrics.csv").open()))
    rates = [float(row["lr-SGD"]) for row in rows if row.get("lr-SGD")]
    assert rates == pytest.approx([0.05, 0.005])  # StepLR applied once per epoch


def test_reduce_on_plateau_monitors_the_validation_loss() -> None:
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    from hqnn_pl.models import CNN

    model = CNN(10, 1, 16, lr_scheduler=lambda optimizer: ReduceLROnPlateau(optimizer))
    config = model.configure_optimizers()
    assert config["lr_scheduler"]["monitor"] == "val/loss"


def test_last_checkpoint_is_written_every_epoch_even_without_improvement(tmp_path: Path) -> None:
    import torch

    run_cli(
        "fit",
        "--config", str(CONFIGS / "quickstart.yaml"),
        "--trainer.max_epochs", "3",
        "--trainer.limit_train_batches", "2",
        "--trainer.enable_progress_bar", "false",
        # 'epoch' only ever improves in epoch 0 under mode=min: no best checkpoint after it
        "--checkpoint.monitor", "epoch",
        "--checkpoint.mode", "min",
    )  # fmt: skip
    checkpoints = tmp_path / "runs/quickstart/version_0/checkpoints"
    assert torch.load(checkpoints / "last.ckpt", weights_only=False)["epoch"] == 2
    assert [p.name.split("-val_acc")[0] for p in checkpoints.glob("best-*")] == ["best-epoch=0"]
