"""The LightningDataModule base every hqnn-pl dataset builds on."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Literal

import torch
from lightning.fabric.utilities.seed import pl_worker_init_function
from lightning.pytorch import LightningDataModule
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from hqnn_pl.datamodules.datasets import BatchCollate
from hqnn_pl.errors import ConfigurationError

#: Where batch transforms run: see :class:`BatchTransformDataModule`.
TransformOn = Literal["auto", "loader", "device"]


class ImageDataModule(LightningDataModule, ABC):
    """Train/val/test image classification data with the facts a model needs to be built.

    Subclasses set :attr:`num_classes`, :attr:`in_channels`, :attr:`image_size` and
    :attr:`class_names` in ``__init__`` (the CLI links the first three into the model) and create
    :attr:`train_dataset`, :attr:`val_dataset` and :attr:`test_dataset` in :meth:`setup`.

    Shuffling and the random numbers drawn in loader workers follow the global seed (the CLI's
    ``seed_everything``): every worker seeds torch, Python and NumPy from it, its worker index
    and its DDP rank (Lightning's ``pl_worker_init_function``), so a seeded run is repeatable
    with any ``num_workers`` and the ranks of a DDP run draw different augmentations.

    Args:
        batch_size: Samples per batch in every split.
        num_workers: Worker processes per data loader (0 loads in the main process).
        pin_memory: Pin batches in page-locked memory (speeds up copies to a GPU).
        val_fraction: Fraction of the training data held out for validation, with ``seed``.
        seed: Seed of every random split and subset, independent of the training seed.
        persistent_workers: Keep loader workers alive between epochs (when ``num_workers > 0``).
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
        persistent_workers: bool = True,
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
        self.persistent_workers = persistent_workers
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

    def _global_rank(self) -> int:
        """This process's DDP rank (0 without a trainer)."""
        return self.trainer.global_rank if self.trainer is not None else 0

    def collate_fn(self, split: str) -> Callable[[Any], Any] | None:
        """Return the loader's collate function for ``split``; ``None`` uses torch's default.

        Args:
            split: ``train``, ``val`` or ``test``.
        """
        del split
        return None

    def _loader(self, dataset: Dataset | None, split: str, shuffle: bool) -> DataLoader:
        if dataset is None:
            raise ConfigurationError(
                f"{type(self).__name__} has no {split} split: call setup() first, and check "
                "the split settings leave it some data."
            )
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=self.collate_fn(split),
            pin_memory=self.pin_memory,
            worker_init_fn=functools.partial(pl_worker_init_function, rank=self._global_rank()),
            persistent_workers=self.persistent_workers and self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        """Shuffled batches of the training split."""
        return self._loader(self.train_dataset, "train", shuffle=True)

    def val_dataloader(self) -> DataLoader | list[DataLoader]:
        """Batches of the validation split; none (no validation) when the split is empty."""
        if self.val_dataset is None:
            if self.val_fraction > 0:
                rank_zero_warn(
                    f"{type(self).__name__}: val_fraction {self.val_fraction} of this data "
                    "holds no image, so there is no validation."
                )
            return []
        return self._loader(self.val_dataset, "val", shuffle=False)

    def test_dataloader(self) -> DataLoader | list[DataLoader]:
        """Batches of the test split; none (nothing to test) when the split is empty."""
        if self.test_dataset is None:
            rank_zero_warn(f"{type(self).__name__}: the test split is empty, so nothing is tested.")
            return []
        return self._loader(self.test_dataset, "test", shuffle=False)

    def predict_dataloader(self) -> DataLoader | list[DataLoader]:
        """Batches of the test split, for ``hqnn-pl predict``."""
        return self.test_dataloader()


class BatchTransformDataModule(ImageDataModule):
    """Image data kept as uint8 and turned into model input a whole batch at a time.

    The datasets yield uint8 images of one size (decoded once and held in memory, or decoded
    per access); :meth:`build_transform` maps a uint8 batch to the model's float input, with
    per-image random augmentation for training. ``transform_on`` says where that runs:

    - ``loader``: in the data loader's collate function, i.e. in the worker processes when
      ``num_workers > 0`` (in parallel with the model on a CPU);
    - ``device``: in :meth:`on_after_batch_transfer`, after Lightning has moved the uint8 batch
      to the accelerator (4x less to copy than float32, and the GPU augments it);
    - ``auto``: ``device`` when the trainer runs on an accelerator other than the CPU, else
      ``loader``.

    Args:
        transform_on: Where batch transforms run: ``auto``, ``loader`` or ``device``.
        batch_size: Samples per batch in every split.
        num_workers: Worker processes per data loader (0 loads in the main process).
        pin_memory: Pin batches in page-locked memory (speeds up copies to a GPU).
        val_fraction: Fraction of the training data held out for validation, with ``seed``.
        seed: Seed of every random split and subset, independent of the training seed.
        persistent_workers: Keep loader workers alive between epochs (when ``num_workers > 0``).
    """

    def __init__(
        self,
        transform_on: TransformOn = "auto",
        batch_size: int = 64,
        num_workers: int = 0,
        pin_memory: bool = False,
        val_fraction: float = 0.1,
        seed: int = 0,
        persistent_workers: bool = True,
    ) -> None:
        super().__init__(
            batch_size, num_workers, pin_memory, val_fraction, seed, persistent_workers
        )
        if transform_on not in ("auto", "loader", "device"):
            raise ConfigurationError(
                f"transform_on must be auto, loader or device, got {transform_on!r}."
            )
        self.transform_on = transform_on
        self._transforms: dict[bool, Callable[[Tensor], Tensor]] = {}

    @abstractmethod
    def build_transform(self, train: bool) -> Callable[[Tensor], Tensor]:
        """Build the map from uint8 batches (B, C, H, W) to model input.

        Args:
            train: Build the training transform (with augmentation) rather than the evaluation
                transform.

        Returns:
            A callable mapping uint8 (B, C, H, W) to float32 (B, in_channels, image_size,
            image_size), on whatever device its input lives.
        """

    def batch_transform(self, train: bool) -> Callable[[Tensor], Tensor]:
        """Return the (cached) training or evaluation batch transform.

        Args:
            train: The training transform rather than the evaluation one.
        """
        if train not in self._transforms:
            self._transforms[train] = self.build_transform(train)
        return self._transforms[train]

    def transforms_on_device(self) -> bool:
        """Whether batches reach the model's device as uint8 and are transformed there."""
        if self.transform_on != "auto":
            return self.transform_on == "device"
        trainer = self.trainer
        return trainer is not None and trainer.strategy.root_device.type != "cpu"

    def _global_rank(self) -> int:
        """This process's DDP rank (0 without a trainer)."""
        return self.trainer.global_rank if self.trainer is not None else 0

    def collate_fn(self, split: str) -> Callable[[Any], Any] | None:
        """Stack the batch and, unless transforms run on the device, transform it.

        Args:
            split: ``train`` (augmented), ``val`` or ``test``.
        """
        if self.transforms_on_device():
            return BatchCollate(None)
        return BatchCollate(self.batch_transform(train=split == "train"))

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Transform batches that arrive as uint8 (``transform_on`` device) on their device."""
        del dataloader_idx
        if isinstance(batch, list | tuple) and len(batch) == 2:
            images, labels = batch
            if isinstance(images, Tensor) and images.dtype == torch.uint8:
                trainer = self.trainer
                train = trainer is not None and trainer.training
                return self.batch_transform(train)(images), labels
        return batch


def tensor_dataset(images: Tensor, labels: Tensor) -> TensorDataset:
    """Wrap preprocessed images (N, C, H, W) and integer labels (N,) as a dataset."""
    return TensorDataset(images.contiguous(), labels.long())
