from __future__ import annotations

import pytest
import torch

from hqnn_pl.datamodules import DigitsDataModule
from hqnn_pl.errors import ConfigurationError


def test_real_digits_split_stratified_and_upsampled() -> None:
    dm = DigitsDataModule(image_size=16, test_fraction=0.2, val_fraction=0.1, seed=3)
    dm.setup("fit")
    sizes = [len(dm.train_dataset), len(dm.val_dataset), len(dm.test_dataset)]
    assert sum(sizes) == 1797  # the real UCI digits shipped with scikit-learn
    assert sizes[2] == 360
    x, _ = dm.train_dataset[:]
    assert x.shape[1:] == (1, 16, 16)
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-3
    for split in (dm.train_dataset, dm.test_dataset):
        counts = torch.bincount(split[:][1], minlength=10).float()
        assert counts.min() / counts.max() > 0.9  # stratified: every class equally present


def test_splits_depend_only_on_seed() -> None:
    def test_images(seed: int) -> torch.Tensor:
        dm = DigitsDataModule(seed=seed)
        dm.setup("test")
        return dm.test_dataset[:][0]

    assert torch.equal(test_images(0), test_images(0))
    assert not torch.equal(test_images(0), test_images(1))


def test_fractions_that_leave_no_training_data_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="test_fraction"):
        DigitsDataModule(test_fraction=0.6, val_fraction=0.5)
