"""Write tiny MNIST-style datasets as IDX files, the format LeCun's MNIST and Fashion-MNIST ship in.

Run as a script to (re)create a fake dataset folder: ``python -m tests.data.idx OUT_DIR``.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """Write a uint8 array as an IDX file: magic 0x0000 08 <ndim>, big-endian dims, then data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in array.shape
    )
    data = header + array.tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_idx_dataset(
    folder: Path,
    n_train: int = 60,
    n_test: int = 20,
    side: int = 28,
    num_classes: int = 10,
    compress: bool = False,
    seed: int = 0,
) -> Path:
    """Write train and test IDX files of random images whose labels cycle through the classes.

    Each image carries a bright square whose position depends on its label, so a model can learn
    the task in a few steps.
    """
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        labels = np.arange(n) % num_classes
        images = rng.integers(0, 60, size=(n, side, side))
        for i, label in enumerate(labels):
            row, col = divmod(int(label), 4)
            step = side // 4
            images[i, row * step : (row + 1) * step, col * step : (col + 1) * step] = 255
        image_file, label_file = FILES[split]
        write_idx(folder / image_file, images, compress)
        write_idx(folder / label_file, labels, compress)
    return folder


if __name__ == "__main__":
    make_idx_dataset(Path(sys.argv[1]))
