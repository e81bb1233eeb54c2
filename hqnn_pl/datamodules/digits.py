"""scikit-learn's bundled 8x8 handwritten digits: real data that needs no download."""

from __future__ import annotations

from typing import Any

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from hqnn_pl.datamodules.base import ImageDataModule, tensor_dataset
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
        test_fraction: Fraction of all images held out for testing (``val_fraction`` is the
            fraction of the remaining images held out for validation).
        **kwargs: Batching, loading, the validation split, the seed and the training subset
            (see :class:`~hqnn_pl.datamodules.base.ImageDataModule`).
    """

    def __init__(
        self,
        image_size: int = 16,
        normalize: bool = True,
        test_fraction: float = 0.2,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 < test_fraction < 1.0 or test_fraction + self.val_fraction >= 1.0:
            raise ConfigurationError(
                f"test_fraction ({test_fraction}) must be in (0, 1) and leave training data "
                f"after val_fraction ({self.val_fraction})."
            )
        self.normalize = normalize
        self.test_fraction = test_fraction
        self.set_data_shape(
            [str(digit) for digit in range(10)], in_channels=1, image_size=image_size
        )

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
