"""RunFolderLock: one process at a time in a run folder, with no stale locks after SIGKILL."""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from hqnn_pl.errors import ConfigurationError

#: Files a run folder holds before its first checkpoint or metrics: a start that failed.
START_ONLY_FILES = frozenset({"config.yaml", "hparams.yaml", "metrics.csv"})
#: Environment variable through which a process hands its held lock to a child it starts
#: (``<fd>:<lock file>``, the descriptor passed with ``pass_fds``), e.g. hqnn-pl-compare's runs.
INHERITED_LOCK_ENV = "HQNN_PL_RUN_LOCK"


class RunFolderLock:
    """An exclusive ``flock`` on ``<run folder>/.lock`` that names the process holding it.

    The operating system releases the lock when the process ends in any way (SIGKILL included),
    so a crash never leaves a stale lock; the file itself may stay and is harmless. A second
    process that wants the same run folder (``--ckpt_path last`` while the run still trains, two
    sweeps pinned to one version) is refused with the folder and the holder's process id. A
    process that holds the lock can hand it to a child (:meth:`child_env`), which then runs
    in the folder under the same lock: ``hqnn-pl-compare`` holds each run's lock while its
    ``hqnn-pl fit`` child trains, so no other comparison can start that run meanwhile.

    Args:
        run_dir: The run folder (created if missing).
    """

    FILENAME = ".lock"

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / self.FILENAME
        self.created = False
        self._fd: int | None = None
        self._inherited = False

    @property
    def fd(self) -> int | None:
        """The descriptor holding the lock (None while not held)."""
        return self._fd

    def child_env(self) -> dict[str, str]:
        """Environment entries that hand this held lock to a child (pass :attr:`fd` too)."""
        if self._fd is None:
            raise RuntimeError(f"{self.path} is not held by this process")
        return {INHERITED_LOCK_ENV: f"{self._fd}:{self.path.absolute()}"}

    @classmethod
    def is_held(cls, run_dir: Path) -> bool:
        """Whether some process holds the lock of ``run_dir`` (its own lock included)."""
        path = Path(run_dir) / cls.FILENAME
        if not path.is_file():
            return False
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def acquire(self) -> None:
        """Take the lock, creating the folder; remember whether this process created it.

        Raises:
            ConfigurationError: Another live process holds the lock, or the folder cannot be
                written.
        """
        self.created = not self.run_dir.exists()
        if self._adopt_inherited():
            return
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise ConfigurationError(
                f"Cannot write the run folder {self.run_dir} ({error.strerror}). Choose a "
                "writable place with --trainer.default_root_dir or the logger's save_dir."
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ConfigurationError(
                f"The run folder {self.run_dir} is in use by process {holder}, which holds "
                f"{self.path}. Wait for it to end (or stop it), or start a new run without "
                "--ckpt_path."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self, failed_start: bool = False) -> None:
        """Release the lock; after a failed start, remove a folder this process created.

        Args:
            failed_start: The run ended in an error. The folder is removed only when this
                process created it and it holds nothing but files written at start
                (:data:`START_ONLY_FILES`), so no checkpoint or metric is ever deleted.
        """
        if self._fd is None:
            return
        if self._inherited:  # the parent that handed it over holds and releases it
            self._fd = None
            return
        if failed_start and self.created and self._holds_only_start_files():
            shutil.rmtree(self.run_dir, ignore_errors=True)
        os.close(self._fd)  # closing the descriptor releases the flock
        self._fd = None

    def _adopt_inherited(self) -> bool:
        """Take over this folder's lock when the parent process handed it down."""
        handed = os.environ.get(INHERITED_LOCK_ENV, "")
        fd_text, _, path = handed.partition(":")
        if not fd_text.isdigit() or Path(path) != self.path.absolute():
            return False
        fd = int(fd_text)
        try:
            if not os.path.samestat(os.fstat(fd), os.stat(self.path)):
                return False
        except OSError:
            return False
        self._fd, self._inherited = fd, True
        return True

    def _holds_only_start_files(self) -> bool:
        for path in self.run_dir.rglob("*"):
            if path.is_dir() or path.name == self.FILENAME:
                continue
            if path.name not in START_ONLY_FILES or path.parent != self.run_dir:
                return False
            if path.name == "metrics.csv" and len(path.read_text().splitlines()) > 1:
                return False
        return True
