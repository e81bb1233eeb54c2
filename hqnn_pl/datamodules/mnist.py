"""MNIST: 70,000 28x28 handwritten digits, read from IDX files (torchvision downloads them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.error import URLError

import torch
from torch import Tensor
from torchvision import datasets

from hqnn_pl.datamodules.bad_files import BadFileError, raise_bad_files
from hqnn_pl.datamodules.base import ImageDataModule, tensor_dataset
from hqnn_pl.datamodules.idx import locate_idx_files, read_idx
from hqnn_pl.datamodules.preprocessing import resize_images, standardize, to_float_images
from hqnn_pl.errors import ConfigurationError

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class MNISTDataModule(ImageDataModule):
    """MNIST digits (LeCun et al.), 60,000 train and 10,000 test images, held in memory.

    The IDX files are looked up in ``data_dir/MNIST/raw`` (where torchvision downloads them),
    ``data_dir/MNIST``, ``data_dir/raw`` or ``data_dir`` itself, plain or gzip-compressed. Images
    are scaled to [0, 1], resized once at setup when ``image_size`` differs from 28 (bilinear, as
    in the HQNN-Quanv protocol's 14 px) and optionally standardised. ``fit`` reads the test files
    too (the CLI tests after fitting), so that every bad file is named before training; the
    validation split holds ``val_fraction`` of each class.

    Args:
        data_dir: Folder holding (or receiving) the data.
        download: Download the files with torchvision when they are missing.
        image_size: Side of the images fed to the model, in pixels.
        normalize: Standardise with the dataset's mean and std; ``False`` keeps [0, 1] pixels
            (what quanvolutions' RY(pi x) encoding expects).
        train_size: Use a seeded random subset of this many training images (before the
            validation split), e.g. 500 for the HQNN-Quanv protocol; ``None`` uses all.
        test_size: Use a seeded random subset of this many test images; ``None`` uses all.
        **kwargs: Batching, loading, the validation split, the seed and the training subset
            (see :class:`~hqnn_pl.datamodules.base.ImageDataModule`).
    """

    #: torchvision's folder name and dataset class for this data.
    folder = "MNIST"
    torchvision_dataset = datasets.MNIST
    #: Per-pixel mean and std of the training images in [0, 1].
    mean, std = 0.1307, 0.3081
    classes = [str(digit) for digit in range(10)]

    def __init__(
        self,
        data_dir: str | Path = "data",
        download: bool = False,
        image_size: int = 28,
        normalize: bool = True,
        train_size: int | None = None,
        test_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, size in (("train_size", train_size), ("test_size", test_size)):
            if size is not None and size < 1:
                raise ConfigurationError(f"{name} must be positive or null, got {size}.")
        self.data_dir = Path(data_dir).expanduser()
        self.download = download
        self.normalize = normalize
        self.train_size = train_size
        self.test_size = test_size
        self.set_data_shape(self.classes, in_channels=1, image_size=image_size)

    def _files(self) -> dict[str, Path] | None:
        return locate_idx_files(self.data_dir, self.folder, list(IDX_FILES.values()))

    def prepare_data(self) -> None:
        """Check the files are there, downloading them with torchvision if allowed."""
        if self._files() is not None:
            return
        name = type(self).__name__
        if not self.download:
            raise ConfigurationError(
                f"{name}: no {self.folder} IDX files ({', '.join(IDX_FILES.values())}, plain or "
                f".gz) in {self.data_dir}/{self.folder}/raw, {self.data_dir}/{self.folder}, "
                f"{self.data_dir}/raw or {self.data_dir}. Point --data.init_args.data_dir at the "
                "folder that holds them, or set --data.init_args.download true to fetch them."
                + self._local_copy_hint()
            )
        try:
            self.torchvision_dataset(root=str(self.data_dir), train=True, download=True)
            self.torchvision_dataset(root=str(self.data_dir), train=False, download=True)
        except (RuntimeError, URLError, OSError) as error:
            raise ConfigurationError(
                f"{name}: downloading {self.folder} into {self.data_dir} failed ({error}). "
                f"Without network, copy the IDX files into {self.data_dir}/{self.folder}/raw."
            ) from error

    def _local_copy_hint(self) -> str:
        """Name a copy of the files found elsewhere on this machine, for error messages."""
        return ""

    def _read_splits(self, splits: list[str]) -> dict[str, tuple[Tensor, Tensor]]:
        """Read the images and labels of ``splits``, checking every file before raising.

        Returns:
            Each split's uint8 images (N, 28, 28) and labels (N,).

        Raises:
            ConfigurationError: Files are unreadable or disagree; all of them are named.
        """
        files = self._files()
        if files is None:
            self.prepare_data()
            files = self._files()
            assert files is not None
        arrays: dict[str, Tensor] = {}
        errors: list[BadFileError] = []
        for split in splits:
            for kind in ("images", "labels"):
                try:
                    arrays[f"{split}_{kind}"] = read_idx(files[IDX_FILES[f"{split}_{kind}"]])
                except BadFileError as error:
                    errors.append(error)
        raise_bad_files(type(self).__name__, errors)
        for split in splits:
            images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
            label_file = files[IDX_FILES[f"{split}_labels"]]
            if images.dim() != 3 or labels.dim() != 1 or len(images) != len(labels):
                errors.append(
                    BadFileError(
                        files[IDX_FILES[f"{split}_images"]],
                        f"images {tuple(images.shape)} do not match the labels "
                        f"{tuple(labels.shape)} of {label_file.name}",
                        "Replace the pair with the dataset's original files.",
                    )
                )
            elif labels.numel() and int(labels.max()) >= self.num_classes:
                errors.append(
                    BadFileError(
                        label_file,
                        f"has label {int(labels.max())}, but {self.folder} has "
                        f"{self.num_classes} classes",
                        "Replace it with the dataset's original file.",
                    )
                )
        raise_bad_files(type(self).__name__, errors)
        return {split: (arrays[f"{split}_images"], arrays[f"{split}_labels"]) for split in splits}

    def _prepare_split(self, split: str, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Take the seeded subset, then scale, resize and standardise."""
        size = self.train_size if split == "train" else self.test_size
        if size is not None:
            if size > len(labels):
                raise ConfigurationError(
                    f"{split}_size {size} exceeds the {len(labels)} {split} images available."
                )
            keep = torch.randperm(len(labels), generator=self.generator())[:size]
            images, labels = images[keep], labels[keep]
        pixels = resize_images(to_float_images(images, 255.0), self.image_size)
        if self.normalize:
            pixels = standardize(pixels, self.mean, self.std)
        return pixels, labels

    def missing_classes_fix(self) -> str:
        """Subsets too small to hold every class are the usual cause."""
        return (
            "Raise train_size/test_size (seeded random subsets) or lower val_fraction, or set "
            "--data.init_args.missing_classes warn to run anyway."
        )

    def build_splits(self, stage: str) -> None:
        """Load, subset, resize and split the images the stage needs (once).

        ``fit`` also loads the test split (which is tested after fitting), so that its files
        are checked before training.
        """
        splits = []
        if stage in ("fit", "validate") and self.train_dataset is None:
            splits.append("train")
        if stage in ("fit", "test", "predict") and self.test_dataset is None:
            splits.append("test")
        if not splits:
            return
        arrays = self._read_splits(splits)
        if "train" in arrays:
            train = tensor_dataset(*self._prepare_split("train", *arrays["train"]))
            self.train_dataset, self.val_dataset = self.split_train_val(train)
        if "test" in arrays:
            self.test_dataset = tensor_dataset(*self._prepare_split("test", *arrays["test"]))
