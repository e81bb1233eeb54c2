"""How hqnn-pl's speed depends on torch's thread count, on a quiet and on a busy machine.

Measures, in one run, interleaved so that background noise hits every setting alike:

1. ``hqnn-pl fit --config configs/quickstart.yaml --threads T`` wall time (and test accuracy) for
   each thread count T, with the machine quiet and with one extra process keeping one core busy
   (as another user's job would); the busy/quiet ratio per T is what ``--threads`` must keep
   small (target: <= 1.3x for the default).
2. ParallelQuantumLayer (q=5, c=4, depth 3, batch 256) forward+backward at each T, quiet and
   busy: the 1-thread rows.

Check ``uptime`` first: other load makes every row slower. Usage::

    python benchmarks/threads.py [--threads 1 2] [--repeats 2] [--epochs 15]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from machine import describe_machine

REPO = Path(__file__).resolve().parents[1]
LAYER_SCRIPT = """
import statistics, sys, time, torch
from hqnn_pl.quantum import ParallelQuantumLayer
torch.set_num_threads(int(sys.argv[1]))
torch.manual_seed(0)
layer = ParallelQuantumLayer(5, 4, 3)
x = torch.randn(256, 20, requires_grad=True)
def step():
    layer.zero_grad(set_to_none=True)
    x.grad = None
    layer(x).square().mean().backward()
for _ in range(5):
    step()
times = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
print(statistics.median(times))
"""


@contextmanager
def busy_core(busy: bool) -> Iterator[None]:
    """Keep one core busy with a spinning process while the block runs (if ``busy``)."""
    if not busy:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        spinner.kill()
        spinner.wait()


def quickstart(threads: int, epochs: int) -> tuple[float, float]:
    """Wall time (s) and test accuracy of one quickstart fit with ``--threads threads``."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable, "-m", "hqnn_pl", "fit",
                "--config", str(REPO / "configs" / "quickstart.yaml"),
                f"--threads={threads}", f"--trainer.max_epochs={epochs}",
                "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
            ],
            cwd=folder, check=True, capture_output=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        seconds = time.perf_counter() - start
        (metrics,) = Path(folder).glob("runs/quickstart/version_0/metrics.csv")
        rows = list(csv.DictReader(metrics.open()))
        accuracy = float(next(row["test/acc"] for row in rows if row.get("test/acc")))
    return seconds, accuracy


def layer_step(threads: int, repeats: int) -> float:
    """Median forward+backward seconds of HQNN-Parallel's quantum layer at ``threads``."""
    out = subprocess.run(
        [sys.executable, "-c", LAYER_SCRIPT, str(threads), str(repeats)],
        check=True, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    ).stdout  # fmt: skip
    return float(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2, help="runs per setting")
    parser.add_argument("--epochs", type=int, default=15, help="quickstart epochs (15: as shipped)")
    parser.add_argument("--layer_repeats", type=int, default=100)
    args = parser.parse_args()
    print(describe_machine(torch.device("cpu")))
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    settings = [(t, busy) for busy in (False, True) for t in args.threads]
    fits: dict[tuple[int, bool], list[tuple[float, float]]] = {s: [] for s in settings}
    layers: dict[tuple[int, bool], list[float]] = {s: [] for s in settings}
    for _ in range(args.repeats):
        for threads, busy in settings:
            with busy_core(busy):
                fits[threads, busy].append(quickstart(threads, args.epochs))
                layers[threads, busy].append(layer_step(threads, args.layer_repeats))

    print(f"\n[1] quickstart fit ({args.epochs} epochs) wall time, median of {args.repeats}")
    for threads in args.threads:
        quiet = statistics.median(s for s, _ in fits[threads, False])
        busy = statistics.median(s for s, _ in fits[threads, True])
        accuracies = sorted({f"{a:.4f}" for s in (False, True) for _, a in fits[threads, s]})
        print(
            f"  --threads {threads}: quiet {quiet:6.1f} s   one core busy {busy:6.1f} s   "
            f"busy/quiet {busy / quiet:5.2f}x   test acc {', '.join(accuracies)}"
        )
    print("\n[2] ParallelQuantumLayer q=5 c=4 depth 3 batch 256 fwd+bwd, median")
    for threads in args.threads:
        quiet = statistics.median(layers[threads, False])
        busy = statistics.median(layers[threads, True])
        print(
            f"  {threads} thread(s): quiet {quiet * 1e3:7.2f} ms   one core busy "
            f"{busy * 1e3:7.2f} ms   busy/quiet {busy / quiet:5.2f}x"
        )
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
