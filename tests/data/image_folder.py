"""Write tiny class-per-folder image trees: ImageFolder layouts, Medical MNIST, kagglehub caches.

Images carry a bright square whose position depends on the class, on a seeded noise background,
so a model can learn them in a few steps. Run as a script:
``python -m tests.data.image_folder OUT_DIR`` writes a fake Medical MNIST.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from PIL import Image

#: Class folders of the Kaggle Medical MNIST (andrewmvd/medical-mnist).
MEDICAL_MNIST_CLASSES = ["AbdomenCT", "BreastMRI", "CXR", "ChestCT", "Hand", "HeadCT"]


def make_image(
    label: int, size: int | tuple[int, int], rgb: bool, rng: np.random.Generator
) -> Image.Image:
    """Return a PIL image: noise plus a bright square placed by ``label``."""
    width, height = (size, size) if isinstance(size, int) else size
    shape = (height, width, 3) if rgb else (height, width)
    pixels = rng.integers(0, 70, size=shape, dtype=np.uint8)
    row, col = divmod(label % 16, 4)
    h, w = max(height // 4, 1), max(width // 4, 1)
    pixels[row * h : (row + 1) * h, col * w : (col + 1) * w] = 255
    return Image.fromarray(pixels, "RGB" if rgb else "L")


def make_image_folder(
    root: Path,
    counts: Mapping[str, int],
    size: int | tuple[int, int] = 64,
    rgb: bool = True,
    suffix: str = ".jpg",
    seed: int = 0,
) -> Path:
    """Write ``root/<class>/<class>_<i><suffix>`` with ``counts[class]`` images per class.

    Args:
        root: The tree's root folder.
        counts: Images per class folder (0 makes an empty folder).
        size: Image side, or (width, height).
        rgb: Colour images rather than greyscale.
        suffix: File suffix, which also picks the format (``.jpg``, ``.jpeg``, ``.png``).
        seed: Seed of the noise.

    Returns:
        ``root``.
    """
    rng = np.random.default_rng(seed)
    for label, (name, count) in enumerate(counts.items()):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            make_image(label, size, rgb, rng).save(folder / f"{name}_{i:04d}{suffix}")
    return root


def make_medical_mnist(root: Path, per_class: int = 10, seed: int = 0) -> Path:
    """Write a fake Medical MNIST: six class folders of 64x64 greyscale ``.jpeg`` files."""
    counts = dict.fromkeys(MEDICAL_MNIST_CLASSES, per_class)
    return make_image_folder(root, counts, size=64, rgb=False, suffix=".jpeg", seed=seed)


def seed_kagglehub_dataset(
    cache_dir: Path, handle: str, version: int, write_files: Callable[[Path], object]
) -> Path:
    """Put a dataset version into a kagglehub cache, as ``kagglehub.dataset_download`` leaves it.

    kagglehub (1.x) keeps ``owner/name/versions/N`` in ``<cache>/datasets/owner/name/versions/N``
    and marks it complete with the empty file ``<cache>/datasets/owner/name/N.complete``; a
    versioned ``dataset_download`` then returns the folder without touching the network.

    Args:
        cache_dir: The cache (what ``KAGGLEHUB_CACHE`` points at).
        handle: ``owner/name``.
        version: The version number.
        write_files: Called with the version folder to fill it.

    Returns:
        The version folder.
    """
    owner, name = handle.split("/")
    dataset = cache_dir / "datasets" / owner / name
    folder = dataset / "versions" / str(version)
    folder.mkdir(parents=True, exist_ok=True)
    write_files(folder)
    (dataset / f"{version}.complete").touch()
    return folder


if __name__ == "__main__":
    make_medical_mnist(Path(sys.argv[1]))
