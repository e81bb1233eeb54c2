r"""Run configs over several seeds and print mean +- std of their test metrics.

Each (config, seed) pair is one ``hqnn-pl fit`` process (which tests the best checkpoint at the
end); ``--parallel`` runs that many at once, each limited to ``--threads`` CPU threads. The seed
is ``seed_everything``, i.e. the model's initialisation and the data order; the data subsets
and splits keep their own fixed seed, as in the paper's "10 random initialisations".

Example (the HQNN-Quanv protocol on the real Fashion-MNIST)::

    python benchmarks/multi_seed.py --seeds 10 --parallel 2 --config \
        configs/fashion_mnist/hqnn_quanv.yaml configs/fashion_mnist/cnn1.yaml \
        configs/fashion_mnist/cnn4.yaml
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

METRICS = ("test/acc", "test/acc_top5", "test/f1", "test/loss")


def run_one(config: Path, seed: int, out: Path, extra: list[str], threads: int) -> dict[str, float]:
    """Fit and test one config with one seed; return its final test metrics."""
    save_dir = out / config.stem / f"seed_{seed}"
    command = [
        sys.executable, "-m", "hqnn_pl", "fit",
        "--config", str(config),
        "--seed_everything", str(seed),
        "--trainer.logger.init_args.save_dir", str(save_dir),
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    save_dir.mkdir(parents=True, exist_ok=True)
    with (save_dir / "log.txt").open("w") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{config.name} seed {seed} failed; see {save_dir / 'log.txt'}")
    (metrics_file,) = sorted(save_dir.rglob("metrics.csv"))[-1:]
    rows = [row for row in csv.DictReader(metrics_file.open()) if row.get("test/acc")]
    return {key: float(rows[-1][key]) for key in METRICS if rows[-1].get(key)}


def summarise(results: dict[str, list[dict[str, float]]]) -> str:
    """Format a markdown table of mean +- sample std per config and metric."""
    keys = [key for key in METRICS if any(key in r for runs in results.values() for r in runs)]
    lines = [
        "| config | seeds | " + " | ".join(keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    for name, runs in results.items():
        cells = []
        for key in keys:
            values = [run[key] for run in runs if key in run]
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.4f} +- {std:.4f}")
        lines.append(f"| {name} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, nargs="+", required=True, help="config files")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 per config")
    parser.add_argument("--parallel", type=int, default=1, help="processes at once")
    parser.add_argument(
        "--threads", type=int, default=0, help="threads per process (0: cores/parallel)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/multi_seed"), help="run folders")
    parser.add_argument("extra", nargs="*", help="CLI overrides for every run, after --")
    args = parser.parse_args()
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.parallel)
    jobs = [(config, seed) for config in args.config for seed in range(args.seeds)]
    start = time.perf_counter()
    with ThreadPoolExecutor(args.parallel) as pool:
        futures = [
            pool.submit(run_one, config, seed, args.out, args.extra, threads)
            for config, seed in jobs
        ]
        outcomes = [future.result() for future in futures]
    results: dict[str, list[dict[str, float]]] = {}
    for (config, _), outcome in zip(jobs, outcomes, strict=True):
        results.setdefault(config.stem, []).append(outcome)
    elapsed = time.perf_counter() - start
    print(summarise(results))
    print(
        f"\n{len(jobs)} runs in {elapsed:.0f} s wall time, {args.parallel} at once x {threads} "
        f"threads, on {os.cpu_count()} CPU cores."
    )


if __name__ == "__main__":
    main()
