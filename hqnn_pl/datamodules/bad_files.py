"""Data files that cannot be read, reported all at once before training."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_warn

from hqnn_pl.errors import ConfigurationError

#: Bad files named in a message; the full list goes to a warning.
MAX_FILES_SHOWN = 20


class BadFileError(ConfigurationError):
    """A data file that cannot be read.

    Args:
        path: The file.
        reason: What is wrong with it.
        fix: What the user should do (one sentence).
    """

    def __init__(self, path: Path, reason: str, fix: str) -> None:
        super().__init__(f"{path}: {reason}. {fix}")
        self.path = path
        self.reason = reason
        self.fix = fix

    def __reduce__(self) -> tuple[type, tuple[Path, str, str]]:
        """Pickle with the constructor's arguments (errors travel back from loader workers)."""
        return type(self), (self.path, self.reason, self.fix)


def raise_bad_files(owner: str, errors: Sequence[BadFileError]) -> None:
    """Raise one ConfigurationError naming every bad file; do nothing when there is none.

    The message is one line: up to :data:`MAX_FILES_SHOWN` files with their reasons, then the
    fix. When there are more, all of them are listed first in a warning, one per line.

    Args:
        owner: Who read the files (the datamodule's name), to start the message with.
        errors: The files that failed, in the order they were read.

    Raises:
        ConfigurationError: There is at least one error.
    """
    if not errors:
        return
    if len(errors) == 1:
        raise ConfigurationError(f"{owner}: {errors[0]}")
    if len(errors) > MAX_FILES_SHOWN:
        rank_zero_warn(
            f"{owner}: {len(errors)} unreadable files:\n"
            + "\n".join(f"  {error.path}: {error.reason}" for error in errors)
        )
    shown = "; ".join(f"{error.path} ({error.reason})" for error in errors[:MAX_FILES_SHOWN])
    more = len(errors) - MAX_FILES_SHOWN
    fixes = list(dict.fromkeys(error.fix for error in errors))
    raise ConfigurationError(
        f"{owner}: {len(errors)} unreadable files, found before training: {shown}"
        + (f"; and {more} more (all listed in the warning above)" if more > 0 else "")
        + ". "
        + " ".join(fixes)
    )
