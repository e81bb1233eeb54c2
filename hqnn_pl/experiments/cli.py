r"""The ``hqnn-pl-compare`` command: configs over seeds, paired statistics, figures.

Examples::

    hqnn-pl-compare --config configs/fashion_mnist/hqnn_parallel.yaml \
        configs/fashion_mnist/cnn.yaml --seeds 5 --out runs/compare/fmnist_parallel \
        -- --trainer.max_epochs 10
    hqnn-pl-compare --report runs/compare/fmnist_parallel     # report only, no training
    hqnn-pl-compare --config a.yaml b.yaml --seeds 5 --out runs/compare/curve \
        --train_sizes 100 300 1000 --tune 20 --search_space space.yaml --margin 0.01
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from hqnn_pl import __version__
from hqnn_pl.errors import ConfigurationError
from hqnn_pl.experiments.cluster import write_plan
from hqnn_pl.experiments.plan import (
    ConfigSpec,
    Manifest,
    Run,
    check_same_data,
    default_threads,
    labels_for,
    only_key,
    plan_runs,
    relative_config_path,
    resolve_config,
)
from hqnn_pl.experiments.runner import Outcome, Runner
from hqnn_pl.experiments.search_space import Parameter, check_keys, load_search_space, override_args
from hqnn_pl.experiments.subsets import check_train_sizes
from hqnn_pl.experiments.tuning import (
    Tuner,
    TuningError,
    TuningSettings,
    default_storage,
    study_key,
)
from hqnn_pl.run.training import check_trains


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
    science = parser.add_argument_group(
        "training-set sizes, tuning and equivalence",
        "Learning curves on stratified subsets, the same Optuna budget for every config before "
        "its seeds, and equivalence tests (TOST) against a margin.",
    )
    science.add_argument(
        "--train_sizes",
        type=int,
        nargs="+",
        metavar="N",
        help="train every config on stratified, seeded subsets of N training images (the same "
        "images for every config at a size and seed; validation and test unchanged); results, "
        "paired tests (Holm-corrected across sizes) and learning_curve.png per size",
    )
    science.add_argument(
        "--tune",
        type=int,
        metavar="N",
        help="before the seeds, an Optuna study of N trials per (config, size): TPE, pruning, "
        "maximising validation accuracy on --tune_seed; its best values train every seed",
    )
    science.add_argument(
        "--search_space",
        type=Path,
        metavar="YAML",
        help="mapping of CLI keys to {low, high[, log][, step]} or {choices: [...]} (--tune)",
    )
    science.add_argument(
        "--tune_seed",
        type=int,
        default=1000,
        help="the training and subset seed of every tuning trial; not an evaluation seed (1000)",
    )
    science.add_argument(
        "--storage",
        metavar="URL",
        help="the studies' database (default: sqlite:///<out>/tuning.db); e.g. "
        "postgresql+psycopg2://user:password@host/db (pip install 'hqnn-pl[postgres]') for "
        "several machines tuning together",
    )
    science.add_argument(
        "--margin",
        type=float,
        metavar="D",
        help="equivalence margin: two one-sided paired t-tests (TOST) against +-D next to the "
        "t and Wilcoxon tests; verdicts 'equivalent within +-D', 'different', 'inconclusive'",
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
    except TuningError as error:
        print(f"hqnn-pl-compare: {error}", file=sys.stderr)
        raise SystemExit(1) from None


def _main(options: argparse.Namespace, extra: list[str]) -> None:
    from hqnn_pl.experiments.report import write_report

    if options.margin is not None and not options.margin > 0:
        raise ConfigurationError(f"--margin must be positive, got {options.margin}.")
    if options.report is not None:
        run_options = (options.config, options.plan_only, options.only, options.train_sizes,
                       options.tune, options.search_space, options.storage)  # fmt: skip
        if any(o for o in run_options):
            raise ConfigurationError(
                "--report DIR only reads existing runs: leave out --config, --plan-only, --only, "
                "--train_sizes, --tune, --search_space and --storage (--margin may be given)."
            )
        manifest = Manifest.load(options.report)
        if manifest is None:
            raise ConfigurationError(
                f"--report {options.report}: no compare.json there; give the --out folder of an "
                "hqnn-pl-compare run."
            )
        if options.margin is not None:
            manifest.margin = options.margin
            manifest.save(options.report)
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
    sizes = sorted(set(options.train_sizes)) if options.train_sizes else None
    tuning_space = _check_tuning_options(options)
    specs = _specs(options.config, extra)
    manifest = Manifest.from_specs(specs, extra, options.seeds)
    manifest.train_sizes = sizes
    manifest.margin = options.margin
    settings = None
    if tuning_space is not None:
        check_keys(tuning_space, {s.label: s.resolved for s in specs})
        storage = options.storage or default_storage(options.out)
        settings = TuningSettings(options.tune, tuning_space, options.tune_seed, storage)
        manifest.tuning = settings.manifest_entry()
    existing = Manifest.load(options.out)
    if existing is not None:
        existing.check_matches(manifest, options.out)
        manifest.sessions = existing.sessions
        manifest.best = existing.best
        manifest.seeds = max(manifest.seeds, existing.seeds)
        if manifest.margin is None:
            manifest.margin = existing.margin
    if settings is not None and settings.seed < manifest.seeds:
        raise ConfigurationError(
            f"--tune_seed {settings.seed} is one of the evaluation seeds 0..{manifest.seeds - 1}:"
            f" give a --tune_seed of {manifest.seeds} or more."
        )
    if sizes:
        subset_seeds = [*range(manifest.seeds), *([settings.seed] if settings else [])]
        check_train_sizes(specs[0].resolved.get("data") or {}, sizes, subset_seeds)
    runs = _runs(specs, options.seeds, options.out, options.only, sizes)
    if options.plan_only:
        manifest.save(options.out)
        commands, sweep = write_plan(
            options.out, specs, runs, options.seeds, extra, threads, _plan_options(options)
        )
        print(f"{len(runs)} runs planned: {commands} (one line per run), {sweep} (W&B grid).")
        print(f"Summarise afterwards with: hqnn-pl-compare --report {options.out}")
        return
    runner = Runner(specs, extra, options.parallel, threads)
    tuner = None
    if settings is not None:
        options.out.mkdir(parents=True, exist_ok=True)  # the default SQLite file lives there
        tuner = Tuner(settings, specs, extra, runner, options.out)
        tuner.prepare(sorted({(r.label, r.train_size) for r in runs}, key=str))
    manifest.save(options.out)
    print(
        f"hqnn-pl-compare: {len(specs)} configs x {options.seeds} seeds"
        + (f" x {len(sizes)} training-set size(s)" if sizes else "")
        + (f", each tuned with {settings.trials} trials" if settings else "")
        + f" into {options.out}, {options.parallel} at once x {threads} threads "
        f"({os.cpu_count()} CPU cores)."
    )
    start = time.time()
    outcomes: list[Outcome] = []
    try:
        if tuner is not None:
            with runner.handling_signals():  # SIGTERM/SIGINT: trials checkpoint, rerun continues
                runs = _tune(tuner, runs, options.out, manifest)
        outcomes = runner.run_all(runs)
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
    for spec in specs:  # a run that trains nothing would report its untrained model
        check_trains(spec.resolved.get("trainer"))
    check_same_data(specs)
    return specs


def _check_tuning_options(options: argparse.Namespace) -> dict[str, Parameter] | None:
    """Check --tune, --search_space, --tune_seed and --storage; return the search space."""
    if options.tune is None:
        if options.search_space is not None or options.storage is not None:
            raise ConfigurationError("--search_space and --storage need --tune N (trials).")
        return None
    if options.tune < 1:
        raise ConfigurationError(
            f"--tune must be at least 1 trial per config, got {options.tune}; leave --tune out "
            "to train with the configs' own values."
        )
    if options.search_space is None:
        raise ConfigurationError("--tune needs --search_space FILE (the keys and their ranges).")
    if options.tune_seed < 0:
        raise ConfigurationError(f"--tune_seed must be >= 0, got {options.tune_seed}.")
    if options.tune_seed < options.seeds:
        raise ConfigurationError(
            f"--tune_seed {options.tune_seed} is one of the evaluation seeds "
            f"0..{options.seeds - 1}: give a --tune_seed of {options.seeds} or more."
        )
    return load_search_space(options.search_space)


def _plan_options(options: argparse.Namespace) -> list[str]:
    """The sizes, tuning and margin options every line of the plan repeats."""
    args: list[str] = []
    if options.train_sizes:
        args += ["--train_sizes", *map(str, sorted(set(options.train_sizes)))]
    if options.tune is not None:
        args += ["--tune", str(options.tune), "--search_space", str(options.search_space),
                 "--tune_seed", str(options.tune_seed)]  # fmt: skip
        if options.storage:
            args += ["--storage", options.storage]
    if options.margin is not None:
        args += ["--margin", str(options.margin)]
    return args


def _tune(tuner: Tuner, runs: list[Run], out: Path, manifest: Manifest) -> list[Run]:
    """Tune every (config, size) of ``runs`` in turn; return the runs with the tuned values.

    Each study's outcome is saved in ``compare.json`` as soon as it is known.
    """
    tuned: dict[tuple[str, int | None], tuple[str, ...]] = {}
    for label, size in dict.fromkeys((r.label, r.train_size) for r in runs):
        best = tuner.tune(label, size)
        latest = Manifest.load(out) or manifest
        latest.best[study_key(label, size)] = best
        latest.save(out)
        tuner.runner.report(
            f"tuned {study_key(label, size)}: {best['params']} (val/acc {best['value']:.4f}, "
            f"trial {best['trial']} of {best['budget']})"
        )
        tuned[(label, size)] = tuple(override_args(best["params"], list(tuner.settings.space)))
    return [replace(r, overrides=tuned[(r.label, r.train_size)]) for r in runs]


def _runs(
    specs: list[ConfigSpec],
    seeds: int,
    out: Path,
    only: list[str] | None,
    sizes: list[int] | None,
) -> list[Run]:
    # Seed-major order: an interrupted comparison still has complete seeds to pair.
    runs = plan_runs(specs, seeds, out, sizes)
    if not only:
        return runs
    wanted = set(only)
    known = {only_key(r) for r in runs}
    by_pair = {f"{r.label}:{r.seed}" for r in runs} if sizes else set()
    unknown = sorted(wanted - known - by_pair)
    if unknown:
        form = "LABEL:SEED:SIZE (or LABEL:SEED for every size)" if sizes else "LABEL:SEED"
        raise ConfigurationError(
            f"--only {', '.join(unknown)}: not a run of this comparison; runs are {form} "
            f"with LABEL in {', '.join(s.label for s in specs)} and SEED in 0..{seeds - 1}"
            + (f" and SIZE in {', '.join(map(str, sizes))}." if sizes else ".")
        )
    return [r for r in runs if only_key(r) in wanted or f"{r.label}:{r.seed}" in wanted]


def _outcome_summary(outcomes: list[Outcome], elapsed: float) -> str:
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    lines = [
        f"{len(outcomes)} runs in {elapsed:.0f} s: "
        + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    ]
    lines += [f"  FAILED {o.run.name}: {o.message}" for o in outcomes if o.status == "failed"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
