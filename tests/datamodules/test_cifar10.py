from __future__ import annotations

import pickle
from pathlib import Path
from urllib.error import URLError

import pytest
import torch

from hqnn_pl.cli import main
from hqnn_pl.datamodules import CIFAR10DataModule
from hqnn_pl.errors import ConfigurationError
from tests.harness import assert_trained_and_tested, only_run


def test_reads_python_batches_without_torchvisions_checksum(cifar_dir: Path) -> None:
    dm = CIFAR10DataModule(data_dir=cifar_dir, val_fraction=0.2, batch_size=8)
    dm.prepare_data()
    dm.setup("fit")
    dm.setup("test")
    assert (dm.num_classes, dm.in_channels, dm.image_size) == (10, 3, 32)
    assert dm.class_names[:2] == ["airplane", "automobile"]  # from batches.meta
    # 6 images per class, 0.2 of each (rounded half up) held out: stratified
    assert len(dm.train_dataset) == 50 and len(dm.val_dataset) == 10
    assert len(dm.test_dataset) == 20
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32
    assert y.dtype == torch.long and int(y.max()) < 10
    # pixel layout: 1024 red, then green, then blue values, row-major
    with (cifar_dir / "cifar-10-batches-py" / "test_batch").open("rb") as file:
        raw = pickle.load(file, encoding="bytes")
    image, label = dm.test_dataset[3]
    assert torch.equal(image.flatten(), torch.as_tensor(raw[b"data"][3]))
    assert int(label) == raw[b"labels"][3]


def test_batches_folder_itself_and_resize_unnormalized(cifar_dir: Path) -> None:
    dm = CIFAR10DataModule(
        data_dir=cifar_dir / "cifar-10-batches-py", image_size=16, normalize=False, batch_size=20
    )
    dm.setup("test")
    x, _ = next(iter(dm.test_dataloader()))
    assert x.shape == (20, 3, 16, 16)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def test_augmentation_flips_and_shifts_per_image(cifar_dir: Path) -> None:
    dm = CIFAR10DataModule(data_dir=cifar_dir, augment=True, normalize=False)
    dm.setup("fit")
    image = dm.train_dataset[0][0]
    batch = image.expand(16, -1, -1, -1)
    torch.manual_seed(0)
    augmented = dm.batch_transform(train=True)(batch)
    plain = dm.batch_transform(train=False)(batch)
    assert torch.allclose(plain, batch.float() / 255)
    assert len({round(float(a.sum()), 3) for a in augmented}) > 8  # different per image


def test_missing_files_name_the_folder_and_the_download_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="nowhere") as error:
        CIFAR10DataModule(data_dir=tmp_path / "nowhere").prepare_data()
    assert "cifar-10-batches-py" in str(error.value)
    assert "--data.init_args.download true" in str(error.value)


def test_failed_download_says_how_to_provide_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("hqnn_pl.datamodules.cifar10.datasets.CIFAR10", no_network)
    dm = CIFAR10DataModule(data_dir=tmp_path / "data", download=True)
    with pytest.raises(
        ConfigurationError, match=r"downloading CIFAR-10 into .*data failed"
    ) as error:
        dm.prepare_data()
    assert "cifar-10-python.tar.gz" in str(error.value)


def test_corrupt_batch_is_named(cifar_dir: Path) -> None:
    (cifar_dir / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(ConfigurationError, match=r"data_batch_3"):
        CIFAR10DataModule(data_dir=cifar_dir).setup("fit")


def test_wrong_shape_is_named(cifar_dir: Path) -> None:
    path = cifar_dir / "cifar-10-batches-py" / "test_batch"
    with path.open("wb") as file:
        pickle.dump(
            {b"data": torch.zeros(4, 100, dtype=torch.uint8).numpy(), b"labels": [0] * 4}, file
        )
    with pytest.raises(ConfigurationError, match=r"test_batch: expected data of shape \(N, 3072\)"):
        CIFAR10DataModule(data_dir=cifar_dir).setup("test")


def test_cli_fits_the_cnn(cifar_dir: Path) -> None:
    main(
        [
            "fit",
            "--model",
            "CNN",
            "--data",
            "CIFAR10DataModule",
            "--data.data_dir",
            str(cifar_dir),
            "--data.augment",
            "true",
            "--data.batch_size",
            "8",
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
