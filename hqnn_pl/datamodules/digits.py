"""scikit-learn's bundled 8x8 handwritten digits: real data that needs no download."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from hqnn_pl.datamodules.base import ImageDataModule, MissingClasses, tensor_dataset
from hqnn_pl.datamodules.preprocessing import resize_images, standardize, to_float_images
from hqnn_pl.errors import ConfigurationError


class DigitsDataModule(ImageDataModule):
    """The 1,797 real 8x8 digits of the UCI optical-recognition set, shipped with scikit-learn.

    Pixels (0-16) are scaled to [0, 1], upsampled bilinearly to ``image_size`` and optionally
    standardised with the training split's mean and std. Test and validation splits are
    stratified by class and seeded, so every run sees the same images in each split.

    Args:
        image_size: Side of the images fed to the model (the originals are 8 px).
        normalize: Standardise with the training split's mean and std.
        test_fraction: Fraction of all images held out for testing.
        batch_size: Samples per batch.
        num_workers: Data loader worker processes.
        pin_memory: Pin batches in page-locked memory.
        val_fraction: Fraction of the remaining images held out for validation.
        seed: Seed of the stratified splits.
        missing_classes: What a split that lacks a class does: ``error`` (stop before
            training) or ``warn``.
        train_subset: Train on a stratified, seeded subset of this many training images
            (validation and test unchanged); ``None``: the whole training split.
        train_subset_seed: Seed of that subset (``None``: ``seed``).
    """

    def __init__(
        self,
        image_size: int = 16,
        normalize: bool = True,
        test_fraction: float = 0.2,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        val_fraction: float = 0.1,
        seed: int = 0,
        missing_classes: MissingClasses = "error",
        train_subset: int | None = None,
        train_subset_seed: int | None = None,
    ) -> None:
        super().__init__(
            batch_size,
            num_workers,
            pin_memory,
            val_fraction,
            seed,
            missing_classes=missing_classes,
            train_subset=train_subset,
            train_subset_seed=train_subset_seed,
        )
        if image_size < 1:
            raise ConfigurationError(f"image_size must be positive, got {image_size}.")
        if not 0.0 < test_fraction < 1.0 or test_fraction + val_fraction >= 1.0:
            raise ConfigurationError(
                f"test_fraction ({test_fraction}) must be in (0, 1) and leave training data "
                f"after val_fraction ({val_fraction})."
            )
        self.image_size = image_size
        self.normalize = normalize
        self.test_fraction = test_fraction
        self.num_classes = 10
        self.in_channels = 1
        self.class_names = [str(digit) for digit in range(10)]

    def build_splits(self, stage: str) -> None:
        """Split the digits (stratified, seeded), upsample and standardise them (once)."""
        if self.test_dataset is not None:
            return
        digits = load_digits()
        images = resize_images(
            to_float_images(torch.from_numpy(digits.images), 16.0), self.image_size
        )
        labels = torch.from_numpy(digits.target)
        indices = torch.arange(len(labels)).numpy()
        rest, test = train_test_split(
            indices, test_size=self.test_fraction, stratify=digits.target, random_state=self.seed
        )
        val: list[int] = []
        if self.val_fraction > 0:
            # val_fraction is of the data left after the test split.
            rest, val = train_test_split(
                rest,
                test_size=self.val_fraction,
                stratify=digits.target[rest],
                random_state=self.seed,
            )
        if self.normalize:
            train_pixels = images[torch.as_tensor(rest)]
            images = standardize(images, float(train_pixels.mean()), float(train_pixels.std()))
        self.train_dataset = tensor_dataset(images[rest], labels[rest])
        self.val_dataset = tensor_dataset(images[val], labels[val]) if len(val) else None
        self.test_dataset = tensor_dataset(images[test], labels[test])
