"""The LightningDataModule base every hqnn-pl dataset builds on."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from lightning.fabric.utilities.seed import pl_worker_init_function
from lightning.pytorch import LightningDataModule
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from hqnn_pl.datamodules.class_coverage import dataset_labels, missing_classes_message
from hqnn_pl.datamodules.datasets import BatchCollate, stratified_split
from hqnn_pl.datamodules.subsets import stratified_subset
from hqnn_pl.datamodules.transforms import batch_transform
from hqnn_pl.errors import ConfigurationError

#: Where batch transforms run: see :class:`BatchTransformDataModule`.
TransformOn = Literal["auto", "loader", "device"]
#: What a split lacking a class does: see :class:`ImageDataModule`.
MissingClasses = Literal["error", "warn"]

#: The splits each stage builds and checks. ``fit`` includes the test split, which the CLI
#: tests after fitting, so that its broken files or missing classes end the run before training.
STAGE_SPLITS: dict[str, tuple[str, ...]] = {
    "fit": ("train", "val", "test"),
    "validate": ("val",),
    "test": ("test",),
    "predict": ("test",),
}


class ImageDataModule(LightningDataModule, ABC):
    """Train/val/test image classification data with the facts a model needs to be built.

    Subclasses set :attr:`class_names`, :attr:`num_classes`, :attr:`in_channels` and
    :attr:`image_size` with :meth:`set_data_shape` in ``__init__`` (the CLI links the last
    three into the model) and create
    :attr:`train_dataset`, :attr:`val_dataset` and :attr:`test_dataset` in :meth:`build_splits`
    (at least those of :data:`STAGE_SPLITS` ``[stage]``, checking their files as they read them).

    :meth:`setup` builds the splits, then checks that every split a stage evaluates on holds an
    image of every class (``fit``: train, validation and test; ``validate``: validation;
    ``test``: test): a class a model never sees cannot be learnt, and a class missing from an
    evaluation split makes its macro metrics meaningless. A split that lacks a class, or that is
    configured (e.g. ``val_fraction > 0``) but holds no image, is an error naming the split, the
    class and its image counts, unless ``missing_classes`` is ``warn``.

    Shuffling and the random numbers drawn in loader workers follow the global seed (the CLI's
    ``seed_everything``): every worker seeds torch, Python and NumPy from it, its worker index
    and its DDP rank (Lightning's ``pl_worker_init_function``), so a seeded run is repeatable
    with any ``num_workers`` and the ranks of a DDP run draw different augmentations.

    Args:
        batch_size: Samples per batch in every split.
        num_workers: Worker processes per data loader (0 loads in the main process).
        pin_memory: Pin batches in page-locked memory (speeds up copies to a GPU).
        val_fraction: Fraction of each class of the training data held out for validation, with
            ``seed``.
        seed: Seed of every random split and subset, independent of the training seed.
        persistent_workers: Keep loader workers alive between epochs (when ``num_workers > 0``).
        missing_classes: What a split that lacks a class does: ``error`` (stop before
            training) or ``warn`` (e.g. for smoke tests on a few images).
        train_subset: Train on a stratified, seeded subset of this many images of the training
            split (validation and test unchanged; see :mod:`~hqnn_pl.datamodules.subsets`);
            ``None`` trains on the whole split.
        train_subset_seed: Seed of that subset (``None``: ``seed``).
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
        missing_classes: MissingClasses = "error",
        train_subset: int | None = None,
        train_subset_seed: int | None = None,
    ) -> None:
        super().__init__()
        if train_subset is not None and train_subset < 1:
            raise ConfigurationError(f"train_subset must be positive, got {train_subset}.")
        if batch_size < 1:
            raise ConfigurationError(f"batch_size must be positive, got {batch_size}.")
        if num_workers < 0:
            raise ConfigurationError(f"num_workers must be >= 0, got {num_workers}.")
        if not 0.0 <= val_fraction < 1.0:
            raise ConfigurationError(f"val_fraction must be in [0, 1), got {val_fraction}.")
        if missing_classes not in ("error", "warn"):
            raise ConfigurationError(
                f"missing_classes must be error or warn, got {missing_classes!r}."
            )
        # loading
        self.batch_size, self.num_workers = batch_size, num_workers
        self.pin_memory, self.persistent_workers = pin_memory, persistent_workers
        # splitting and checking the splits
        self.val_fraction, self.seed, self.missing_classes = val_fraction, seed, missing_classes
        self.train_subset = train_subset
        self.train_subset_seed = seed if train_subset_seed is None else train_subset_seed
        self._train_subset_dataset: Dataset | None = None
        self.train_dataset: Dataset | None = None
        self.val_dataset: Dataset | None = None
        self.test_dataset: Dataset | None = None

    def set_data_shape(self, class_names: Sequence[str], in_channels: int, image_size: int) -> None:
        """Set the facts a model is built for: classes, image channels and image side.

        Args:
            class_names: Name of every class, by label (:attr:`class_names`, and their number
                :attr:`num_classes`).
            in_channels: Channels of the images the model receives (:attr:`in_channels`).
            image_size: Side of the square images the model receives, in pixels
                (:attr:`image_size`).

        Raises:
            ConfigurationError: ``image_size`` is not positive.
        """
        if image_size < 1:
            raise ConfigurationError(f"image_size must be positive, got {image_size}.")
        self.class_names = list(class_names)
        self.num_classes = len(self.class_names)
        self.in_channels = in_channels
        self.image_size = image_size

    def setup(self, stage: str) -> None:
        """Build the splits ``stage`` needs, then check every split it uses holds every class.

        Args:
            stage: ``fit``, ``validate``, ``test`` or ``predict``.

        Raises:
            ConfigurationError: A file is bad, or (with ``missing_classes: error``) a split
                lacks a class.
        """
        self.build_splits(stage)
        self.take_train_subset()
        self.check_classes(stage)

    def take_train_subset(self) -> None:
        """Replace the training split by its stratified, seeded ``train_subset`` (once).

        Raises:
            ConfigurationError: The size is larger than the split or cannot hold every class.
        """
        if self.train_subset is None or self.train_dataset is None:
            return
        if self.train_dataset is self._train_subset_dataset:  # taken before
            return
        indices = stratified_subset(
            dataset_labels(self.train_dataset),
            self.train_subset,
            self.train_subset_seed,
            self.class_names,
        )
        self.train_dataset = self._train_subset_dataset = Subset(
            self.train_dataset, indices.tolist()
        )

    @abstractmethod
    def build_splits(self, stage: str) -> None:
        """Create the datasets of the splits :data:`STAGE_SPLITS` names for ``stage`` (once).

        Read every file of those splits before returning, and report all bad files in one
        :class:`~hqnn_pl.errors.ConfigurationError`
        (:func:`~hqnn_pl.datamodules.bad_files.raise_bad_files`).

        Args:
            stage: ``fit``, ``validate``, ``test`` or ``predict``.
        """

    def expects_split(self, split: str) -> bool:
        """Whether the settings ask for ``split`` (validation only with ``val_fraction > 0``).

        Args:
            split: ``train``, ``val`` or ``test``.
        """
        return split != "val" or self.val_fraction > 0

    def missing_classes_fix(self) -> str:
        """How to give every split every class, for the error of :meth:`check_classes`."""
        return (
            "Use data with images of every class in every split, or set "
            "--data.init_args.missing_classes warn to run anyway."
        )

    def check_classes(self, stage: str) -> None:
        """Check that every split ``stage`` uses holds an image of every class.

        ``predict`` is not checked: it reports no metrics.

        Args:
            stage: ``fit``, ``validate``, ``test`` or ``predict``.

        Raises:
            ConfigurationError: A split lacks a class and ``missing_classes`` is ``error``.
        """
        checked = STAGE_SPLITS.get(stage, ()) if stage != "predict" else ()
        if not checked:
            return
        datasets = {"train": self.train_dataset, "val": self.val_dataset, "test": self.test_dataset}
        split_labels = {
            split: None if dataset is None else dataset_labels(dataset)
            for split, dataset in datasets.items()
            if dataset is not None or (split in checked and self.expects_split(split))
        }
        message = missing_classes_message(
            type(self).__name__,
            self.class_names,
            split_labels,
            checked,
            self.missing_classes_fix(),
        )
        if message is None:
            return
        if self.missing_classes == "warn":
            rank_zero_warn(message)
            return
        raise ConfigurationError(message)

    def generator(self) -> torch.Generator:
        """Return a fresh generator seeded with :attr:`seed`, for reproducible splits."""
        return torch.Generator().manual_seed(self.seed)

    def split_indices(self, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Split items into training and validation indices, stratified by class and seeded.

        Each class gives :attr:`val_fraction` of its items to validation (rounded half up, at
        least one when it has two or more; see
        :func:`~hqnn_pl.datamodules.datasets.stratified_split`), so the validation split holds
        every class in its proportion.

        Args:
            labels: The label of every training item (N,).

        Returns:
            Sorted training and validation indices.
        """
        if self.val_fraction == 0:
            return torch.arange(len(labels)), torch.empty(0, dtype=torch.long)
        train, val = stratified_split(
            labels, [1 - self.val_fraction, self.val_fraction], self.generator()
        )
        return train, val

    def split_train_val(self, dataset: Dataset) -> tuple[Dataset, Dataset | None]:
        """Hold out :attr:`val_fraction` of each class of ``dataset`` for validation, seeded.

        Args:
            dataset: The training data.

        Returns:
            The training and validation subsets (validation is ``None`` when it is empty).
        """
        train, val = self.split_indices(dataset_labels(dataset))
        if len(val) == 0:
            return dataset, None
        return Subset(dataset, train.tolist()), Subset(dataset, val.tolist())

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
        **kwargs: Batching, loading, the validation split, the seed and the training subset
            (see :class:`ImageDataModule`).
    """

    def __init__(self, transform_on: TransformOn = "auto", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if transform_on not in ("auto", "loader", "device"):
            raise ConfigurationError(
                f"transform_on must be auto, loader or device, got {transform_on!r}."
            )
        self.transform_on = transform_on
        self._transforms: dict[bool, Callable[[Tensor], Tensor]] = {}

    #: Whether training batches are augmented (subclasses set it from their options).
    augment: bool = False

    def build_transform(self, train: bool) -> Callable[[Tensor], Tensor]:
        """Build the map from uint8 batches (B, C, H, W) to model input.

        uint8 -> [0, 1] -> (the dataset's :meth:`augmentations` when ``train`` and
        :attr:`augment`) fused with the resize -> the dataset's :meth:`transform_options`
        (channel expansion, standardisation); see
        :func:`~hqnn_pl.datamodules.transforms.batch_transform`.

        Args:
            train: Build the training transform (with augmentation) rather than the evaluation
                transform.

        Returns:
            A callable mapping uint8 (B, C, H, W) to float32 (B, in_channels, image_size,
            image_size), on whatever device its input lives.
        """
        options = self.transform_options()
        if train and self.augment:
            options |= self.augmentations()
        return batch_transform(self.image_size, **options)

    def augmentations(self) -> dict[str, Any]:
        """Options of the training transform that augment (none by default).

        Returns:
            :func:`~hqnn_pl.datamodules.transforms.batch_transform` keyword arguments (rotation,
            flip, shift, colour jitter), used when training with :attr:`augment`.
        """
        return {}

    def transform_options(self) -> dict[str, Any]:
        """Options of every split's transform (none by default).

        Returns:
            :func:`~hqnn_pl.datamodules.transforms.batch_transform` keyword arguments
            (``channels``, ``mean``, ``std``).
        """
        return {}

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
