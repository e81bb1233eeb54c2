"""One lock per run folder, handed from hqnn-pl-compare to the run it starts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hqnn_pl.run.lock import RunFolderLock
from tests.harness import subprocess_env

TAKE = (
    "import sys; from pathlib import Path; from hqnn_pl.run.lock import RunFolderLock\n"
    "try:\n    RunFolderLock(Path(sys.argv[1])).acquire()\nexcept Exception as e:\n"
    "    print(e); sys.exit(3)\n"
)


def take_in_child(folder: Path, lock: RunFolderLock, handed: bool) -> subprocess.CompletedProcess:
    env = subprocess_env(**(lock.child_env() if handed else {}))
    return subprocess.run(
        [sys.executable, "-c", TAKE, str(folder)],
        env=env, pass_fds=(lock.fd,), capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_held_lock_is_handed_to_a_child_and_refused_to_others(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    lock = RunFolderLock(folder)
    lock.acquire()
    assert RunFolderLock.is_held(folder)
    assert take_in_child(folder, lock, handed=True).returncode == 0
    refused = take_in_child(folder, lock, handed=False)
    assert refused.returncode == 3 and f"in use by process {os.getpid()}" in refused.stdout
    lock.release()
    assert not RunFolderLock.is_held(folder)


def test_a_lock_handed_for_another_folder_is_not_taken(tmp_path: Path) -> None:
    lock = RunFolderLock(tmp_path / "a")
    lock.acquire()
    other = RunFolderLock(tmp_path / "b")
    os.environ.update(lock.child_env())
    try:
        other.acquire()  # its own lock: the handed one is for another folder
        assert other.fd != lock.fd and RunFolderLock.is_held(tmp_path / "b")
    finally:
        os.environ.pop("HQNN_PL_RUN_LOCK")
        other.release()
        lock.release()
