from __future__ import annotations

import pytest
import torch

from hqnn_pl.datamodules import DigitsDataModule
from hqnn_pl.datamodules.subsets import stratified_subset
from hqnn_pl.errors import ConfigurationError


def test_subset_is_stratified_seeded_and_leaves_val_and_test_alone() -> None:
    full = DigitsDataModule()
    full.setup("fit")
    dm = DigitsDataModule(train_subset=100, train_subset_seed=3)
    dm.setup("fit")
    assert len(dm.train_dataset) == 100
    labels = torch.tensor([int(dm.train_dataset[i][1]) for i in range(100)])
    assert torch.bincount(labels, minlength=10).tolist() == [10] * 10  # stratified
    assert torch.equal(dm.val_dataset[:][0], full.val_dataset[:][0])
    assert torch.equal(dm.test_dataset[:][0], full.test_dataset[:][0])
    again = DigitsDataModule(train_subset=100, train_subset_seed=3)
    again.setup("fit")
    other = DigitsDataModule(train_subset=100, train_subset_seed=4)
    other.setup("fit")
    assert dm.train_dataset.indices == again.train_dataset.indices  # same size and seed
    assert dm.train_dataset.indices != other.train_dataset.indices
    dm.setup("test")  # a second setup keeps the subset instead of sub-sampling it again
    assert len(dm.train_dataset) == 100


def test_subset_seed_defaults_to_the_split_seed() -> None:
    dm = DigitsDataModule(train_subset=50, seed=2)
    assert dm.train_subset_seed == 2


@pytest.mark.parametrize(
    ("size", "message"),
    [(5000, "larger than the training split"), (9, "too small to hold every class")],
)
def test_sizes_out_of_range_fail_at_setup(size: int, message: str) -> None:
    dm = DigitsDataModule(train_subset=size)
    with pytest.raises(ConfigurationError, match=message):
        dm.setup("fit")


def test_non_positive_size_is_refused_at_once() -> None:
    with pytest.raises(ConfigurationError, match="train_subset must be positive"):
        DigitsDataModule(train_subset=0)


def test_a_subset_lacking_a_rare_class_is_refused() -> None:
    labels = torch.tensor([0] * 98 + [1] * 2)
    with pytest.raises(ConfigurationError, match="lacks class 1 'b'"):
        stratified_subset(labels, 2, 0, ["a", "b"])
    assert len(stratified_subset(labels, 100, 0, ["a", "b"])) == 100
