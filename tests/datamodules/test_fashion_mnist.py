from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hqnn_pl.datamodules import FashionMNISTDataModule
from hqnn_pl.datamodules.fashion_mnist import DEBIAN_DIR
from hqnn_pl.errors import ConfigurationError
from tests.data.idx import make_idx_dataset


def test_real_debian_files_offline() -> None:
    """The real data from Debian's dataset-fashion-mnist (installed by CI): must not skip."""
    assert DEBIAN_DIR.is_dir(), (
        f"{DEBIAN_DIR} is missing: install Debian's dataset-fashion-mnist package "
        "(apt-get install dataset-fashion-mnist), as .ci/run does."
    )
    dm = FashionMNISTDataModule(data_dir=DEBIAN_DIR, download=False, val_fraction=0.0)
    dm.prepare_data()
    dm.setup("fit")
    dm.setup("test")
    assert (dm.num_classes, dm.in_channels, dm.image_size) == (10, 1, 28)
    assert dm.class_names[0] == "T-shirt/top" and dm.class_names[9] == "Ankle boot"
    x_train, y_train = dm.train_dataset[:]
    x_test, y_test = dm.test_dataset[:]
    assert x_train.shape == (60000, 1, 28, 28) and x_test.shape == (10000, 1, 28, 28)
    assert torch.bincount(y_train).tolist() == [6000] * 10
    assert torch.bincount(y_test).tolist() == [1000] * 10
    # standardised with Fashion-MNIST's own statistics
    assert abs(float(x_train.mean())) < 0.01 and abs(float(x_train.std()) - 1) < 0.01


def test_torchvision_layout_gz_with_validation_split(tmp_path: Path) -> None:
    make_idx_dataset(tmp_path / "FashionMNIST" / "raw", n_train=40, n_test=10, compress=True)
    dm = FashionMNISTDataModule(data_dir=tmp_path, val_fraction=0.25, batch_size=10)
    dm.setup("fit")
    assert len(dm.train_dataset) == 30 and len(dm.val_dataset) == 10
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (10, 1, 28, 28) and y.dtype == torch.long


def test_missing_data_points_at_the_debian_copy(tmp_path: Path) -> None:
    dm = FashionMNISTDataModule(data_dir=tmp_path / "nowhere")
    with pytest.raises(ConfigurationError, match="nowhere") as error:
        dm.prepare_data()
    assert "--data.init_args.download true" in str(error.value)
    if DEBIAN_DIR.is_dir():
        assert f"--data.init_args.data_dir {DEBIAN_DIR}" in str(error.value)
