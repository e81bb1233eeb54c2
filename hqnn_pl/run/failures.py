"""Failures a user can fix, found behind whatever wrapped them, and said in one line."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from lightning.pytorch.utilities.exceptions import MisconfigurationException

from hqnn_pl.errors import ConfigurationError, DiskFullError
from hqnn_pl.run.files import disk_error, disk_error_in, remove_empty_files

_E = TypeVar("_E", bound=BaseException)


def one_line_error(error: BaseException, run_dirs: list[Path]) -> str | None:
    """The message of an error the user can fix (a setting, a full disk), or None.

    jsonargparse and Lightning wrap the errors of the classes they build, so the chain of
    causes is searched. A full disk also removes the empty files its failed writes left in the
    run folders.

    Args:
        error: What ended the command.
        run_dirs: The run folders the command wrote to.

    Returns:
        One line for stderr, or None for an error that is a bug (its traceback is wanted).
    """
    full = disk_error_in(error)
    said = cause_of_type(error, DiskFullError)
    if full is not None or said is not None:
        for folder in run_dirs:
            remove_empty_files(folder)
    if said is not None:
        return str(said)
    cause = cause_of_type(error, ConfigurationError)
    if cause is not None:
        return str(cause)
    misconfiguration = cause_of_type(error, MisconfigurationException)
    if misconfiguration is not None:
        return " ".join(str(misconfiguration).split())
    if full is None:
        return None
    folder = run_dirs[0] if run_dirs else Path(full.filename or ".").parent
    return disk_error(folder, full, "write the run")


def cause_of_type(error: BaseException | None, kind: type[_E]) -> _E | None:
    """The first exception of type ``kind`` in ``error``'s chain of causes and contexts."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, kind):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
