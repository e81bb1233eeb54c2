"""Reading a comparison's run folders: test metrics, per-epoch curves, parameters, timing."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from hqnn_pl.experiments.runner import RUN_RECORD, is_finished

#: Test metrics of the report, in order.
TEST_METRICS = ("test/acc", "test/acc_top5", "test/f1", "test/loss")
#: Per-epoch metrics drawn as curves.
CURVE_METRICS = ("train/loss", "val/loss", "train/acc", "val/acc")
EPOCH_TIME = "time/epoch_s"
#: Exit statuses of a run stopped by SIGTERM/SIGINT (hqnn-pl's 143, or killed by the signal).
INTERRUPTED_STATUSES = frozenset({143, 130, -15, -2})


@dataclass
class RunResult:
    """What one run folder holds.

    Attributes:
        label: The config's label.
        seed: The seed.
        folder: The run folder.
        finished: Whether it has test metrics.
        test: Test metrics (``test/acc`` ...), from the last test row.
        curves: Per-epoch values: ``metric -> {epoch: value}``.
        params: ``parameter_counts.json`` (total, trainable, frozen, quantum, classical).
        epoch_seconds: Mean of the logged seconds per epoch (NaN when not logged).
        wall_seconds: Wall time of all attempts of this run (from ``compare_run.json``).
        threads: Threads per process of its last attempt.
        last_returncode: Exit status of its last attempt (None if never run by the tool).
        train_size: Images it trained on (``--train_sizes``); None: the whole split.
    """

    label: str
    seed: int
    folder: Path
    finished: bool
    test: dict[str, float] = field(default_factory=dict)
    curves: dict[str, dict[int, float]] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)
    epoch_seconds: float = math.nan
    wall_seconds: float = 0.0
    threads: int | None = None
    last_returncode: int | None = None
    train_size: int | None = None

    @property
    def status(self) -> str:
        """The run's state: finished, failed, interrupted, unfinished or not started.

        ``interrupted``: stopped by SIGTERM/SIGINT (resumable); ``unfinished``: started, no
        test metrics yet.
        """
        if self.finished:
            return "finished"
        if self.last_returncode in INTERRUPTED_STATUSES:
            return "interrupted"
        if self.last_returncode not in (None, 0):
            return "failed"
        return "unfinished" if self.folder.is_dir() else "not started"


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return value


def read_run(label: str, seed: int, folder: Path, train_size: int | None = None) -> RunResult:
    """Read one run folder (a missing or partial folder gives an unfinished result)."""
    result = RunResult(label, seed, folder, is_finished(folder), train_size=train_size)
    metrics = folder / "metrics.csv"
    if metrics.is_file():
        with metrics.open(newline="") as file:
            rows = list(csv.DictReader(file))
        tested = [r for r in rows if _number(r.get("test/acc")) is not None]
        if tested:
            last = tested[-1]
            result.test = {k: v for k in TEST_METRICS if (v := _number(last.get(k))) is not None}
        for row in rows:
            epoch = _number(row.get("epoch"))
            if epoch is None or _number(row.get("test/acc")) is not None:
                continue
            for key in (*CURVE_METRICS, EPOCH_TIME):
                value = _number(row.get(key))
                if value is not None:
                    result.curves.setdefault(key, {})[int(epoch)] = value
        times = list(result.curves.get(EPOCH_TIME, {}).values())
        if times:
            result.epoch_seconds = sum(times) / len(times)
    counts = folder / "parameter_counts.json"
    if counts.is_file():
        data = json.loads(counts.read_text())
        result.params = {k: int(v) for k, v in data.items() if isinstance(v, int)}
    record = folder / RUN_RECORD
    if record.is_file():
        attempts = json.loads(record.read_text()).get("attempts", [])
        result.wall_seconds = sum(float(a.get("seconds", 0.0)) for a in attempts)
        if attempts:
            result.threads = attempts[-1].get("threads")
            result.last_returncode = attempts[-1].get("returncode")
    return result


def collect(
    out: Path, labels: list[str], seeds: list[int], train_size: int | None = None
) -> dict[str, list[RunResult]]:
    """Read every (label, seed) run of one training-set size; ``label -> results`` by seed."""
    from hqnn_pl.experiments.plan import run_folder

    return {
        label: [
            read_run(label, seed, run_folder(out, label, seed, train_size), train_size)
            for seed in seeds
        ]
        for label in labels
    }


def seeds_on_disk(out: Path, labels: list[str], train_size: int | None = None) -> list[int]:
    """The seeds that have a run folder for any of ``labels`` (for ``--report``)."""
    from hqnn_pl.experiments.plan import size_folder

    seeds = {
        int(path.name.removeprefix("seed_"))
        for label in labels
        for path in (out / "runs" / label / size_folder(train_size)).glob("seed_*")
        if path.name.removeprefix("seed_").isdigit()
    }
    return sorted(seeds)
