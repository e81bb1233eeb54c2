"""AtomicCheckpointIO: checkpoints written to a temporary file, then renamed into place."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint whole or not at all.

    Lightning's own writer stages local files in the system's temporary folder and moves them
    across file systems, which copies: a crash in that copy leaves a truncated ``last.ckpt``.
    Here the checkpoint goes to a hidden temporary file in the same folder, is flushed to disk
    and then renamed over the old file (``os.replace``, atomic on POSIX), so a reader sees the
    old checkpoint or the new one, never half of one. Remote paths (``s3://``...) keep
    Lightning's writer. The CLI installs it on every run's strategy.
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
        finally:
            partial.unlink(missing_ok=True)
