"""Datasets of uint8 images, class-folder scanning, image decoding and stratified splits."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from hqnn_pl.datamodules.bad_files import BadFileError, raise_bad_files
from hqnn_pl.errors import ConfigurationError

#: What to do about an image that cannot be decoded.
IMAGE_FIX = "Replace bad images with valid image files or delete them."
#: File suffixes read as images (case-insensitive); other files in class folders are ignored.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")


def is_image_file(path: Path) -> bool:
    """Whether ``path`` is a visible file with an image suffix."""
    return (
        path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()
    )


def list_images(folder: Path) -> list[Path]:
    """Return the image files under ``folder`` (recursively), sorted."""
    return sorted(path for path in folder.rglob("*") if is_image_file(path))


def class_folders(root: Path) -> list[str]:
    """Return the names of the visible subfolders of ``root``, sorted (torchvision's order)."""
    return sorted(
        entry.name for entry in root.iterdir() if entry.is_dir() and not entry.name.startswith(".")
    )


def find_class_root(root: Path, classes: Sequence[str], max_depth: int = 2) -> Path | None:
    """Find the folder that holds all of ``classes`` as subfolders: ``root`` or a folder below.

    Archives often wrap the class folders in one or two extra folders (e.g.
    ``medical_mnist/AbdomenCT``); this looks ``max_depth`` levels down, breadth first.

    Args:
        root: Where to start.
        classes: Names of the class folders.
        max_depth: How many levels below ``root`` to look.

    Returns:
        The first folder found, or ``None``.
    """
    level = [root]
    for _ in range(max_depth + 1):
        for folder in level:
            if all((folder / name).is_dir() for name in classes):
                return folder
        level = [
            child
            for folder in level
            for child in sorted(folder.iterdir())
            if child.is_dir() and not child.name.startswith(".")
        ]
    return None


def stratified_split(
    labels: Tensor, fractions: Sequence[float], generator: torch.Generator
) -> list[Tensor]:
    """Split indices class by class into parts of the given fractions, in a seeded random order.

    Every class ``c`` with ``n_c`` items gives ``floor(n_c * f + 0.5)`` items (rounded half up)
    to each part after the first, but at least one to each part with ``f > 0`` while the first
    part keeps one, and the rest to the first part. So a class of 3 images splits 1/1/1 with
    fractions ``(0.7, 0.15, 0.15)`` instead of leaving validation and test without it; a class
    of 1 image goes to the first part only. With Medical MNIST's class counts and fractions
    ``(0.8, 0.2)`` this gives the paper's 47,163 / 11,791 images.

    Args:
        labels: Integer labels (N,).
        fractions: Fraction of each class per part; the first part takes what is left.
        generator: Generator of the per-class permutations.

    Returns:
        One sorted index tensor per part.
    """
    parts: list[list[Tensor]] = [[] for _ in fractions]
    for label in torch.unique(labels, sorted=True).tolist():
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        remaining = len(members)
        sizes = []
        for fraction in fractions[1:]:
            size = math.floor(len(members) * Fraction(str(fraction)) + Fraction(1, 2))
            if fraction > 0:
                size = max(size, 1)
            size = min(size, remaining - 1) if remaining > 1 else 0
            sizes.append(size)
            remaining -= size
        for part, chunk in zip(parts, members.split([remaining, *sizes]), strict=True):
            part.append(chunk)
    return [
        torch.cat(part).sort().values if part else torch.empty(0, dtype=torch.long)
        for part in parts
    ]


def load_image_file(path: Path, size: int, grayscale: bool = False) -> Tensor:
    """Decode one image file and resize it to ``size`` x ``size`` (PIL's antialiased bilinear).

    Large JPEGs are decoded at a reduced scale (PIL's draft mode) when that still leaves at least
    ``size`` pixels, which makes 224 px input from multi-megapixel photos several times faster.
    Images already ``size`` px square are not resampled.

    Args:
        path: The file.
        size: Side of the output in pixels.
        grayscale: Decode to one channel (PIL mode ``L``) instead of RGB.

    Returns:
        The image (1 or 3, size, size), uint8.

    Raises:
        BadFileError: The file cannot be opened or decoded; the message names it.
    """
    mode = "L" if grayscale else "RGB"
    try:
        with Image.open(path) as image:
            image.draft(mode, (size, size))
            converted = _to_8_bit(image, path).convert(mode)
    except _DECODE_ERRORS as error:
        raise BadFileError(path, f"cannot decode image ({error})", IMAGE_FIX) from error
    if converted.size != (size, size):
        converted = v2.functional.resize(converted, [size, size], antialias=True)
    return v2.functional.pil_to_tensor(converted)


def _to_8_bit(image: Image.Image, path: Path) -> Image.Image:
    """Scale 16-bit greyscale images (common in medical data) to 8 bits instead of clipping."""
    if image.mode.startswith("I;16"):
        pixels = np.asarray(image).astype(np.uint32) // 257  # 65535 -> 255
        return Image.fromarray(pixels.astype(np.uint8), mode="L")
    if image.mode in ("I", "F"):
        raise BadFileError(
            path,
            f"{image.mode!r} pixels (32-bit) have no standard 8-bit scale",
            "Convert such images to 8 or 16 bits.",
        )
    return image


_DECODE_ERRORS = (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError)


def image_file_error(path: Path) -> BadFileError | None:
    """Decode ``path`` as cheaply as possible and return why it is unusable, or ``None``.

    The whole file is decoded (a truncated or corrupt JPEG or PNG fails here as it would in
    training), JPEGs at 1/8 scale and luminance only (PIL's draft mode), which is several times
    faster than :func:`load_image_file`.

    Args:
        path: The file.
    """
    try:
        with Image.open(path) as image:
            image.draft("L", (1, 1))  # JPEG: luminance only, at 1/8 scale
            image.load()
            _to_8_bit(image, path)
    except BadFileError as error:
        return error
    except _DECODE_ERRORS as error:
        return BadFileError(path, f"cannot decode image ({error})", IMAGE_FIX)
    return None


def check_image_files(owner: str, paths: Sequence[Path], num_workers: int = 0) -> None:
    """Decode every file of ``paths`` (cheaply) and report all bad ones in one error.

    Args:
        owner: Who asks (the datamodule's name), to start the message with.
        paths: The files.
        num_workers: Processes checking in parallel (a DataLoader's workers); 0 checks here.

    Raises:
        ConfigurationError: Files cannot be decoded; all of them are named.
    """
    if num_workers == 0:
        results = [image_file_error(path) for path in paths]
    else:
        loader = DataLoader(
            _CheckDataset(paths),
            batch_size=64,
            num_workers=num_workers,
            collate_fn=list,
        )
        results = [result for batch in loader for result in batch]
    raise_bad_files(owner, [error for error in results if error is not None])


def decode_images(
    paths: Sequence[Path],
    size: int,
    grayscale: bool = False,
    num_workers: int = 0,
    owner: str = "decode_images",
) -> Tensor:
    """Decode image files into one uint8 tensor, resizing any image that is not ``size`` px.

    Args:
        paths: The files.
        size: Side of the square images returned.
        grayscale: Decode to one channel instead of RGB.
        num_workers: Processes decoding in parallel (a DataLoader's workers); 0 decodes here.
        owner: Who asks (the datamodule's name), to start an error message with.

    Returns:
        Images (N, 1 or 3, size, size), uint8, in the order of ``paths``.

    Raises:
        ConfigurationError: Files cannot be decoded; all of them are named, after all were tried.
    """
    out = torch.empty(len(paths), 1 if grayscale else 3, size, size, dtype=torch.uint8)
    dataset = _DecodeDataset(paths, size, grayscale)
    errors: list[BadFileError] = []
    if num_workers == 0:
        batches: Iterable[list[Tensor | BadFileError]] = ([dataset[i]] for i in range(len(paths)))
    else:
        batches = DataLoader(dataset, batch_size=256, num_workers=num_workers, collate_fn=list)
    start = 0
    for batch in batches:
        for item in batch:
            if isinstance(item, BadFileError):
                errors.append(item)
            else:
                out[start] = item
            start += 1
    raise_bad_files(owner, errors)
    return out


class _DecodeDataset(Dataset):
    """Decoded images, or the error of a file that cannot be decoded."""

    def __init__(self, paths: Sequence[Path], size: int, grayscale: bool) -> None:
        self.paths, self.size, self.grayscale = list(paths), size, grayscale

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Tensor | BadFileError:
        try:
            return load_image_file(self.paths[index], self.size, self.grayscale)
        except BadFileError as error:
            return error


class _CheckDataset(Dataset):
    """The error of each file that cannot be decoded (``None`` for good files)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> BadFileError | None:
        return image_file_error(self.paths[index])


class TensorImageDataset(Dataset):
    """Images held in memory as one uint8 tensor, served a whole batch per index operation.

    Several datasets (the splits) share one image tensor through index tensors. ``__getitems__``
    returns the batch ``(images[indices], labels[indices])`` already stacked, so a loader spends
    one indexing operation per batch instead of one per image; :class:`BatchCollate` accepts it.

    Args:
        images: All images (N, C, H, W), uint8.
        labels: All labels (N,).
        indices: The images of this dataset; ``None`` takes all.
    """

    def __init__(self, images: Tensor, labels: Tensor, indices: Tensor | None = None) -> None:
        self.images = images
        self.labels = labels.long()
        self.indices = torch.arange(len(labels)) if indices is None else indices.long()

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        i = self.indices[index]
        return self.images[i], self.labels[i]

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        chosen = self.indices[torch.as_tensor(indices, dtype=torch.long)]
        return self.images[chosen], self.labels[chosen]


class ImageFileDataset(Dataset):
    """Image files decoded on access, each resized to ``size`` x ``size`` RGB uint8.

    Args:
        paths: The files.
        labels: Their labels (N,).
        size: Side of the images returned.
    """

    def __init__(self, paths: Sequence[Path], labels: Tensor, size: int) -> None:
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels.")
        self.paths = list(paths)
        self.labels = labels.long()
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        try:
            image = load_image_file(self.paths[index], self.size)
        except BadFileError as error:
            # a plain ConfigurationError, which a loader worker can re-raise in the main process
            raise ConfigurationError(str(error)) from error
        return image, self.labels[index]


class BatchCollate:
    """Stack (image, label) samples, or take a pre-stacked batch, then transform the images.

    Args:
        transform: Applied to the stacked uint8 images; ``None`` leaves them uint8 (to be
            transformed after the batch reaches its device).
    """

    def __init__(self, transform: Callable[[Tensor], Tensor] | None = None) -> None:
        self.transform = transform

    def __call__(
        self, samples: tuple[Tensor, Tensor] | Sequence[tuple[Tensor, Tensor]]
    ) -> tuple[Tensor, Tensor]:
        """Return the batch ``(images, labels)``."""
        if isinstance(samples, tuple) and len(samples) == 2 and samples[0].dim() == 4:
            images, labels = samples
        else:
            images = torch.stack([image for image, _ in samples])
            labels = torch.stack([torch.as_tensor(label) for _, label in samples])
        if self.transform is not None:
            images = self.transform(images)
        return images, labels
