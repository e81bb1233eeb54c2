r"""The ``hqnn-pl-compare`` command: configs over seeds, paired statistics, figures.

Examples::

    hqnn-pl-compare --config configs/fashion_mnist/hqnn_parallel.yaml \
        configs/fashion_mnist/cnn.yaml --seeds 5 --out runs/compare/fmnist_parallel \
        -- --trainer.max_epochs 10
    hqnn-pl-compare --report runs/compare/fmnist_parallel     # report only, no training
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hqnn_pl import __version__
from hqnn_pl.errors import ConfigurationError
from hqnn_pl.experiments.plan import (
    ConfigSpec,
    Manifest,
    Run,
    check_same_data,
    default_threads,
    labels_for,
    relative_config_path,
    resolve_config,
    run_folder,
    write_plan,
)
from hqnn_pl.experiments.runner import Outcome, Runner


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hqnn-pl-compare``."""
    parser = argparse.ArgumentParser(
        prog="hqnn-pl-compare",
        description=(
            "Run configs over seeds as ordinary `hqnn-pl fit` runs (resumable: a rerun skips "
            "finished runs and continues unfinished ones from their checkpoints), then write a "
            "report to --out: results.md, results.csv and PNG figures, with mean +- std, 95%% "
            "confidence intervals and a paired comparison of every config with the first one. "
            "CLI overrides for every run go after `--`."
        ),
        epilog="Example: hqnn-pl-compare --config configs/fashion_mnist/hqnn_parallel.yaml "
        "configs/fashion_mnist/cnn.yaml --seeds 5 --out runs/compare/fmnist -- "
        "--trainer.max_epochs 10",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config", nargs="+", metavar="YAML", help="config files; the first is the reference"
    )
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per config (5)")
    parser.add_argument("--out", type=Path, help="folder of the runs and the report")
    parser.add_argument("--parallel", type=int, default=1, help="runs at once (1)")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch/OpenMP threads per run (default: CPU cores // --parallel)",
    )
    parser.add_argument(
        "--plan-only",
        action="store_true",
        help="write plan/commands.txt and a W&B grid plan/sweep.yaml for a cluster; train nothing",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="LABEL:SEED",
        help="run only this (config label, seed) pair (repeatable; what the plan's lines use)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="regenerate the report from the run folders in DIR without training",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``hqnn-pl-compare``; bad input ends with one line on stderr and exit status 2."""
    args = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, extra = args[:cut], args[cut + 1 :]
    parser = build_parser()
    options = parser.parse_args(args)
    try:
        _main(options, extra)
    except ConfigurationError as error:
        print(f"hqnn-pl-compare: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _main(options: argparse.Namespace, extra: list[str]) -> None:
    from hqnn_pl.experiments.report import write_report

    if options.report is not None:
        if options.config or options.plan_only or options.only:
            raise ConfigurationError(
                "--report DIR only reads existing runs: leave out --config, --plan-only, --only."
            )
        manifest = Manifest.load(options.report)
        if manifest is None:
            raise ConfigurationError(
                f"--report {options.report}: no compare.json there; give the --out folder of an "
                "hqnn-pl-compare run."
            )
        print(write_report(options.report, manifest))
        return
    if not options.config or options.out is None:
        raise ConfigurationError("give --config (one or more files) and --out (or --report DIR).")
    if options.seeds < 1:
        raise ConfigurationError(f"--seeds must be at least 1, got {options.seeds}.")
    if options.parallel < 1 or options.threads < 0:
        raise ConfigurationError("--parallel must be >= 1 and --threads >= 0.")
    if options.seeds < 2:
        print(
            "hqnn-pl-compare: note: --seeds 1 gives no spread, confidence interval or test; "
            "the report lists the values only (use --seeds 2 or more, 5-10 for a comparison).",
            file=sys.stderr,
        )
    threads = options.threads or default_threads(options.parallel)
    specs = _specs(options.config, extra)
    manifest = Manifest.from_specs(specs, extra, options.seeds)
    existing = Manifest.load(options.out)
    if existing is not None:
        existing.check_matches(manifest, options.out)
        manifest.sessions = existing.sessions
        manifest.seeds = max(manifest.seeds, existing.seeds)
    runs = _runs(specs, options.seeds, options.out, options.only)
    if options.plan_only:
        manifest.save(options.out)
        commands, sweep = write_plan(options.out, specs, options.seeds, extra, threads)
        print(f"{len(runs)} runs planned: {commands} (one line per run), {sweep} (W&B grid).")
        print(f"Summarise afterwards with: hqnn-pl-compare --report {options.out}")
        return
    manifest.save(options.out)
    print(
        f"hqnn-pl-compare: {len(specs)} configs x {options.seeds} seeds into {options.out}, "
        f"{options.parallel} at once x {threads} threads ({os.cpu_count()} CPU cores)."
    )
    start = time.time()
    outcomes: list[Outcome] = []
    try:
        outcomes = Runner(specs, extra, options.parallel, threads).run_all(runs)
    finally:  # an interrupted invocation's wall time counts too
        elapsed = time.time() - start
        latest = Manifest.load(options.out) or manifest
        latest.sessions.append(
            {
                "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(start)),
                "wall_seconds": round(elapsed, 1),
                "runs_trained": sum(o.status in ("done", "failed") for o in outcomes),
                "interrupted": not outcomes,
                "parallel": options.parallel,
                "threads": threads,
                "cpu_count": os.cpu_count(),
                "machine": f"{platform.node()} {platform.machine()} {platform.processor()}".strip(),
                "only": options.only,
            }
        )
        latest.save(options.out)
    print(_outcome_summary(outcomes, elapsed))
    print(write_report(options.out, latest))
    if any(o.status == "failed" for o in outcomes):
        raise SystemExit(1)


def _specs(paths: list[str], extra: list[str]) -> list[ConfigSpec]:
    """Resolve every config (in parallel: each is a short child process) and check the data."""
    labels = labels_for(paths)
    with ThreadPoolExecutor(min(4, len(paths))) as pool:
        resolved = list(pool.map(lambda p: resolve_config(p, extra), paths))
    specs = [
        ConfigSpec(label, path, config, relative_config_path(path))
        for label, path, config in zip(labels, paths, resolved, strict=True)
    ]
    check_same_data(specs)
    return specs


def _runs(specs: list[ConfigSpec], seeds: int, out: Path, only: list[str] | None) -> list[Run]:
    # Seed-major order: an interrupted comparison still has complete seeds to pair.
    runs = [
        Run(s.label, seed, run_folder(out, s.label, seed)) for seed in range(seeds) for s in specs
    ]
    if not only:
        return runs
    wanted = set(only)
    known = {f"{r.label}:{r.seed}" for r in runs}
    unknown = sorted(wanted - known)
    if unknown:
        raise ConfigurationError(
            f"--only {', '.join(unknown)}: not a pair of this comparison; pairs are LABEL:SEED "
            f"with LABEL in {', '.join(s.label for s in specs)} and SEED in 0..{seeds - 1}."
        )
    return [r for r in runs if f"{r.label}:{r.seed}" in wanted]


def _outcome_summary(outcomes: list[Outcome], elapsed: float) -> str:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    lines = [
        f"{len(outcomes)} runs in {elapsed:.0f} s: "
        + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    ]
    lines += [
        f"  FAILED {o.run.label} seed {o.run.seed}: {o.message}"
        for o in outcomes
        if o.status == "failed"
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
