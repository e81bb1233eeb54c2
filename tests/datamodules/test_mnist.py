from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hqnn_pl.datamodules import MNISTDataModule
from hqnn_pl.errors import ConfigurationError
from tests.data.idx import make_idx_dataset, write_idx


def test_reads_torchvision_layout(mnist_dir: Path) -> None:
    dm = MNISTDataModule(data_dir=mnist_dir, val_fraction=0.25, batch_size=8)
    dm.prepare_data()
    dm.setup("fit")
    dm.setup("test")
    assert (dm.num_classes, dm.in_channels, dm.image_size) == (10, 1, 28)
    # 6 images per class, 0.25 of each (1.5, rounded half up) held out: stratified
    assert len(dm.train_dataset) == 40 and len(dm.val_dataset) == 20
    assert len(dm.test_dataset) == 20
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 1, 28, 28) and x.dtype == torch.float32
    assert y.dtype == torch.long and int(y.max()) < 10


def test_gzip_files_in_a_flat_folder_resized_unnormalized(tmp_path: Path) -> None:
    make_idx_dataset(tmp_path / "flat", n_train=30, n_test=10, compress=True)
    dm = MNISTDataModule(data_dir=tmp_path / "flat", image_size=14, normalize=False)
    dm.setup("test")
    x, _ = dm.test_dataset[:]
    assert x.shape == (10, 1, 14, 14)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_subsets_and_validation_split_are_seeded(mnist_dir: Path) -> None:
    def split(seed: int) -> list[int]:
        dm = MNISTDataModule(
            data_dir=mnist_dir, train_size=40, test_size=10, seed=seed, missing_classes="warn"
        )
        dm.setup("fit")
        dm.setup("test")
        assert len(dm.train_dataset) + len(dm.val_dataset) == 40
        assert len(dm.test_dataset) == 10
        return dm.val_dataset.indices

    assert split(0) == split(0)
    assert split(0) != split(1)


def test_missing_folder_names_the_folder_and_the_download_flag(tmp_path: Path) -> None:
    dm = MNISTDataModule(data_dir=tmp_path / "nowhere", download=False)
    with pytest.raises(ConfigurationError, match="nowhere") as error:
        dm.prepare_data()
    assert "--data.init_args.download true" in str(error.value)


def test_corrupt_idx_file_is_named(mnist_dir: Path) -> None:
    path = mnist_dir / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:100])
    dm = MNISTDataModule(data_dir=mnist_dir)
    with pytest.raises(ConfigurationError, match=r"t10k-images-idx3-ubyte.*truncated"):
        dm.setup("test")


def test_labels_out_of_range_are_refused(mnist_dir: Path) -> None:
    write_idx(mnist_dir / "MNIST" / "raw" / "t10k-labels-idx1-ubyte", torch.full((20,), 12).numpy())
    with pytest.raises(ConfigurationError, match="label 12"):
        MNISTDataModule(data_dir=mnist_dir).setup("test")


def test_subset_larger_than_data_is_refused(mnist_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match="test_size 500 exceeds the 20"):
        MNISTDataModule(data_dir=mnist_dir, test_size=500).setup("test")
