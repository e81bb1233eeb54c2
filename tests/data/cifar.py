"""Write a tiny CIFAR-10 in the published python format: ``cifar-10-batches-py`` pickles.

Each batch is a dict with bytes keys, as in the original Python 2 pickles: ``b"data"`` uint8
(N, 3072) (1024 red, then green, then blue values, row-major), ``b"labels"`` (list of N ints),
``b"batch_label"`` and ``b"filenames"``; ``batches.meta`` holds ``b"label_names"``.

Run as a script: ``python -m tests.data.cifar OUT_DIR``.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np

LABEL_NAMES = [
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


def _batch(rng: np.random.Generator, n: int, name: str, offset: int) -> dict[bytes, object]:
    labels = [(offset + i) % 10 for i in range(n)]
    images = rng.integers(0, 80, size=(n, 3, 32, 32), dtype=np.uint8)
    for i, label in enumerate(labels):
        # a bright square in a label-dependent place and colour channel
        row, col = divmod(label, 4)
        images[i, label % 3, row * 8 : row * 8 + 8, col * 8 : col * 8 + 8] = 255
    return {
        b"batch_label": name.encode(),
        b"labels": labels,
        b"data": images.reshape(n, 3072),
        b"filenames": [f"{name}_{i}.png".encode() for i in range(n)],
    }


def make_cifar10_dataset(
    data_dir: Path, n_per_batch: int = 12, n_test: int = 20, seed: int = 0
) -> Path:
    """Write ``data_dir/cifar-10-batches-py`` with five training batches and a test batch.

    Returns:
        The ``cifar-10-batches-py`` folder.
    """
    rng = np.random.default_rng(seed)
    folder = data_dir / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    batches = {f"data_batch_{i}": n_per_batch for i in range(1, 6)} | {"test_batch": n_test}
    for offset, (name, n) in enumerate(batches.items()):
        with (folder / name).open("wb") as file:
            pickle.dump(_batch(rng, n, name, offset), file, protocol=2)
    meta = {b"num_cases_per_batch": n_per_batch, b"label_names": [n.encode() for n in LABEL_NAMES]}
    with (folder / "batches.meta").open("wb") as file:
        pickle.dump(meta, file, protocol=2)
    return folder


if __name__ == "__main__":
    make_cifar10_dataset(Path(sys.argv[1]))
