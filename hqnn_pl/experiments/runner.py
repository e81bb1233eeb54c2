"""Running a comparison's (config, seed) pairs: skip finished runs, resume unfinished ones.

Each run is an ``hqnn-pl fit`` child process in its pinned folder (see
:mod:`hqnn_pl.experiments.plan`). A run is *finished* when its ``metrics.csv`` holds test
metrics; an unfinished one restarts from the newer of its ``last.ckpt`` and
``on_exception.ckpt`` (the explicit file, with the folder pinned, so nothing else can be picked).
While a run trains, its folder holds the CLI's own lock (:class:`~hqnn_pl.run.lock.RunFolderLock`
on ``.lock``, handed to the child and released by the kernel when both are gone), so two
comparisons never train the same run, even right after one was killed. Children die
with the tool (``PR_SET_PDEATHSIG``): a killed tool leaves no orphan training in its folders.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.experiments.plan import ConfigSpec, Run, child_env, fit_command
from hqnn_pl.run.lock import RunFolderLock

#: Checkpoints an unfinished run restarts from (the newer one).
RESUME_CHECKPOINTS = ("last.ckpt", "on_exception.ckpt")
LOG_FILE = "log.txt"
RUN_RECORD = "compare_run.json"


def _print_line(line: str) -> None:
    """Print one progress line and flush it."""
    print(line, flush=True)


@dataclass
class Outcome:
    """What happened to one run in this invocation.

    Attributes:
        run: The run.
        status: ``finished`` (skipped: done before), ``done`` (trained now), ``failed``,
            ``busy`` (another process holds its folder) or ``interrupted``.
        seconds: Wall time of the child process (0 when skipped).
        resumed_from: The checkpoint it restarted from, if any.
        message: For failures: the last lines of its log.
    """

    run: Run
    status: str
    seconds: float = 0.0
    resumed_from: Path | None = None
    message: str = ""


def is_finished(folder: Path) -> bool:
    """Whether the run in ``folder`` trained and was tested.

    It needs test metrics and at least one epoch's training metrics: a run whose test followed
    no training (an untrained model) never counts as a result.
    """
    path = folder / "metrics.csv"
    if not path.is_file():
        return False
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    tested = any((row.get("test/acc") or "").strip() for row in rows)
    trained = any((row.get("train/loss") or "").strip() for row in rows)
    return tested and trained


def resume_checkpoint(folder: Path) -> Path | None:
    """The newer of the run's ``last.ckpt`` and ``on_exception.ckpt``; None if it has neither."""
    files = [folder / "checkpoints" / name for name in RESUME_CHECKPOINTS]
    existing = [f for f in files if f.is_file() and f.stat().st_size > 0]
    return max(existing, key=lambda f: f.stat().st_mtime) if existing else None


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[RunFolderLock | None]:
    """Hold the run folder's lock (:class:`~hqnn_pl.run.lock.RunFolderLock`), the CLI's own.

    Yields:
        The held lock (hand it to the child with :meth:`RunFolderLock.child_env` and its
        ``fd``, so the child trains under it), or None when another process holds it.
    """
    lock = RunFolderLock(folder)
    try:
        lock.acquire()
    except ConfigurationError:
        yield None
        return
    try:
        yield lock
    finally:
        lock.release()


def is_locked(folder: Path) -> bool:
    """Whether a process (a comparison or its child) holds the run folder's lock."""
    return RunFolderLock.is_held(folder)


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the tool dies (Linux; a no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Runner:
    """Run the pairs in a local process pool.

    Args:
        specs: The configs, by label.
        extra: Overrides for every run (after ``--``).
        parallel: Runs at once.
        threads: Intra-op threads per run (``OMP_NUM_THREADS``, read by torch at start).
        report: Called with a line of progress.
    """

    def __init__(
        self,
        specs: Sequence[ConfigSpec],
        extra: Sequence[str],
        parallel: int,
        threads: int,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.specs = {s.label: s for s in specs}
        self.extra = list(extra)
        self.parallel = parallel
        self.threads = threads
        self._report = report or _print_line
        self._children: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._report_lock = threading.Lock()
        self._stopping = False

    def run_all(self, runs: Sequence[Run]) -> list[Outcome]:
        """Run every unfinished run; SIGTERM/SIGINT stop the children (they checkpoint)."""
        todo = [r for r in runs if not is_finished(r.folder)]
        outcomes = {r: Outcome(r, "finished") for r in runs if r not in todo}
        if outcomes:
            self.report(f"{len(outcomes)} of {len(runs)} runs finished before: skipped.")
        with self.handling_signals(), ThreadPoolExecutor(max(1, self.parallel)) as pool:
            for outcome in pool.map(self._run_one, todo, range(1, len(todo) + 1)):
                outcomes[outcome.run] = outcome
        return [outcomes[r] for r in runs]

    @contextlib.contextmanager
    def handling_signals(self) -> Iterator[None]:
        """While inside, SIGTERM/SIGINT stop the children; leaving after a signal exits 143."""
        previous = {
            sig: signal.signal(sig, self._stop)
            for sig in (signal.SIGTERM, signal.SIGINT)
            if threading.current_thread() is threading.main_thread()
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self._stopping:
            raise SystemExit(143)

    @property
    def stopping(self) -> bool:
        """Whether a signal asked the runs to stop."""
        return self._stopping

    def run_in_folder(
        self,
        run: Run,
        command_for: Callable[[Path | None], list[str]],
        env: dict[str, str] | None = None,
    ) -> tuple[int | None, float]:
        """Run one command in ``run``'s folder under its lock, continuing from its checkpoint.

        For runs that are not judged by test metrics (tuning trials): no finished check.

        Args:
            run: The run (its folder is locked, logged into and recorded in).
            command_for: The command, given the checkpoint to continue from (or None).
            env: Extra environment variables of the child.

        Returns:
            The exit status (None when another process holds the folder) and the seconds taken.
        """
        with folder_lock(run.folder) as lock:
            if lock is None:
                return None, 0.0
            checkpoint = resume_checkpoint(run.folder)
            if checkpoint is None:
                (run.folder / "metrics.csv").unlink(missing_ok=True)
            start = time.perf_counter()
            returncode = self._execute(command_for(checkpoint), run.folder, lock, env)
            seconds = time.perf_counter() - start
            self._record(run, returncode, seconds, checkpoint)
        return returncode, seconds

    def report(self, line: str) -> None:
        """Pass one progress line on; lines of runs in parallel threads never interleave."""
        with self._report_lock:
            self._report(line)

    def _stop(self, signum: int, frame: object) -> None:
        del frame
        self._stopping = True
        self.report(f"hqnn-pl-compare: stopping on signal {signum}; runs save their checkpoints.")
        with self._lock:
            for child in self._children:
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)

    def _run_one(self, run: Run, index: int) -> Outcome:
        if self._stopping:
            return Outcome(run, "interrupted")
        with folder_lock(run.folder) as lock:
            if lock is None:
                self.report(f"{run.name}: another process is training it; left.")
                return Outcome(run, "busy")
            if is_finished(run.folder):  # finished by another process meanwhile
                return Outcome(run, "finished")
            checkpoint = resume_checkpoint(run.folder)
            if checkpoint is None:  # starting over: the partial metrics of a killed start go
                (run.folder / "metrics.csv").unlink(missing_ok=True)
            command = fit_command(self.specs[run.label], run, self.extra, checkpoint)
            how = f"resuming from {checkpoint.name}" if checkpoint else "starting"
            self.report(f"[{index}] {run.name}: {how} ({run.folder})")
            start = time.perf_counter()
            returncode = self._execute(command, run.folder, lock)
            seconds = time.perf_counter() - start
            self._record(run, returncode, seconds, checkpoint)
        if returncode == 0 and is_finished(run.folder):
            self.report(f"[{index}] {run.name}: done in {seconds:.0f} s")
            return Outcome(run, "done", seconds, checkpoint)
        if self._stopping:
            return Outcome(run, "interrupted", seconds, checkpoint)
        tail = _log_tail(run.folder / LOG_FILE)
        self.report(
            f"[{index}] {run.name}: FAILED (exit {returncode}) after "
            f"{seconds:.0f} s; see {run.folder / LOG_FILE}"
        )
        return Outcome(run, "failed", seconds, checkpoint, tail)

    def _execute(
        self,
        command: list[str],
        folder: Path,
        lock: RunFolderLock,
        env: dict[str, str] | None = None,
    ) -> int:
        with (folder / LOG_FILE).open("ab") as log:
            log.write(f"\n$ {' '.join(command)}\n".encode())
            log.flush()
            with self._lock:
                if self._stopping:
                    return 143
                child = subprocess.Popen(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**child_env(self.threads), **lock.child_env(), **(env or {})},
                    preexec_fn=_die_with_parent,
                    pass_fds=(lock.fd,),  # the child trains under the folder's lock
                )
                self._children.add(child)
            try:
                return child.wait()
            finally:
                with self._lock:
                    self._children.discard(child)

    def _record(self, run: Run, returncode: int, seconds: float, checkpoint: Path | None) -> None:
        """Append this attempt to ``compare_run.json`` (wall time, threads, exit status)."""
        path = run.folder / RUN_RECORD
        attempts = json.loads(path.read_text())["attempts"] if path.is_file() else []
        attempts.append(
            {
                "returncode": returncode,
                "seconds": round(seconds, 2),
                "threads": self.threads,
                "parallel": self.parallel,
                "resumed_from": str(checkpoint) if checkpoint else None,
                "cpu_count": os.cpu_count(),
                "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
        path.write_text(json.dumps({"attempts": attempts}, indent=2) + "\n")


def _log_tail(path: Path, lines: int = 3) -> str:
    """The last non-empty lines of a log, for the failure report."""
    if not path.is_file():
        return ""
    kept = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return " | ".join(kept[-lines:])[-600:]
