"""Any class-per-folder image tree, e.g. Stanford Cars or VMMRdb exported one folder per model."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor
from torch.utils.data import DataLoader

from hqnn_pl.datamodules.base import (
    STAGE_SPLITS,
    BatchTransformDataModule,
)
from hqnn_pl.datamodules.datasets import (
    IMAGE_SUFFIXES,
    BatchCollate,
    ImageFileDataset,
    check_image_files,
    class_folders,
    list_images,
    stratified_split,
)
from hqnn_pl.errors import ConfigurationError


class ImageFolderDataModule(BatchTransformDataModule):
    """Images in one folder per class (``data_dir/<class>/**/<image>``), split by class.

    The classes are the subfolders of ``data_dir`` (hidden ones are skipped), all of them, those
    named in ``classes`` (labels in that order) or the ``max_classes`` with the most images
    (labels in name order). Images are the files with an image suffix anywhere below a class
    folder; ``max_per_class`` keeps a seeded random subset of each class. Each class is split
    into train, validation and test parts by ``split_ratios`` (seeded; every part but the first
    gets its share rounded half up, train the rest).

    Loader workers decode each image (large JPEGs at a reduced scale first) and resize it to
    ``image_size`` x ``image_size`` (aspect ratio not kept, as ``v2.Resize((s, s))``); whole
    batches are then converted to float, augmented when training (the car study's recipe:
    horizontal flip, colour jitter of brightness, contrast and saturation, rotation; per image)
    and standardised per channel with ``mean`` and ``std``, which by default are measured on
    (a seeded sample of) the training split and saved in checkpoints.

    Args:
        data_dir: Folder holding one subfolder of images per class.
        classes: Class folders to use, in label order; ``None`` uses all (or ``max_classes``).
        max_classes: Use only this many classes, those with the most images (ties by name);
            not together with ``classes``.
        max_per_class: Use at most this many images per class (a seeded random subset).
        split_ratios: Fractions of each class for training, validation and testing; they must
            sum to 1.
        image_size: Side of the images fed to the model, in pixels.
        augment: Augment training images (flip, colour jitter, rotation).
        hflip_probability: Probability of flipping a training image horizontally.
        color_jitter: Strength of the random brightness, contrast and saturation changes (each
            factor drawn from [1 - s, 1 + s]); 0 disables them.
        rotation_degrees: Largest random rotation of training images, in degrees.
        mean: Per-channel mean used to standardise, e.g. ImageNet's [0.485, 0.456, 0.406];
            ``None`` measures it on the training split.
        std: Per-channel standard deviation used to standardise; ``None`` measures it.
        stats_images: Training images sampled (seeded) to measure mean and std; ``None`` uses
            all of them.
        **kwargs: Where batch transforms run (``transform_on``), batching, loading, the seed of
            the class subsets and the split, ``missing_classes`` and the training subset (see
            :class:`~hqnn_pl.datamodules.base.BatchTransformDataModule` and
            :class:`~hqnn_pl.datamodules.base.ImageDataModule`); the validation share comes
            from ``split_ratios``.
    """

    def __init__(
        self,
        data_dir: str | Path,
        classes: list[str] | None = None,
        max_classes: int | None = None,
        max_per_class: int | None = None,
        split_ratios: Sequence[float] = (0.7, 0.15, 0.15),
        image_size: int = 224,
        augment: bool = True,
        hflip_probability: float = 0.5,
        color_jitter: float = 0.2,
        rotation_degrees: float = 10.0,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        stats_images: int | None = 2000,
        **kwargs: Any,
    ) -> None:
        ratios = [float(ratio) for ratio in split_ratios]
        if (
            len(ratios) != 3
            or any(ratio < 0 for ratio in ratios)
            or ratios[0] <= 0
            or not math.isclose(sum(ratios), 1.0, abs_tol=1e-6)
        ):
            raise ConfigurationError(
                f"split_ratios must be three non-negative fractions (train, val, test) with a "
                f"positive train fraction that sum to 1, got {list(split_ratios)} (sum "
                f"{sum(ratios):g}), e.g. [0.7, 0.15, 0.15]."
            )
        # The validation share is the split's own: val_fraction is not an option here.
        super().__init__(val_fraction=ratios[1], **kwargs)
        self._check_options(max_classes, max_per_class, stats_images, mean, std, hflip_probability)
        if color_jitter < 0 or not 0 <= rotation_degrees <= 180:
            raise ConfigurationError(
                f"color_jitter must be >= 0 and rotation_degrees in [0, 180], got {color_jitter} "
                f"and {rotation_degrees}."
            )
        self.data_dir = Path(data_dir).expanduser()
        self.split_ratios = ratios
        self.augment = augment
        self.hflip_probability = hflip_probability
        self.color_jitter = color_jitter
        self.rotation_degrees = rotation_degrees
        self.mean = None if mean is None else [float(m) for m in mean]
        self.std = None if std is None else [float(s) for s in std]
        self._stats_given = mean is not None
        self.stats_images = stats_images
        self.max_per_class = max_per_class
        self.set_data_shape(
            self._select_classes(classes, max_classes), in_channels=3, image_size=image_size
        )
        self.paths, self.labels = self._list_images()
        self._checked: set[str] = set()

    @staticmethod
    def _check_options(
        max_classes: int | None,
        max_per_class: int | None,
        stats_images: int | None,
        mean: list[float] | None,
        std: list[float] | None,
        hflip_probability: float,
    ) -> None:
        for name, value in (
            ("max_classes", max_classes),
            ("max_per_class", max_per_class),
            ("stats_images", stats_images),
        ):
            if value is not None and value < 1:
                raise ConfigurationError(f"{name} must be positive or null, got {value}.")
        if max_classes is not None and max_classes < 2:
            raise ConfigurationError(f"max_classes must be at least 2, got {max_classes}.")
        if (mean is None) != (std is None):
            raise ConfigurationError(
                "Give both mean and std (3 values each) or neither (measured on the training "
                f"split); got mean={mean}, std={std}."
            )
        if (
            mean is not None
            and std is not None
            and (len(mean) != 3 or len(std) != 3 or min(std) <= 0)
        ):
            raise ConfigurationError(
                f"mean and std need 3 values (R, G, B) and std must be positive; got "
                f"mean={mean}, std={std}."
            )
        if not 0.0 <= hflip_probability <= 1.0:
            raise ConfigurationError(
                f"hflip_probability must be in [0, 1], got {hflip_probability}."
            )

    def _select_classes(self, classes: list[str] | None, max_classes: int | None) -> list[str]:
        if not self.data_dir.is_dir():
            raise ConfigurationError(
                f"ImageFolderDataModule: data_dir {self.data_dir} does not exist or is not a "
                "folder. Point --data.init_args.data_dir at the folder holding one subfolder of "
                "images per class."
            )
        available = class_folders(self.data_dir)
        if not available:
            raise ConfigurationError(
                f"ImageFolderDataModule: {self.data_dir} has no class subfolders. Arrange the "
                "images as data_dir/<class name>/<image>, one folder per class."
            )
        if classes is not None and max_classes is not None:
            raise ConfigurationError(
                f"Give classes ({classes}) or max_classes ({max_classes}), not both."
            )
        if classes is not None:
            if len(set(classes)) != len(classes):
                raise ConfigurationError(f"classes names a folder twice: {classes}.")
            missing = [name for name in classes if name not in available]
            if missing:
                shown = ", ".join(available[:20]) + (" ..." if len(available) > 20 else "")
                raise ConfigurationError(
                    f"ImageFolderDataModule: classes {missing} are not folders of "
                    f"{self.data_dir}. Available ({len(available)}): {shown}. Fix the names in "
                    "--data.init_args.classes."
                )
            if len(classes) < 2:
                raise ConfigurationError(f"classes must name at least 2 folders, got {classes}.")
            return list(classes)
        if max_classes is None or max_classes >= len(available):
            if len(available) < 2:
                raise ConfigurationError(
                    f"ImageFolderDataModule: {self.data_dir} has only the class folder "
                    f"{available}; a classifier needs at least 2."
                )
            return available
        counts = {name: len(list_images(self.data_dir / name)) for name in available}
        largest = sorted(available, key=lambda name: (-counts[name], name))[:max_classes]
        return sorted(largest)

    def _list_images(self) -> tuple[list[Path], Tensor]:
        generator = self.generator()
        paths: list[Path] = []
        labels: list[int] = []
        for label, name in enumerate(self.class_names):
            files = list_images(self.data_dir / name)
            if not files:
                raise ConfigurationError(
                    f"ImageFolderDataModule: class folder {self.data_dir / name} holds no images "
                    f"(looked for {', '.join(IMAGE_SUFFIXES)}). Add its images, delete the "
                    "folder, or leave it out with --data.init_args.classes."
                )
            if self.max_per_class is not None and len(files) > self.max_per_class:
                keep = torch.randperm(len(files), generator=generator)[: self.max_per_class]
                files = [files[i] for i in sorted(keep.tolist())]
            paths += files
            labels += [label] * len(files)
        return paths, torch.tensor(labels)

    def _dataset(self, indices: Tensor) -> ImageFileDataset:
        return ImageFileDataset(
            [self.paths[i] for i in indices.tolist()], self.labels[indices], self.image_size
        )

    def build_splits(self, stage: str) -> None:
        """Split each class (seeded), check the stage's image files, measure mean and std.

        Every image of the splits the stage reads (:data:`STAGE_SPLITS`; ``fit``: all three)
        is decoded once, cheaply, so that all bad files are named before training instead of
        one per run when a loader reaches it.
        """
        if self.train_dataset is None:
            train, val, test = stratified_split(self.labels, self.split_ratios, self.generator())
            self.train_dataset = self._dataset(train)
            self.val_dataset = self._dataset(val) if len(val) else None
            self.test_dataset = self._dataset(test) if len(test) else None
        self.check_files(STAGE_SPLITS.get(stage, ("train", "val", "test")))
        if self.mean is None or self.std is None:
            self.mean, self.std = self.measure_stats(self.train_dataset)
            self._transforms.clear()

    def check_files(self, splits: Sequence[str]) -> None:
        """Decode (cheaply) every image of ``splits`` not checked yet; name all bad ones at once.

        Args:
            splits: ``train``, ``val`` and/or ``test``.

        Raises:
            ConfigurationError: Images cannot be decoded.
        """
        datasets = {"train": self.train_dataset, "val": self.val_dataset, "test": self.test_dataset}
        todo = [s for s in splits if s not in self._checked and datasets[s] is not None]
        paths = [path for split in todo for path in datasets[split].paths]  # type: ignore[union-attr]
        if not paths:
            return
        start = time.perf_counter()
        check_image_files(type(self).__name__, paths, self.num_workers)
        self._checked.update(todo)
        rank_zero_info(
            f"ImageFolderDataModule: checked {len(paths):,} images ({', '.join(todo)}) in "
            f"{time.perf_counter() - start:.1f} s"
        )

    def missing_classes_fix(self) -> str:
        """Small classes are the usual cause."""
        return (
            "Each split gets at least one image of a class with 3 or more; add images to these "
            "class folders, raise max_per_class, leave the classes out with "
            "--data.init_args.classes (or max_classes), or set "
            "--data.init_args.missing_classes warn to run anyway."
        )

    def expects_split(self, split: str) -> bool:
        """Whether ``split_ratios`` gives ``split`` a share."""
        return self.split_ratios[("train", "val", "test").index(split)] > 0

    def measure_stats(self, dataset: ImageFileDataset) -> tuple[list[float], list[float]]:
        """Per-channel mean and std in [0, 1] of (a seeded sample of) resized images.

        Args:
            dataset: The training images.

        Returns:
            The mean and the standard deviation of each channel (R, G, B).
        """
        indices = torch.arange(len(dataset))
        if self.stats_images is not None and len(dataset) > self.stats_images:
            indices = torch.randperm(len(dataset), generator=self.generator())[: self.stats_images]
        sample = ImageFileDataset(
            [dataset.paths[i] for i in indices.tolist()], dataset.labels[indices], dataset.size
        )
        loader = DataLoader(
            sample,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            collate_fn=BatchCollate(),
        )
        total = torch.zeros(3, dtype=torch.float64)
        squares = torch.zeros(3, dtype=torch.float64)
        count = 0
        for images, _ in loader:
            pixels = images.to(torch.float64).div_(255).transpose(0, 1).reshape(3, -1)
            total += pixels.sum(dim=1)
            squares += pixels.square().sum(dim=1)
            count += pixels.shape[1]
        mean = total / count
        std = (squares / count - mean.square()).clamp_min(1e-12).sqrt()
        rank_zero_info(
            f"ImageFolderDataModule: mean {[round(m, 4) for m in mean.tolist()]}, std "
            f"{[round(s, 4) for s in std.tolist()]} from {len(sample)} training images"
        )
        return mean.tolist(), std.tolist()

    def augmentations(self) -> dict[str, Any]:
        """Colour jitter, random rotations and horizontal flips."""
        return {
            "degrees": self.rotation_degrees,
            "hflip_probability": self.hflip_probability,
            "color_jitter": self.color_jitter,
        }

    def transform_options(self) -> dict[str, Any]:
        """Standardise with the given or measured mean and std.

        Raises:
            ConfigurationError: The statistics are not measured yet (before :meth:`setup`).
        """
        if self.mean is None or self.std is None:
            raise ConfigurationError(
                "ImageFolderDataModule: call setup() before asking for batches (mean and std "
                "are measured on the training split there)."
            )
        return {"mean": self.mean, "std": self.std}

    def state_dict(self) -> dict[str, Any]:
        """Save the normalisation statistics with checkpoints."""
        return {"mean": self.mean, "std": self.std}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore measured normalisation statistics (given ones are kept)."""
        if not self._stats_given and state_dict.get("mean") is not None:
            self.mean, self.std = state_dict["mean"], state_dict["std"]
            self._transforms.clear()
