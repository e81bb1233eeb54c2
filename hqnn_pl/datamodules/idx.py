"""Reading and locating IDX files, the on-disk format of MNIST and Fashion-MNIST."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import torch
from torch import Tensor

from hqnn_pl.datamodules.bad_files import BadFileError

#: IDX type code 0x08: unsigned bytes, the only element type MNIST-like datasets use.
_UBYTE = 0x08
_FIX = "Replace bad files with the dataset's original files (or delete them and download again)."


def read_idx(path: Path) -> Tensor:
    """Read an IDX file of unsigned bytes, plain or gzip-compressed (by its ``.gz`` suffix).

    Reading checks the whole file: gzip's CRC, the IDX header and that the size matches it.

    Args:
        path: The file.

    Returns:
        A uint8 tensor with the file's dimensions, e.g. (N, 28, 28) for images, (N,) for labels.

    Raises:
        BadFileError: The file cannot be read or is not an IDX file of unsigned bytes.
    """
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise BadFileError(path, f"cannot read this IDX file ({error})", _FIX) from error
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != _UBYTE or not 1 <= data[3] <= 4:
        raise BadFileError(
            path, f"not an IDX file of unsigned bytes (header {data[:4].hex()})", _FIX
        )
    n_dims = data[3]
    header = 4 + 4 * n_dims
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims)]
    expected = header + int(torch.tensor(shape).prod())
    if len(data) != expected:
        raise BadFileError(
            path,
            f"truncated or corrupt: its header promises shape {shape} ({expected} bytes) but "
            f"it holds {len(data)} bytes",
            _FIX,
        )
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).view(*shape)


def locate_idx_files(data_dir: Path, folder: str, names: list[str]) -> dict[str, Path] | None:
    """Find IDX files, plain or ``.gz``, where users and torchvision put them.

    Looks in ``data_dir/<folder>/raw`` (torchvision's layout), ``data_dir/<folder>``,
    ``data_dir/raw`` and ``data_dir`` itself (e.g. Debian's /usr/share/datasets/fashion-mnist).

    Args:
        data_dir: Where the user said the data is.
        folder: The dataset's folder name in torchvision's layout, e.g. ``MNIST``.
        names: Uncompressed file names, e.g. ``train-images-idx3-ubyte``.

    Returns:
        Each name mapped to the path of the file found, from the first folder holding all of
        them, or ``None`` when no folder does.
    """
    for directory in (data_dir / folder / "raw", data_dir / folder, data_dir / "raw", data_dir):
        found = {}
        for name in names:
            for candidate in (directory / name, directory / f"{name}.gz"):
                if candidate.is_file():
                    found[name] = candidate
                    break
        if len(found) == len(names):
            return found
    return None
