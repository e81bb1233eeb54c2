"""Checkpoint files: written whole or not at all, verified byte for byte when read."""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io import TorchCheckpointIO

from hqnn_pl.errors import ConfigurationError, DiskFullError
from hqnn_pl.run.files import DISK_ERRNOS, disk_error

#: Temporary files of :class:`AtomicCheckpointIO` (``.<name>.<pid>.partial``).
PARTIAL_PATTERN = ".*.partial"


def verify_checkpoint(path: Path | str) -> None:
    """Refuse a checkpoint file whose bytes changed after it was written.

    ``torch.save`` writes a zip archive whose every member carries a CRC-32 of its bytes;
    ``torch.load`` never checks them, so a flipped byte inside a tensor loads silently and
    gives wrong numbers. Every member is read and checked here (about 2 ms per 4 MB).

    Args:
        path: A checkpoint file (local).

    Raises:
        ConfigurationError: Naming the file and what is wrong with it: not a zip archive
            (truncated, or not written by ``torch.save``), or a member that fails its check.
    """
    hint = (
        "Give another checkpoint of the run (its checkpoints/ folder) or start a new run "
        "without --ckpt_path."
    )
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, EOFError, zlib.error) as error:
        raise ConfigurationError(
            f"The checkpoint {path} is damaged or truncated ({error}). {hint}"
        ) from None
    except OSError as error:
        raise ConfigurationError(
            f"The checkpoint {path} cannot be read ({error.strerror or error}). {hint}"
        ) from None
    if damaged is not None:
        raise ConfigurationError(
            f"The checkpoint {path} is damaged: its member {damaged} fails its CRC-32 check "
            f"(bytes changed after it was saved). {hint}"
        )


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Verify a checkpoint, then load its contents memory-mapped.

    Args:
        path: A ``.ckpt`` file.

    Returns:
        The checkpoint dictionary (tensors memory-mapped, not read).

    Raises:
        ConfigurationError: The file is damaged, truncated or not a Lightning checkpoint.
    """
    verify_checkpoint(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as error:  # torch raises RuntimeError, EOFError, UnpicklingError, ...
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise ConfigurationError(
            f"--ckpt_path {path}: not a readable checkpoint ({type(error).__name__}: {reason}); "
            "the file is truncated or corrupt. Give another checkpoint of the run (its "
            "checkpoints/ folder) or start a new run without --ckpt_path."
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ConfigurationError(
            f"--ckpt_path {path}: not a Lightning checkpoint (no state_dict). Give a .ckpt file "
            "written by hqnn-pl."
        )
    return checkpoint


def remove_partial_files(folder: Path) -> list[Path]:
    """Delete the temporary files a killed writer left in a checkpoint folder.

    Call it only while holding the run's lock: then no writer of this run is alive.

    Args:
        folder: A ``checkpoints/`` folder (may not exist).

    Returns:
        The files removed.
    """
    removed = sorted(folder.glob(PARTIAL_PATTERN)) if folder.is_dir() else []
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint whole or not at all, and verify each one it loads.

    Lightning's own writer stages local files in the system's temporary folder and moves them
    across file systems, which copies: a crash in that copy leaves a truncated ``last.ckpt``.
    Here the checkpoint goes to a hidden temporary file in the same folder, is flushed to disk
    and then renamed over the old file (``os.replace``, atomic on POSIX), so a reader sees the
    old checkpoint or the new one, never half of one. A write that fails (a full disk) leaves
    no temporary file and names the folder and its free space. Loading checks every member's
    CRC-32 first (:func:`verify_checkpoint`). Remote paths (``s3://``...) keep Lightning's
    reader and writer. The CLI installs it on every run's strategy.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        """Save ``checkpoint`` to ``path`` atomically."""
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        try:
            with partial.open("wb") as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(partial, path)
        except OSError as error:
            if error.errno not in DISK_ERRNOS:
                raise
            raise DiskFullError(disk_error(path.parent, error, "save a checkpoint")) from None
        finally:
            partial.unlink(missing_ok=True)

    def load_checkpoint(self, path: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Verify the file's checksums, then load it as Lightning does."""
        if "://" not in str(path):
            verify_checkpoint(path)
        return super().load_checkpoint(path, *args, **kwargs)
