from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hqnn_pl.cli import main
from hqnn_pl.datamodules import ImageFolderDataModule
from hqnn_pl.datamodules.datasets import load_image_file
from hqnn_pl.errors import ConfigurationError
from tests.harness import assert_trained_and_tested, only_run


def test_all_classes_split_per_class_by_ratio(cars_dir: Path) -> None:
    dm = ImageFolderDataModule(
        data_dir=cars_dir, split_ratios=[0.6, 0.2, 0.2], image_size=32, batch_size=4
    )
    assert dm.class_names == ["audi_a4", "bmw_x5", "fiat_500", "ford_ka"]
    assert (dm.num_classes, dm.in_channels, dm.image_size) == (4, 3, 32)
    assert len(dm.paths) == 50  # notes.txt is not an image
    dm.setup("fit")
    sizes = [len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)]
    # per class (10, 20, 15, 5): val and test get round-half-up 20% each
    assert sizes == [6 + 12 + 9 + 3, 2 + 4 + 3 + 1, 2 + 4 + 3 + 1]
    test_labels = dm.test_dataset.labels.tolist()
    assert [test_labels.count(c) for c in range(4)] == [2, 4, 3, 1]
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.long


def test_named_classes_keep_their_order_and_cap(cars_dir: Path) -> None:
    dm = ImageFolderDataModule(
        data_dir=cars_dir, classes=["fiat_500", "audi_a4"], max_per_class=8, image_size=16
    )
    assert dm.class_names == ["fiat_500", "audi_a4"] and dm.num_classes == 2
    assert dm.labels.tolist() == [0] * 8 + [1] * 8
    assert all(path.parent.name == "fiat_500" for path in dm.paths[:8])


def test_max_classes_takes_the_largest(cars_dir: Path) -> None:
    dm = ImageFolderDataModule(data_dir=cars_dir, max_classes=2)
    assert dm.class_names == ["bmw_x5", "fiat_500"]


def test_normalisation_measured_on_training_split_and_checkpointed(cars_dir: Path) -> None:
    dm = ImageFolderDataModule(data_dir=cars_dir, image_size=24, augment=False, batch_size=64)
    dm.setup("fit")
    pixels = torch.stack([load_image_file(p, 24) for p in dm.train_dataset.paths]).float() / 255
    expected_mean = pixels.mean(dim=(0, 2, 3))
    expected_std = pixels.transpose(0, 1).reshape(3, -1).std(dim=1, unbiased=False)
    assert torch.allclose(torch.tensor(dm.mean), expected_mean, atol=1e-5)
    assert torch.allclose(torch.tensor(dm.std), expected_std, atol=1e-5)
    x = torch.cat([batch[0] for batch in dm.train_dataloader()])
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-4)
    state = dm.state_dict()
    other = ImageFolderDataModule(data_dir=cars_dir, image_size=24)
    other.load_state_dict(state)
    assert other.mean == dm.mean and other.std == dm.std


def test_given_mean_std_and_augmentation(cars_dir: Path) -> None:
    dm = ImageFolderDataModule(
        data_dir=cars_dir, image_size=32, mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25]
    )
    dm.setup("fit")
    assert dm.mean == [0.5, 0.5, 0.5]
    image = dm.train_dataset[0][0].expand(8, -1, -1, -1)
    torch.manual_seed(0)
    augmented = dm.batch_transform(train=True)(image)
    plain = dm.batch_transform(train=False)(image)
    assert torch.allclose(plain, (image.float() / 255 - 0.5) / 0.25, atol=1e-5)
    assert augmented.shape == (8, 3, 32, 32)
    assert not torch.allclose(augmented[0], augmented[1])


def test_split_ratios_must_sum_to_one(cars_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"sum to 1, got \[0.7, 0.2, 0.2\] \(sum 1.1\)"):
        ImageFolderDataModule(data_dir=cars_dir, split_ratios=[0.7, 0.2, 0.2])


def test_unknown_classes_are_listed_with_the_available_ones(cars_dir: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"\['tesla'\] are not folders") as error:
        ImageFolderDataModule(data_dir=cars_dir, classes=["audi_a4", "tesla"])
    assert "audi_a4, bmw_x5, fiat_500, ford_ka" in str(error.value)


def test_empty_class_folder_is_named(cars_dir: Path) -> None:
    (cars_dir / "zastava").mkdir()
    with pytest.raises(ConfigurationError, match=r"class folder .*zastava holds no images"):
        ImageFolderDataModule(data_dir=cars_dir)
    # leaving it out works
    ImageFolderDataModule(data_dir=cars_dir, classes=["audi_a4", "bmw_x5"])


@pytest.mark.parametrize("num_workers", [0, 1])
def test_image_broken_after_setup_is_named_when_loaded(cars_dir: Path, num_workers: int) -> None:
    dm = ImageFolderDataModule(
        data_dir=cars_dir,
        split_ratios=[1.0, 0.0, 0.0],
        mean=[0.5] * 3,
        std=[0.2] * 3,
        num_workers=num_workers,
        persistent_workers=False,
    )
    dm.setup("fit")
    (cars_dir / "ford_ka" / "ford_ka_0002.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ConfigurationError, match=r"ford_ka_0002\.png: cannot decode image"):
        for _ in dm.train_dataloader():
            pass


def test_missing_data_dir_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="nowhere does not exist"):
        ImageFolderDataModule(data_dir=tmp_path / "nowhere")


def test_cli_fits_the_cnn(cars_dir: Path) -> None:
    main(
        [
            "fit",
            "--model",
            "CNN",
            "--data",
            "ImageFolderDataModule",
            "--data.data_dir",
            str(cars_dir),
            "--data.max_classes",
            "3",
            "--data.image_size",
            "32",
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


def test_16_bit_images_are_scaled_not_clipped(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from hqnn_pl.datamodules.datasets import load_image_file

    ramp = np.linspace(0, 65535, 32 * 32).reshape(32, 32).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "scan.png")
    pixels = load_image_file(tmp_path / "scan.png", 32, grayscale=True)
    assert pixels.min() == 0 and pixels.max() == 255 and len(pixels.unique()) == 256
