"""The LightningDataModule base every hqnn-pl dataset builds on."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from hqnn_pl.errors import ConfigurationError


class ImageDataModule(LightningDataModule, ABC):
    """Train/val/test image classification data with the facts a model needs to be built.

    Subclasses set :attr:`num_classes`, :attr:`in_channels`, :attr:`image_size` and
    :attr:`class_names` in ``__init__`` (the CLI links the first three into the model) and create
    :attr:`train_dataset`, :attr:`val_dataset` and :attr:`test_dataset` in :meth:`setup`.

    Args:
        batch_size: Samples per batch in every split.
        num_workers: Worker processes per data loader (0 loads in the main process).
        pin_memory: Pin batches in page-locked memory (speeds up copies to a GPU).
        val_fraction: Fraction of the training data held out for validation, with ``seed``.
        seed: Seed of every random split and subset, independent of the training seed.
    """

    num_classes: int
    in_channels: int
    image_size: int
    class_names: list[str]

    def __init__(
        self,
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be positive, got {batch_size}.")
        if num_workers < 0:
            raise ConfigurationError(f"num_workers must be >= 0, got {num_workers}.")
        if not 0.0 <= val_fraction < 1.0:
            raise ConfigurationError(f"val_fraction must be in [0, 1), got {val_fraction}.")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.val_fraction = val_fraction
        self.seed = seed
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None
        self.test_dataset: Dataset | None = None

    @abstractmethod
    def setup(self, stage: str) -> None:
        """Create the datasets of the splits that ``stage`` needs."""

    def generator(self) -> torch.Generator:
        """Return a fresh generator seeded with :attr:`seed`, for reproducible splits."""
        return torch.Generator().manual_seed(self.seed)

    def split_train_val(self, dataset: Dataset) -> tuple[Dataset, Dataset | None]:
        """Hold out :attr:`val_fraction` of ``dataset`` for validation, seeded with :attr:`seed`.

        Args:
            dataset: The training data.

        Returns:
            The training and validation subsets (validation is ``None`` when the fraction is 0).
        """
        n = len(dataset)  # type: ignore[arg-type]
        n_val = round(n * self.val_fraction)
        if n_val == 0:
            return dataset, None
        order = torch.randperm(n, generator=self.generator()).tolist()
        return Subset(dataset, order[n_val:]), Subset(dataset, order[:n_val])

    def _loader(self, dataset: Dataset | None, split: str, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise ConfigurationError(
                f"{type(self).__name__} has no {split} split"
                + (
                    " (val_fraction is 0: set --data.val_fraction, e.g. 0.1)"
                    if split == "val"
                    else ""
                )
                + "."
            )
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches of the training split."""
        return self._loader(self.train_dataset, "train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        """Batches of the validation split."""
        return self._loader(self.val_dataset, "val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        """Batches of the test split."""
        return self._loader(self.test_dataset, "test", shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        """Batches of the test split, for ``hqnn-pl predict``."""
        return self._loader(self.test_dataset, "test", shuffle=False)


def tensor_dataset(images: Tensor, labels: Tensor) -> TensorDataset:
    """Wrap preprocessed images (N, C, H, W) and integer labels (N,) as a dataset."""
    return TensorDataset(images.contiguous(), labels.long())
