"""Medical MNIST (Kaggle andrewmvd/medical-mnist): 58,954 64x64 medical images in 6 classes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor

from hqnn_pl.datamodules.base import BatchTransformDataModule
from hqnn_pl.datamodules.datasets import (
    IMAGE_SUFFIXES,
    TensorImageDataset,
    class_folders,
    decode_images,
    find_class_root,
    list_images,
    stratified_split,
)
from hqnn_pl.errors import ConfigurationError


class MedicalMNISTDataModule(BatchTransformDataModule):
    """Medical MNIST: 58,954 greyscale 64x64 images of six kinds of medical scan.

    The Kaggle dataset ``andrewmvd/medical-mnist`` (not the MedMNIST package): one folder of
    JPEGs per class, AbdomenCT (10,000), BreastMRI (8,954), CXR (10,000), ChestCT (10,000), Hand
    (10,000) and HeadCT (10,000). Without ``data_dir`` the pinned Kaggle version is fetched with
    ``kagglehub.dataset_download("andrewmvd/medical-mnist/versions/<version>")`` into kagglehub's
    cache (``$KAGGLEHUB_CACHE``, by default ``~/.cache/kagglehub``), which also serves it offline
    once it is there; with ``data_dir`` the class folders are read from there (or from a folder
    up to two levels below, as archives unpack).

    Every image is decoded once, at setup (by ``num_workers`` processes), into one uint8 tensor
    of 64x64 single-channel originals (58,954 images take 241 MB; an image of another size is
    resized to 64 px). The split is stratified and seeded: ``test_fraction`` of each class is
    held out (rounded half up per class: 0.2 gives the paper's 47,163 train / 11,791 test
    images), then ``val_fraction`` of each class's training images become the validation set.

    Batches are resized to ``image_size`` and repeated to 3 channels a batch at a time; training
    batches also get the paper's augmentation, a random rotation of up to ``rotation_degrees``
    and a random horizontal flip, drawn per image and fused with the resize into one bilinear
    resampling. Pixels stay in [0, 1]. ``transform_on`` says whether that happens in the loader
    or on the accelerator (the default ``auto`` uses the accelerator when there is one).

    Args:
        data_dir: Folder holding the six class folders (or a folder above them); ``None``
            fetches the pinned version with kagglehub.
        download: Let kagglehub download the pinned version when it is not in its cache (needs
            network, and for some datasets Kaggle credentials); with ``false`` only the cache is
            used.
        version: Kaggle version of ``andrewmvd/medical-mnist`` to fetch, pinned so that every
            run reads the same files.
        image_size: Side of the images fed to the model, in pixels (224 in the paper).
        augment: Randomly rotate and flip training images.
        rotation_degrees: Largest random rotation of the training augmentation, in degrees.
        hflip_probability: Probability of flipping a training image horizontally.
        test_fraction: Fraction of each class held out for testing.
        **kwargs: Batching, loading, the validation split, the seed and the training subset
            (see :class:`~hqnn_pl.datamodules.base.BatchTransformDataModule`).
    """

    #: The Kaggle dataset handle, without version.
    handle = "andrewmvd/medical-mnist"
    #: The version fetched by default: pinned so every run reads the same files.
    default_version = 1
    classes = ["AbdomenCT", "BreastMRI", "CXR", "ChestCT", "Hand", "HeadCT"]
    #: Side of the published images, at which they are held in memory.
    source_size = 64

    def __init__(
        self,
        data_dir: str | Path | None = None,
        download: bool = False,
        version: int = default_version,
        image_size: int = 224,
        augment: bool = True,
        rotation_degrees: float = 10.0,
        hflip_probability: float = 0.5,
        test_fraction: float = 0.2,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if version < 1:
            raise ConfigurationError(
                f"version must be a Kaggle version number >= 1, got {version}."
            )
        if not 0.0 < test_fraction < 1.0:
            raise ConfigurationError(f"test_fraction must be in (0, 1), got {test_fraction}.")
        if not 0.0 <= rotation_degrees <= 180.0:
            raise ConfigurationError(
                f"rotation_degrees must be in [0, 180], got {rotation_degrees}."
            )
        if not 0.0 <= hflip_probability <= 1.0:
            raise ConfigurationError(
                f"hflip_probability must be in [0, 1], got {hflip_probability}."
            )
        self.data_dir = None if data_dir is None else Path(data_dir).expanduser()
        self.download, self.version = download, version
        self.test_fraction = test_fraction
        self.augment = augment
        self.rotation_degrees, self.hflip_probability = rotation_degrees, hflip_probability
        self.set_data_shape(self.classes, in_channels=3, image_size=image_size)
        self.images: Tensor | None = None
        self.labels: Tensor | None = None

    @property
    def versioned_handle(self) -> str:
        """The kagglehub handle of the pinned version: ``andrewmvd/medical-mnist/versions/1``."""
        return f"{self.handle}/versions/{self.version}"

    def kagglehub_cache_path(self) -> Path:
        """Where kagglehub keeps (or will keep) the pinned version: its cache layout."""
        from kagglehub.config import get_cache_folder

        owner, name = self.handle.split("/")
        return Path(get_cache_folder()) / "datasets" / owner / name / "versions" / str(self.version)

    def _completion_marker(self) -> Path:
        # kagglehub marks a complete download with datasets/<owner>/<name>/<version>.complete.
        return self.kagglehub_cache_path().parents[1] / f"{self.version}.complete"

    def _in_kagglehub_cache(self) -> bool:
        return self.kagglehub_cache_path().is_dir() and self._completion_marker().is_file()

    def _fix(self) -> str:
        return (
            "Either allow the download (--data.init_args.download true, needs network), or "
            f"download https://www.kaggle.com/datasets/{self.handle} yourself, unzip it and "
            "pass the folder holding " + ", ".join(self.classes) + " as "
            "--data.init_args.data_dir."
        )

    def _fetch(self) -> Path:
        """Return the kagglehub cache folder of the pinned version, downloading it if allowed."""
        import kagglehub

        cache = self.kagglehub_cache_path()
        if not self.download and not self._in_kagglehub_cache():
            raise ConfigurationError(
                f"MedicalMNISTDataModule: {self.versioned_handle} is not in the kagglehub cache "
                f"({cache}) and download is false. {self._fix()}"
            )
        try:
            return Path(kagglehub.dataset_download(self.versioned_handle))
        except Exception as error:  # kagglehub raises requests', its own and OS errors
            raise ConfigurationError(
                f"MedicalMNISTDataModule: kagglehub could not fetch {self.versioned_handle} "
                f"into {cache} ({type(error).__name__}: {error}). Without network, download "
                f"https://www.kaggle.com/datasets/{self.handle} elsewhere, unzip it and pass "
                "the folder holding " + ", ".join(self.classes) + " as "
                f"--data.init_args.data_dir (or copy it into the cache folder above and create "
                f"the empty marker file {self._completion_marker()})."
            ) from error

    def dataset_root(self) -> Path:
        """Return the folder holding the six class folders, fetching the data if needed.

        Raises:
            ConfigurationError: The data is missing, cannot be fetched or lacks class folders.
        """
        if self.data_dir is not None:
            if not self.data_dir.is_dir():
                raise ConfigurationError(
                    f"MedicalMNISTDataModule: data_dir {self.data_dir} does not exist. Point "
                    "--data.init_args.data_dir at the unzipped Medical MNIST folder, or leave "
                    f"it out (null) to fetch {self.versioned_handle} with kagglehub."
                )
            where = self.data_dir
        else:
            where = self._fetch()
        root = find_class_root(where, self.classes)
        if root is None:
            found = class_folders(where) if where.is_dir() else []
            missing = [name for name in self.classes if name not in found]
            raise ConfigurationError(
                f"MedicalMNISTDataModule: {where} (or a folder up to two levels below it) "
                f"should hold the class folders {', '.join(self.classes)}; missing "
                f"{', '.join(missing)} (found: {', '.join(found) or 'no folders'}). " + self._fix()
            )
        return root

    def prepare_data(self) -> None:
        """Find the data, downloading the pinned version with kagglehub if needed and allowed."""
        self.dataset_root()

    def _decode(self) -> tuple[Tensor, Tensor]:
        root = self.dataset_root()
        paths: list[Path] = []
        labels: list[int] = []
        for label, name in enumerate(self.classes):
            files = list_images(root / name)
            if not files:
                raise ConfigurationError(
                    f"MedicalMNISTDataModule: class folder {root / name} holds no images (looked "
                    f"for {', '.join(IMAGE_SUFFIXES)}). Restore its images (re-download or "
                    "re-extract the dataset)."
                )
            paths += files
            labels += [label] * len(files)
        start = time.perf_counter()
        images = decode_images(
            paths,
            self.source_size,
            grayscale=True,
            num_workers=self.num_workers,
            owner=type(self).__name__,
        )
        rank_zero_info(
            f"MedicalMNISTDataModule: decoded {len(paths):,} images from {root} in "
            f"{time.perf_counter() - start:.1f} s"
        )
        return images, torch.tensor(labels)

    def split(self, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Stratified, seeded split into train, validation and test indices.

        Args:
            labels: The label of every image (N,).

        Returns:
            Sorted index tensors of the train, validation and test images.
        """
        generator = self.generator()
        train, test = stratified_split(
            labels, [1 - self.test_fraction, self.test_fraction], generator
        )
        if self.val_fraction == 0:
            return train, torch.empty(0, dtype=torch.long), test
        kept, val = stratified_split(
            labels[train], [1 - self.val_fraction, self.val_fraction], generator
        )
        return train[kept], train[val], test

    def build_splits(self, stage: str) -> None:
        """Decode all images once (naming every bad file at once), then split them."""
        del stage
        if self.images is None or self.labels is None:
            self.images, self.labels = self._decode()
        if self.test_dataset is not None:
            return
        train, val, test = self.split(self.labels)
        self.train_dataset = TensorImageDataset(self.images, self.labels, train)
        self.val_dataset = TensorImageDataset(self.images, self.labels, val) if len(val) else None
        self.test_dataset = TensorImageDataset(self.images, self.labels, test)

    def augmentations(self) -> dict[str, Any]:
        """Random rotations and horizontal flips, fused with the resize."""
        return {"degrees": self.rotation_degrees, "hflip_probability": self.hflip_probability}

    def transform_options(self) -> dict[str, Any]:
        """The grayscale images expanded to 3 channels."""
        return {"channels": 3}
