"""Every shipped experiment config parses, instantiates, trains a step and tests on fake data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hqnn_pl.cli import main
from tests.conftest import CONFIGS
from tests.data.cifar import make_cifar10_dataset
from tests.data.idx import make_idx_dataset
from tests.data.image_folder import make_image_folder, make_medical_mnist
from tests.harness import assert_trained_and_tested, only_run

EXPERIMENTS = sorted(
    path.relative_to(CONFIGS).as_posix()
    for path in CONFIGS.rglob("*.yaml")
    if path.parent.name not in ("trainer", "sweeps", "search_spaces")
)


def fake_data_args(datamodule: str, root: Path) -> list[str]:
    """Point a config's datamodule at a tiny fake of its dataset, in the real on-disk format."""
    if datamodule in ("MNISTDataModule", "FashionMNISTDataModule"):
        return ["--data.init_args.data_dir", str(make_idx_dataset(root / "idx", 520, 110))]
    if datamodule == "CIFAR10DataModule":
        make_cifar10_dataset(root / "cifar", n_per_batch=8, n_test=10)  # every class tested
        return ["--data.init_args.data_dir", str(root / "cifar")]
    if datamodule == "MedicalMNISTDataModule":
        medical = make_medical_mnist(root / "medical", per_class=12)
        return ["--data.init_args.data_dir", str(medical)]
    if datamodule == "ImageFolderDataModule":
        counts = {f"car_{i}": 8 for i in range(6)}
        return ["--data.init_args.data_dir", str(make_image_folder(root / "cars", counts, size=48))]
    raise AssertionError(f"no fake data for {datamodule}")


def test_every_dataset_has_its_configs() -> None:
    expected = {
        "quickstart.yaml",
        *(f"mnist/{m}.yaml" for m in ("hqnn_parallel", "cnn", "hqnn_quanv", "cnn1", "cnn4")),
        *(f"fashion_mnist/{m}.yaml" for m in ("hqnn_parallel", "cnn", "qpcnn", "pointwise_cnn")),
        *(f"cifar10/{m}.yaml" for m in ("hqnn_parallel", "cnn", "qpcnn", "pointwise_cnn")),
        "medical_mnist/hqnn_parallel.yaml",
        "medical_mnist/cnn.yaml",
        *(
            f"cars/{m}.yaml"
            for m in ("random_quanv", "pixels_baseline", "resnet50_hqnn", "resnet50")
        ),
    }
    assert expected <= set(EXPERIMENTS)


@pytest.mark.parametrize("config", EXPERIMENTS)
def test_config_fits_one_step_on_fake_data(config: str, tmp_path: Path) -> None:
    settings = yaml.safe_load((CONFIGS / config).read_text())
    datamodule = settings["data"]["class_path"].rsplit(".", 1)[-1]
    args = ["fit", "--config", str(CONFIGS / config), "--trainer.max_epochs=1",
            "--trainer.limit_train_batches=1", "--trainer.limit_val_batches=1",
            "--trainer.limit_test_batches=1", "--trainer.enable_progress_bar=false"]  # fmt: skip
    if datamodule != "DigitsDataModule":
        args += fake_data_args(datamodule, tmp_path)
        args += ["--data.init_args.batch_size", "4"]
    if "download" in settings["data"]["init_args"]:
        args += ["--data.init_args.download", "false"]
    if "weights" in settings["model"]["init_args"]:
        args += ["--model.init_args.weights", "null"]  # tests never download
    main(args)
    assert_trained_and_tested(only_run(), steps=1)
