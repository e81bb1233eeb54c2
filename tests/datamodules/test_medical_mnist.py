from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from hqnn_pl.cli import main
from hqnn_pl.datamodules import MedicalMNISTDataModule
from hqnn_pl.errors import ConfigurationError
from tests.data.image_folder import MEDICAL_MNIST_CLASSES
from tests.harness import assert_trained_and_tested, only_run

#: Images per class of the real andrewmvd/medical-mnist (58,954 in all).
REAL_COUNTS = {
    "AbdomenCT": 10000,
    "BreastMRI": 8954,
    "CXR": 10000,
    "ChestCT": 10000,
    "Hand": 10000,
    "HeadCT": 10000,
}


def real_labels() -> torch.Tensor:
    return torch.repeat_interleave(torch.arange(6), torch.tensor(list(REAL_COUNTS.values())))


def test_split_reproduces_the_papers_sizes_on_the_real_class_counts() -> None:
    labels = real_labels()
    assert len(labels) == 58954
    train, val, test = MedicalMNISTDataModule(val_fraction=0.0).split(labels)
    assert (len(train), len(val), len(test)) == (47163, 0, 11791)
    assert torch.bincount(labels[test]).tolist() == [2000, 1791, 2000, 2000, 2000, 2000]
    # validation is carved from the same 47,163 training images, stratified
    train, val, test2 = MedicalMNISTDataModule(val_fraction=0.1).split(labels)
    assert torch.equal(test, test2)
    assert len(train) + len(val) == 47163 and len(val) == 4716
    assert torch.bincount(labels[val]).tolist() == [800, 716, 800, 800, 800, 800]
    everything = torch.cat([train, val, test]).sort().values
    assert torch.equal(everything, torch.arange(58954))


def test_split_depends_only_on_the_seed() -> None:
    labels = real_labels()
    a = MedicalMNISTDataModule(seed=1).split(labels)
    b = MedicalMNISTDataModule(seed=1).split(labels)
    c = MedicalMNISTDataModule(seed=2).split(labels)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[2], c[2])


@pytest.mark.usefixtures("offline")
def test_pinned_version_is_served_by_kagglehub_from_its_cache(seeded_kagglehub_cache: Path) -> None:
    dm = MedicalMNISTDataModule(image_size=32, batch_size=8)  # no data_dir: kagglehub
    assert dm.versioned_handle == "andrewmvd/medical-mnist/versions/1"
    dm.prepare_data()
    dm.setup("fit")
    assert dm.kagglehub_cache_path().is_relative_to(seeded_kagglehub_cache)
    assert (dm.num_classes, dm.in_channels, dm.image_size) == (6, 3, 32)
    assert dm.class_names == MEDICAL_MNIST_CLASSES
    # 12 per class: 2 test, then 1 validation from the remaining 10
    assert (len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)) == (54, 6, 12)
    assert dm.images is not None and dm.images.shape == (72, 1, 64, 64)  # decoded once, 1 channel
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert torch.equal(x[:, 0], x[:, 2])  # greyscale repeated to 3 channels
    assert y.dtype == torch.long and int(y.max()) < 6


@pytest.mark.usefixtures("offline")
def test_download_disabled_and_not_cached_names_handle_cache_and_fix(
    kagglehub_cache: Path,
) -> None:
    dm = MedicalMNISTDataModule(download=False)
    with pytest.raises(ConfigurationError) as error:
        dm.prepare_data()
    message = str(error.value)
    assert "andrewmvd/medical-mnist/versions/1" in message
    assert str(kagglehub_cache / "datasets/andrewmvd/medical-mnist/versions/1") in message
    assert "--data.init_args.download true" in message and "--data.init_args.data_dir" in message


@pytest.mark.usefixtures("offline")
def test_offline_download_becomes_a_configuration_error(kagglehub_cache: Path) -> None:
    dm = MedicalMNISTDataModule(download=True)
    with pytest.raises(ConfigurationError) as error:
        dm.prepare_data()
    message = str(error.value)
    assert "kagglehub could not fetch andrewmvd/medical-mnist/versions/1" in message
    assert str(kagglehub_cache) in message and "--data.init_args.data_dir" in message
    assert "ConnectionError" in message or "ProxyError" in message


def test_reads_a_data_dir_with_the_class_folders_one_level_down(
    medical_dir: Path, tmp_path: Path
) -> None:
    wrapped = tmp_path / "archive"
    wrapped.mkdir()
    shutil.move(medical_dir, wrapped / "medical_mnist")
    dm = MedicalMNISTDataModule(data_dir=wrapped, image_size=16, val_fraction=0.0)
    dm.setup("test")
    assert len(dm.train_dataset) == 48 and dm.val_dataset is None and len(dm.test_dataset) == 12
    counts = torch.bincount(dm.test_dataset.labels[dm.test_dataset.indices], minlength=6)
    assert counts.tolist() == [2] * 6


def test_augmentation_is_per_image_and_only_for_training(medical_dir: Path) -> None:
    dm = MedicalMNISTDataModule(data_dir=medical_dir, image_size=64)
    dm.setup("fit")
    images = dm.images[:1].expand(16, -1, -1, -1)  # one image, 16 times
    torch.manual_seed(0)
    train = dm.batch_transform(train=True)(images)
    evaluation = dm.batch_transform(train=False)(images)
    assert train.shape == evaluation.shape == (16, 3, 64, 64)
    assert torch.allclose(evaluation, images.expand(-1, 3, -1, -1).float() / 255, atol=1e-6)
    different = [not torch.allclose(train[0], train[i], atol=1e-3) for i in range(1, 16)]
    assert sum(different) >= 14  # each image got its own rotation (and flip)


def test_paper_size_224_with_augmentation(medical_dir: Path) -> None:
    dm = MedicalMNISTDataModule(data_dir=medical_dir, batch_size=4)
    assert dm.image_size == 224
    dm.setup("fit")
    x, _ = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 3, 224, 224)


def test_device_mode_moves_uint8_and_transforms_after_transfer(medical_dir: Path) -> None:
    dm = MedicalMNISTDataModule(
        data_dir=medical_dir, image_size=32, batch_size=5, transform_on="device"
    )
    dm.setup("fit")
    raw = next(iter(dm.val_dataloader()))
    assert raw[0].dtype == torch.uint8 and raw[0].shape == (5, 1, 64, 64)
    x, y = dm.on_after_batch_transfer(raw, 0)
    assert x.shape == (5, 3, 32, 32) and x.dtype == torch.float32 and torch.equal(y, raw[1])


def test_loader_workers_give_the_same_batches_for_the_same_seed(medical_dir: Path) -> None:
    dm = MedicalMNISTDataModule(data_dir=medical_dir, image_size=16, batch_size=6, num_workers=1)
    dm.setup("fit")

    def first_batch() -> torch.Tensor:
        torch.manual_seed(7)
        return next(iter(dm.train_dataloader()))[0]

    assert torch.equal(first_batch(), first_batch())


def test_empty_class_folder_is_named(medical_dir: Path) -> None:
    for path in (medical_dir / "Hand").iterdir():
        path.unlink()
    dm = MedicalMNISTDataModule(data_dir=medical_dir)
    with pytest.raises(ConfigurationError, match=r"class folder .*Hand holds no images"):
        dm.setup("fit")


def test_missing_class_folder_is_named(medical_dir: Path) -> None:
    shutil.rmtree(medical_dir / "CXR")
    with pytest.raises(ConfigurationError, match=r"missing CXR") as error:
        MedicalMNISTDataModule(data_dir=medical_dir).prepare_data()
    assert str(medical_dir) in str(error.value)


def test_missing_data_dir_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="nowhere does not exist"):
        MedicalMNISTDataModule(data_dir=tmp_path / "nowhere").prepare_data()


def test_undecodable_image_is_named(medical_dir: Path) -> None:
    bad = medical_dir / "ChestCT" / "ChestCT_0003.jpeg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ConfigurationError, match=r"ChestCT_0003\.jpeg: cannot decode image"):
        MedicalMNISTDataModule(data_dir=medical_dir).setup("fit")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="test_fraction"):
        MedicalMNISTDataModule(test_fraction=1.0)
    with pytest.raises(ConfigurationError, match="transform_on"):
        MedicalMNISTDataModule(transform_on="gpu")  # type: ignore[arg-type]


@pytest.mark.usefixtures("offline")
def test_cli_fits_hqnn_parallel_on_the_kagglehub_copy(seeded_kagglehub_cache: Path) -> None:
    # transform_on device: Lightning's batch-transfer hook of the datamodule does the transform
    main(
        [
            "fit",
            "--model",
            "HQNNParallel",
            "--data",
            "MedicalMNISTDataModule",
            "--data.image_size",
            "32",
            "--data.batch_size",
            "8",
            "--data.transform_on",
            "device",
            "--trainer.max_epochs",
            "1",
            "--trainer.limit_train_batches",
            "2",
            "--trainer.limit_val_batches",
            "1",
            "--trainer.limit_test_batches",
            "1",
            "--trainer.enable_progress_bar",
            "false",
        ]
    )
    # two training steps, a last.ckpt that loads, finite losses and a test accuracy
    assert_trained_and_tested(only_run(), steps=2)
