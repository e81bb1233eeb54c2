"""Files a run or a tool writes: whole or not at all, with one-line errors for full disks."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

from hqnn_pl.errors import ConfigurationError, DiskFullError

#: Errors of a file system that cannot take a write (full, over quota, read-only).
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


def check_output_folder(folder: Path | str, option: str = "--out") -> Path:
    """Create an output folder now, before any work, or refuse it in one line.

    Args:
        folder: The folder a tool will write to.
        option: The option that named it, for the message.

    Returns:
        The folder, created if it was missing.

    Raises:
        ConfigurationError: The path is a file, or the folder cannot be created or written.
    """
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise ConfigurationError(f"{option} {path} is a file; give a folder to write into.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ConfigurationError(
            f"{option} {path} cannot be written ({error.strerror or error}); give a writable "
            "folder."
        ) from None
    return path


def disk_error(folder: Path | str, error: OSError, what: str) -> str:
    """A one-line message for a failed write: the folder, the reason and its free space.

    Args:
        folder: Where the write went.
        error: The operating system's error.
        what: What was being written (``"save a checkpoint"``).

    Returns:
        ``"Could not save a checkpoint in runs/x: No space left on device (12.0 KB free)..."``.
    """
    return (
        f"Could not {what} in {folder}: {error.strerror or error} ({free_space(folder)}). "
        "Free some space or write elsewhere (--trainer.default_root_dir), then resume with "
        "--ckpt_path last."
    )


def free_space(folder: Path | str) -> str:
    """The space left to an ordinary user under ``folder``, in words (``"12.0 KB free"``)."""
    path = Path(folder)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        stats = os.statvfs(path)
    except OSError:
        return "free space unknown"
    size, unit = float(stats.f_bavail * stats.f_frsize), "B"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            break
        size /= 1024
    return f"{size:.0f} {unit} free" if unit == "B" else f"{size:.1f} {unit} free"


def disk_error_in(error: BaseException | None) -> OSError | None:
    """The full-disk (or read-only) OSError behind ``error``, following its causes."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


@contextlib.contextmanager
def atomic_path(path: Path, what: str) -> Iterator[Path]:
    """Write a file under a temporary name, then rename it into place.

    A failed write (a full disk) leaves neither the temporary file nor a partial ``path``;
    the old file, if any, stays as it was.

    Args:
        path: The file to write.
        what: What is written, for the error (``"draw curves.png"``).

    Yields:
        The temporary path to write to (same folder, same suffix).

    Raises:
        DiskFullError: The write failed for lack of space or a read-only file system, naming
            the folder and its free space.
    """
    partial = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        yield partial
        os.replace(partial, path)
    except OSError as error:
        if error.errno not in DISK_ERRNOS:
            raise
        raise DiskFullError(disk_error(path.parent, error, what)) from None
    finally:
        partial.unlink(missing_ok=True)


def remove_empty_files(folder: Path) -> list[Path]:
    """Delete the empty files under ``folder`` (writes that a full disk cut off at 0 bytes).

    No file hqnn-pl writes is valid when empty, so an empty one can only be a failed write
    (lock files, which are empty by design, stay).

    Args:
        folder: A run folder (may not exist).

    Returns:
        The files removed.
    """
    if not folder.is_dir():
        return []
    empty = [
        p
        for p in folder.rglob("*")
        if p.is_file() and not p.name.endswith(".lock") and p.stat().st_size == 0
    ]
    for path in empty:
        path.unlink(missing_ok=True)
    return empty
