"""CIFAR-10: 60,000 32x32 colour images in 10 classes, as torchvision's python batches."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any
from urllib.error import URLError

import torch
from torch import Tensor
from torchvision import datasets

from hqnn_pl.datamodules.bad_files import BadFileError, raise_bad_files
from hqnn_pl.datamodules.base import BatchTransformDataModule
from hqnn_pl.datamodules.datasets import TensorImageDataset
from hqnn_pl.errors import ConfigurationError

#: The python-version files of https://www.cs.toronto.edu/~kriz/cifar.html.
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILES = ["test_batch"]
META_FILE = "batches.meta"
_SPLIT_FILES = {"train": TRAIN_FILES, "test": TEST_FILES}
_FIX = "Replace bad files with the original ones (extract cifar-10-python.tar.gz again)."


class CIFAR10DataModule(BatchTransformDataModule):
    """CIFAR-10 (Krizhevsky 2009), 50,000 train and 10,000 test images, held in memory as uint8.

    Reads the published python version: the folder ``cifar-10-batches-py`` (``data_batch_1`` to
    ``data_batch_5``, ``test_batch``, ``batches.meta``), in ``data_dir`` or as ``data_dir``
    itself, which is where torchvision's download extracts it. The pickles are read directly, so
    files from any source work without torchvision's checksum. Batches are converted to float,
    optionally augmented (per-image random horizontal flip and shift of up to 4 px, the usual
    CIFAR recipe), resized when ``image_size`` is not 32 and standardised per channel.

    Args:
        data_dir: Folder holding (or receiving) ``cifar-10-batches-py``, or that folder itself.
        download: Download and extract the archive with torchvision when the files are missing.
        image_size: Side of the images fed to the model, in pixels.
        normalize: Standardise each channel with the training set's mean and std.
        augment: Randomly flip training images horizontally and shift them by up to 4 px.
        **kwargs: Batching, loading, the validation split, the seed and the training subset
            (see :class:`~hqnn_pl.datamodules.base.BatchTransformDataModule`).
    """

    folder = "cifar-10-batches-py"
    classes = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ]
    #: Per-channel mean and std of the training images in [0, 1].
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)
    #: Largest random shift of the training augmentation, in pixels.
    max_shift = 4.0

    def __init__(
        self,
        data_dir: str | Path = "data",
        download: bool = False,
        image_size: int = 32,
        normalize: bool = True,
        augment: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data_dir = Path(data_dir).expanduser()
        self.download = download
        self.normalize = normalize
        self.augment = augment
        self.set_data_shape(self.classes, in_channels=3, image_size=image_size)

    def _folder(self) -> Path | None:
        for folder in (self.data_dir / self.folder, self.data_dir):
            if all((folder / name).is_file() for name in [*TRAIN_FILES, *TEST_FILES]):
                return folder
        return None

    def prepare_data(self) -> None:
        """Check the files are there, downloading them with torchvision if allowed."""
        if self._folder() is not None:
            return
        files = ", ".join([*TRAIN_FILES, *TEST_FILES])
        if not self.download:
            raise ConfigurationError(
                f"CIFAR10DataModule: no CIFAR-10 python batches ({files}) in "
                f"{self.data_dir / self.folder} or {self.data_dir}. Point "
                "--data.init_args.data_dir at the folder holding cifar-10-batches-py (e.g. "
                "extracted from cifar-10-python.tar.gz), or set --data.init_args.download true."
            )
        try:
            datasets.CIFAR10(root=str(self.data_dir), train=True, download=True)
        except (RuntimeError, URLError, OSError) as error:
            raise ConfigurationError(
                f"CIFAR10DataModule: downloading CIFAR-10 into {self.data_dir} failed ({error}). "
                "Without network, extract cifar-10-python.tar.gz from "
                f"https://www.cs.toronto.edu/~kriz/cifar.html into {self.data_dir} (giving "
                f"{self.data_dir / self.folder}) and pass --data.init_args.download false."
            ) from error

    @staticmethod
    def _unpickle(path: Path) -> dict[str, Any]:
        try:
            with path.open("rb") as file:
                entry = pickle.load(file, encoding="bytes")
        except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as error:
            raise BadFileError(path, f"cannot read this CIFAR-10 batch ({error})", _FIX) from error
        if not isinstance(entry, dict):
            raise BadFileError(path, "not a CIFAR-10 python batch (not a dict)", _FIX)
        return {
            key.decode() if isinstance(key, bytes) else key: value for key, value in entry.items()
        }

    def _read_batch(self, path: Path) -> tuple[Tensor, Tensor]:
        entry = self._unpickle(path)
        try:
            data = torch.as_tensor(entry["data"], dtype=torch.uint8)
            label = torch.as_tensor(entry["labels"], dtype=torch.long)
        except (KeyError, TypeError, ValueError, RuntimeError) as error:
            raise BadFileError(
                path,
                "not a CIFAR-10 python batch (needs 'data' (N, 3072) uint8 and 'labels'): "
                f"{error!r}",
                _FIX,
            ) from error
        if data.dim() != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(label):
            raise BadFileError(
                path,
                f"expected data of shape (N, 3072) and N labels, got data {tuple(data.shape)} "
                f"and {len(label)} labels",
                _FIX,
            )
        if len(label) and (int(label.min()) < 0 or int(label.max()) >= self.num_classes):
            raise BadFileError(
                path,
                f"has label {int(label.max())}, but CIFAR-10 has 10 classes (0-9)",
                _FIX,
            )
        return data.view(-1, 3, 32, 32), label

    def _read(self, folder: Path, splits: list[str]) -> dict[str, tuple[Tensor, Tensor]]:
        """Read the class names and the batches of ``splits``, checking every file first.

        Raises:
            ConfigurationError: Files are unreadable; all of them are named.
        """
        batches: dict[str, tuple[Tensor, Tensor]] = {}
        errors: list[BadFileError] = []
        try:
            self._read_class_names(folder)
        except BadFileError as error:
            errors.append(error)
        for name in [name for split in splits for name in _SPLIT_FILES[split]]:
            try:
                batches[name] = self._read_batch(folder / name)
            except BadFileError as error:
                errors.append(error)
        raise_bad_files(type(self).__name__, errors)
        return {
            split: (
                torch.cat([batches[name][0] for name in _SPLIT_FILES[split]]),
                torch.cat([batches[name][1] for name in _SPLIT_FILES[split]]),
            )
            for split in splits
        }

    def _read_class_names(self, folder: Path) -> None:
        meta = folder / META_FILE
        if not meta.is_file():
            return
        names = self._unpickle(meta).get("label_names")
        if names is None or len(names) != self.num_classes:
            raise BadFileError(
                meta,
                f"should list 10 label_names, found {names!r}",
                "Replace it with the original file or delete it.",
            )
        self.class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]

    def build_splits(self, stage: str) -> None:
        """Read the batches the stage needs (once) and split validation from training.

        ``fit`` also reads the test batch (which is tested after fitting), so that a broken
        file stops the run before training.
        """
        folder = self._folder()
        if folder is None:
            self.prepare_data()
            folder = self._folder()
            assert folder is not None
        splits = []
        if stage in ("fit", "validate") and self.train_dataset is None:
            splits.append("train")
        if stage in ("fit", "test", "predict") and self.test_dataset is None:
            splits.append("test")
        data = self._read(folder, splits)
        if "train" in data:
            images, labels = data["train"]
            train, val = self.split_indices(labels)
            self.train_dataset = TensorImageDataset(images, labels, train)
            self.val_dataset = TensorImageDataset(images, labels, val) if len(val) else None
        if "test" in data:
            self.test_dataset = TensorImageDataset(*data["test"])

    def augmentations(self) -> dict[str, Any]:
        """Random horizontal flips and shifts of up to :attr:`max_shift` of the side."""
        return {"hflip_probability": 0.5, "translate": self.max_shift}

    def transform_options(self) -> dict[str, Any]:
        """Standardise with the dataset's mean and std when ``normalize``."""
        return {"mean": self.mean, "std": self.std} if self.normalize else {}
