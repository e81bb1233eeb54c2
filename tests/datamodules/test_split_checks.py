"""Every split holds every class, and every file of every split is checked before training."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import pytest
import torch
from torch.utils.data import TensorDataset

from hqnn_pl.cli import main
from hqnn_pl.datamodules import (
    CIFAR10DataModule,
    FashionMNISTDataModule,
    ImageDataModule,
    ImageFolderDataModule,
    MedicalMNISTDataModule,
    MNISTDataModule,
)
from hqnn_pl.datamodules.datasets import stratified_split
from hqnn_pl.datamodules.fashion_mnist import DEBIAN_DIR
from hqnn_pl.errors import ConfigurationError
from tests.data.idx import make_idx_dataset, write_idx
from tests.data.image_folder import make_image_folder

# ---------------------------------------------------------------- every split holds every class


class _TensorDataModule(ImageDataModule):
    """The smallest datamodule: fixed tensors, to show the base class checks any subclass."""

    def __init__(self, labels: dict[str, list[int]], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.labels = labels
        self.num_classes, self.in_channels, self.image_size = 3, 1, 4
        self.class_names = ["cat", "dog", "eel"]

    def build_splits(self, stage: str) -> None:
        del stage

        def make(labels: list[int]) -> TensorDataset:
            return TensorDataset(torch.zeros(len(labels), 1, 4, 4), torch.tensor(labels))

        self.train_dataset = make(self.labels["train"])
        self.val_dataset = make(self.labels["val"]) if self.labels["val"] else None
        self.test_dataset = make(self.labels["test"])


def test_base_class_checks_every_subclass() -> None:
    labels = {"train": [0, 1, 2, 2], "val": [0, 1, 2], "test": [0, 2, 2]}
    with pytest.raises(ConfigurationError) as error:
        _TensorDataModule(labels).setup("fit")
    message = str(error.value)
    assert message.startswith("_TensorDataModule: the test split lacks class 1 'dog'")
    assert "(2 images: 1 train, 1 val, 0 test)" in message and "\n" not in message
    # validate only evaluates on val, which is complete
    _TensorDataModule(labels).setup("validate")
    with pytest.raises(ConfigurationError, match="the test split lacks class 1 'dog'"):
        _TensorDataModule(labels).setup("test")
    _TensorDataModule(labels).setup("predict")  # no metrics, no check


def test_a_configured_split_without_images_is_refused() -> None:
    labels = {"train": [0, 1, 2], "val": [], "test": [0, 1, 2]}
    with pytest.raises(ConfigurationError, match="the val split holds no image"):
        _TensorDataModule(labels, val_fraction=0.1).setup("fit")
    _TensorDataModule(labels, val_fraction=0.0).setup("fit")  # no validation asked for


def test_missing_classes_warn_lets_the_run_go_on() -> None:
    labels = {"train": [0, 1], "val": [0, 1, 2], "test": [0, 1, 2]}
    dm = _TensorDataModule(labels, missing_classes="warn")
    with pytest.warns(UserWarning, match="the train split lacks class 2 'eel'"):
        dm.setup("fit")
    with pytest.raises(ConfigurationError, match="missing_classes must be error or warn"):
        _TensorDataModule(labels, missing_classes="ignore")


def test_stratified_split_gives_each_part_one_image_of_a_class_of_three() -> None:
    labels = torch.tensor([0] * 20 + [1] * 3 + [2] * 2 + [3])
    train, val, test = stratified_split(labels, [0.7, 0.15, 0.15], torch.Generator())
    counts = [torch.bincount(labels[part], minlength=4).tolist() for part in (train, val, test)]
    # 20 * 0.15 = 3; 3 images: one each; 2 images: train and val; 1 image: train only
    assert counts == [[14, 1, 1, 1], [3, 1, 1, 0], [3, 1, 0, 0]]


def test_image_folder_class_of_one_image_is_refused_with_its_count(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path / "cars", {"audi": 10, "bmw": 3, "lonely": 1}, size=16)
    with pytest.raises(ConfigurationError) as error:
        ImageFolderDataModule(data_dir=root, image_size=8).setup("fit")
    message = str(error.value)
    assert "the val split lacks class 2 'lonely' (1 image: 1 train, 0 val, 0 test)" in message
    assert "the test split lacks class 2 'lonely'" in message
    assert "bmw" not in message  # 3 images: one in each split
    assert "--data.init_args.classes" in message


def test_image_folder_class_of_three_images_reaches_every_split(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path / "cars", {"audi": 10, "bmw": 3}, size=16)
    dm = ImageFolderDataModule(data_dir=root, image_size=8)
    dm.setup("fit")
    for dataset in (dm.train_dataset, dm.val_dataset, dm.test_dataset):
        assert set(dataset.labels.tolist()) == {0, 1}


def test_mnist_test_split_lacking_classes_is_found_at_fit(mnist_dir: Path) -> None:
    # 5 test images: classes 5-9 are never tested
    write_idx(mnist_dir / "MNIST" / "raw" / "t10k-labels-idx1-ubyte", torch.arange(5).numpy())
    images = torch.zeros(5, 28, 28).numpy()
    write_idx(mnist_dir / "MNIST" / "raw" / "t10k-images-idx3-ubyte", images)
    with pytest.raises(ConfigurationError, match=r"test split lacks classes 5 '5' \(6 images"):
        MNISTDataModule(data_dir=mnist_dir).setup("fit")


def test_mnist_validation_split_is_stratified(mnist_dir: Path) -> None:
    dm = MNISTDataModule(data_dir=mnist_dir, val_fraction=0.1)
    dm.setup("fit")
    val_labels = dm.val_dataset.dataset.tensors[1][dm.val_dataset.indices]
    assert sorted(val_labels.tolist()) == list(range(10))  # 6 per class -> 1 each


def test_cifar_test_batch_lacking_a_class_is_found_at_fit(cifar_dir: Path) -> None:
    path = cifar_dir / "cifar-10-batches-py" / "test_batch"
    with path.open("rb") as file:
        batch = pickle.load(file, encoding="bytes")
    batch[b"labels"] = [label if label != 3 else 4 for label in batch[b"labels"]]
    with path.open("wb") as file:
        pickle.dump(batch, file)
    with pytest.raises(ConfigurationError, match=r"test split lacks class 3 'cat'"):
        CIFAR10DataModule(data_dir=cifar_dir).setup("fit")


def test_medical_mnist_class_of_one_image_is_refused(tmp_path: Path) -> None:
    counts = dict.fromkeys(MedicalMNISTDataModule.classes, 6) | {"Hand": 1}
    root = make_image_folder(tmp_path / "medical", counts, size=64, rgb=False, suffix=".jpeg")
    with pytest.raises(ConfigurationError, match=r"test split lacks class 4 'Hand' \(1 image:"):
        MedicalMNISTDataModule(data_dir=root, image_size=16).setup("fit")


@pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="Debian's Fashion-MNIST is not installed")
def test_hqnn_quanv_subsets_of_fashion_mnist_hold_every_class() -> None:
    # the protocol's configs: 500 train / 100 test images, data seed 0, no validation
    dm = FashionMNISTDataModule(
        data_dir=DEBIAN_DIR, image_size=14, train_size=500, test_size=100, val_fraction=0.0
    )
    dm.setup("fit")  # would raise if a subset lacked a class
    assert torch.bincount(dm.test_dataset.tensors[1], minlength=10).min() >= 1


# ----------------------------------------------------- every file is checked before training


def _break_gzip(path: Path) -> None:
    path.write_bytes(b"this is not gzip data")


def test_mnist_fit_names_every_bad_file_at_once(tmp_path: Path) -> None:
    folder = make_idx_dataset(tmp_path / "mnist", n_train=60, n_test=20, compress=True)
    _break_gzip(folder / "t10k-labels-idx1-ubyte.gz")
    train_images = folder / "train-images-idx3-ubyte.gz"
    train_images.write_bytes(gzip.compress(gzip.decompress(train_images.read_bytes())[:500]))
    with pytest.raises(ConfigurationError) as error:
        MNISTDataModule(data_dir=folder).setup("fit")
    message = str(error.value)
    assert message.startswith("MNISTDataModule: 2 unreadable files, found before training")
    assert "t10k-labels-idx1-ubyte.gz (cannot read this IDX file (Not a gzipped file" in message
    assert "train-images-idx3-ubyte.gz (truncated or corrupt" in message


def test_cifar_fit_names_every_bad_batch_at_once(cifar_dir: Path) -> None:
    folder = cifar_dir / "cifar-10-batches-py"
    (folder / "data_batch_2").write_bytes(b"garbage")
    (folder / "test_batch").write_bytes((folder / "test_batch").read_bytes()[:1000])
    with pytest.raises(ConfigurationError, match=r"2 unreadable files") as error:
        CIFAR10DataModule(data_dir=cifar_dir).setup("fit")
    assert "data_batch_2 (" in str(error.value) and "test_batch (" in str(error.value)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


@pytest.mark.parametrize("num_workers", [0, 1])
def test_image_folder_fit_decodes_every_split_and_names_all_bad_images(
    tmp_path: Path, num_workers: int
) -> None:
    root = make_image_folder(tmp_path / "cars", {"audi": 10, "bmw": 10}, size=64)
    dm = ImageFolderDataModule(
        data_dir=root, image_size=16, num_workers=num_workers, persistent_workers=False
    )
    dm.setup("validate")  # nothing broken yet
    # a truncated JPEG opens fine (its header is intact) but cannot be decoded
    test_paths = dm.test_dataset.paths
    _truncate(test_paths[0])
    (root / "bmw" / "bmw_0009.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    dm = ImageFolderDataModule(
        data_dir=root, image_size=16, num_workers=num_workers, persistent_workers=False
    )
    with pytest.raises(ConfigurationError, match=r"2 unreadable files") as error:
        dm.setup("fit")
    message = str(error.value)
    assert f"{test_paths[0]} (cannot decode image" in message
    assert "bmw_0009.jpg (cannot decode image" in message


def test_medical_mnist_names_every_bad_image_at_once(medical_dir: Path) -> None:
    _truncate(medical_dir / "CXR" / "CXR_0001.jpeg")
    (medical_dir / "Hand" / "Hand_0004.jpeg").write_bytes(b"")
    with pytest.raises(ConfigurationError, match=r"2 unreadable files") as error:
        MedicalMNISTDataModule(data_dir=medical_dir, image_size=16).setup("fit")
    assert "CXR_0001.jpeg" in str(error.value) and "Hand_0004.jpeg" in str(error.value)


# ------------------------------------------------------------- the CLI stops before any epoch


def _fit(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "fit",
                "--model",
                "CNN",
                *args,
                "--trainer.max_epochs",
                "1",
                "--trainer.enable_progress_bar",
                "false",
            ]
        )
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def _assert_nothing_trained(tmp_path: Path) -> None:
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("metrics.csv"))


def test_cli_bad_test_labels_stop_fit_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_idx_dataset(tmp_path / "mnist", n_train=60, n_test=20, compress=True)
    _break_gzip(folder / "t10k-labels-idx1-ubyte.gz")
    err = _fit(capsys, "--data", "MNISTDataModule", "--data.data_dir", str(folder))
    _assert_nothing_trained(tmp_path)
    lines = err.strip().splitlines()
    assert lines[-1].startswith("hqnn-pl: error: MNISTDataModule: ")
    assert "t10k-labels-idx1-ubyte.gz: cannot read this IDX file (Not a gzipped file" in lines[-1]


def test_cli_class_of_one_image_stops_fit_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_image_folder(tmp_path / "cars", {"audi": 8, "bmw": 8, "lonely": 1}, size=16)
    err = _fit(
        capsys,
        "--data",
        "ImageFolderDataModule",
        "--data.data_dir",
        str(root),
        "--data.image_size",
        "8",
    )
    assert "the val split lacks class 2 'lonely' (1 image: 1 train, 0 val, 0 test)" in err
    _assert_nothing_trained(tmp_path)
