"""The plan of a comparison for a cluster: one resumable command per run, and a W&B grid."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

import yaml

from hqnn_pl.experiments.plan import ConfigSpec, Run, fit_command, only_key


def write_plan(
    out: Path,
    specs: Sequence[ConfigSpec],
    runs: Sequence[Run],
    seeds: int,
    extra: Sequence[str],
    threads: int,
    options: Sequence[str] = (),
) -> tuple[Path, Path]:
    """Write the runs for a cluster: ``plan/commands.txt`` and a W&B grid ``plan/sweep.yaml``.

    Each line of ``commands.txt`` runs one run with ``hqnn-pl-compare --only LABEL:SEED[:N]``,
    so it is resumable and lands in its pinned folder (a SLURM array can run line
    ``$SLURM_ARRAY_TASK_ID``); with ``--tune`` it first takes part in its config's study (the
    studies share ``--storage``, so the lines tune together and stop at the same budget).
    ``fit_commands.txt`` holds the plain ``hqnn-pl fit`` commands they start (without tuning:
    tuned values are known only after the studies). ``sweep.yaml`` is a W&B grid over the same
    runs, for ``wandb agent`` on each machine. Afterwards ``hqnn-pl-compare --report <out>``
    summarises the runs.

    Args:
        out: The comparison's folder.
        specs: The configs.
        runs: The runs planned.
        seeds: Seeds per config.
        extra: Overrides of every run (after ``--``).
        threads: Threads per run.
        options: Further ``hqnn-pl-compare`` options (sizes, tuning, margin) every line repeats.

    Returns:
        The paths of ``commands.txt`` and ``sweep.yaml``.
    """
    folder = out / "plan"
    folder.mkdir(parents=True, exist_ok=True)
    base = ["hqnn-pl-compare", "--config", *(s.path for s in specs), "--seeds", str(seeds)]
    base += ["--out", str(out), "--threads", str(threads), *options]
    tail = ["--", *extra] if extra else []
    ordered = sorted(runs, key=lambda r: ([s.label for s in specs].index(r.label), r.seed))
    keys = [only_key(r) for r in ordered]
    lines = [shlex.join([*base, "--only", key, *tail]) for key in keys]
    commands = folder / "commands.txt"
    commands.write_text("\n".join(lines) + "\n")
    by_label = {s.label: s for s in specs}
    tuned = "--tune" in options
    env = f"OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} "
    fits = [
        env + shlex.join(fit_command(by_label[r.label], r, extra, program=("hqnn-pl",)))
        for r in ordered
    ]
    if tuned:
        fits.insert(0, "# --tune: each run adds its study's best values; commands.txt does that.")
    (folder / "fit_commands.txt").write_text("\n".join(fits) + "\n")
    sweep = {
        "program": "hqnn-pl-compare",
        "name": f"compare-{out.name}",
        "method": "grid",
        "parameters": {"only": {"values": keys}},
        "command": ["${env}", *base, "${args}", *tail],
    }
    sweep_path = folder / "sweep.yaml"
    sweep_path.write_text(
        "# W&B grid over the runs of this comparison: `wandb sweep` this file,\n"
        "# then `wandb agent ENTITY/PROJECT/SWEEP_ID` on each machine (from the folder where the\n"
        "# config paths resolve, with --out on shared storage). Every run is an ordinary run\n"
        f"# folder under {out}/runs; summarise with: hqnn-pl-compare --report {out}\n"
        + yaml.safe_dump(sweep, sort_keys=False)
    )
    return commands, sweep_path
