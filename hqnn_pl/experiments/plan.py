"""Planning a comparison: the configs, their resolved settings, the runs and their folders.

A comparison is a list of configs run over seeds ``0 .. N-1`` (``seed_everything``: the model's
initialisation and the data order; the data splits keep their own ``data.seed``). Every
(config, seed) pair is an ordinary ``hqnn-pl fit`` run whose folder is pinned under ``--out``::

    <out>/compare.json                  the configs of this comparison (see Manifest)
    <out>/runs/<label>/seed_<s>/        the run folder (config.yaml, metrics.csv, checkpoints/)
    <out>/runs/<label>/seed_<s>/log.txt the run's console output
    <out>/runs/<label>/n<N>/seed_<s>/   with --train_sizes: the run on N training images
    <out>/tuning/<label>[/n<N>]/trial_<k>/  with --tune: the run of trial k (see tuning)
    <out>/tuning.db                     with --tune: the Optuna studies (SQLite)
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hqnn_pl.errors import ConfigurationError

#: Data settings that say how the data is loaded, not which images are in which split.
LOADER_KEYS = frozenset(
    {"batch_size", "num_workers", "pin_memory", "persistent_workers", "transform_on", "download",
     "data_dir"}
)  # fmt: skip
#: Callbacks every compared run gets (seconds per epoch; exact parameter counts).
COMPARE_CALLBACKS = ("hqnn_pl.callbacks.EpochTimer", "hqnn_pl.callbacks.ParameterCount")
MANIFEST = "compare.json"


@dataclass
class ConfigSpec:
    """One config of a comparison.

    Attributes:
        label: Short unique name (the file's stem; with its folder when stems repeat).
        path: The config file as given.
        resolved: The resolved config (``hqnn-pl fit --print_config``), with the extra overrides.
        relative: The path below a ``configs/`` folder (``fashion_mnist/cnn.yaml``), for the
            papers' figures; the file name when there is no such folder.
    """

    label: str
    path: str
    resolved: dict[str, Any] = field(default_factory=dict)
    relative: str = ""

    @property
    def model_class(self) -> str:
        """The model's class name."""
        return str((self.resolved.get("model") or {}).get("class_path", "?")).rsplit(".", 1)[-1]

    @property
    def digest(self) -> str:
        """Hash of what the config trains (model, data, trainer; not logger, seed, callbacks)."""
        trainer = dict(self.resolved.get("trainer") or {})
        for key in ("logger", "callbacks", "enable_progress_bar", "enable_model_summary"):
            trainer.pop(key, None)
        content = {
            "model": self.resolved.get("model"),
            "data": self.resolved.get("data"),
            "trainer": trainer,
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Run:
    """One (config, seed) pair and its pinned run folder.

    Attributes:
        label: The config's label.
        seed: The seed (``seed_everything``, and the training subset's seed).
        folder: The pinned run folder.
        train_size: Train on a stratified subset of this many images (None: the whole split).
        overrides: CLI overrides of this run only (the tuned hyperparameters), after ``--``'s.
    """

    label: str
    seed: int
    folder: Path
    train_size: int | None = None
    overrides: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """``label seed s`` (``label n=N seed s`` with a training-set size), for messages."""
        size = f" n={self.train_size}" if self.train_size is not None else ""
        return f"{self.label}{size} seed {self.seed}"


def labels_for(paths: Sequence[str]) -> list[str]:
    """Short unique labels: file stems, prefixed by their folder where stems repeat."""
    resolved = [str(Path(p).resolve()) for p in paths]
    twice = sorted({p for p, r in zip(paths, resolved, strict=True) if resolved.count(r) > 1})
    if twice:
        raise ConfigurationError(
            f"The same config is given twice ({', '.join(twice)}): give each config once."
        )
    stems = [Path(p).stem for p in paths]
    labels = [
        f"{Path(p).parent.name}-{Path(p).stem}" if stems.count(Path(p).stem) > 1 else Path(p).stem
        for p in paths
    ]
    if len(set(labels)) != len(labels):
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        raise ConfigurationError(
            f"Configs {', '.join(repeated)} share a folder and file name: rename one of them."
        )
    return labels


def relative_config_path(path: str) -> str:
    """The part of ``path`` below its last ``configs`` folder, or its file name."""
    parts = Path(path).resolve().parts
    if "configs" in parts:
        index = len(parts) - 1 - parts[::-1].index("configs")
        return "/".join(parts[index + 1 :])
    return Path(path).name


def resolve_config(path: str, extra: Sequence[str]) -> dict[str, Any]:
    """The resolved config of ``hqnn-pl fit --config path <extra>``, without instantiating it.

    Raises:
        ConfigurationError: When the file is missing or the CLI refuses the config, with the
            CLI's own last error line.
    """
    if not Path(path).is_file():
        raise ConfigurationError(f"--config {path}: no such file.")
    command = [sys.executable, "-m", "hqnn_pl", "fit", "--config", path, *extra, "--print_config"]
    result = subprocess.run(command, capture_output=True, text=True, env=child_env(1))
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        reason = next(
            (line for line in reversed(lines) if "error" in line.lower()),
            lines[-1] if lines else "",
        )
        hint = ""
        if "quantum_block" in result.stderr:
            hint = (
                " quantum_block applies to quantum models only (HQNNParallel, HQNNQuanv, QPCNN, "
                "RandomQuanvNet, ResNetHQNN); this config's model has no quantum block."
            )
        raise ConfigurationError(f"{path} does not parse: {reason.strip()}{hint}")
    return yaml.safe_load(result.stdout)


def data_identity(resolved: dict[str, Any]) -> dict[str, Any]:
    """The data settings that decide the images and splits (loader settings left out)."""
    data = resolved.get("data") or {}
    init_args = {k: v for k, v in (data.get("init_args") or {}).items() if k not in LOADER_KEYS}
    return {"class_path": data.get("class_path"), **init_args}


def check_same_data(specs: Sequence[ConfigSpec]) -> None:
    """Refuse configs whose datamodules differ: a paired comparison needs the same data.

    Raises:
        ConfigurationError: Naming the first differing settings.
    """
    first = specs[0]
    reference = data_identity(first.resolved)
    for spec in specs[1:]:
        other = data_identity(spec.resolved)
        keys = sorted(set(reference) | set(other))
        differences = [
            f"data.{'init_args.' if key != 'class_path' else ''}{key}: {first.label} has "
            f"{reference.get(key)!r}, {spec.label} has {other.get(key)!r}"
            for key in keys
            if reference.get(key) != other.get(key)
        ]
        if differences:
            raise ConfigurationError(
                f"The configs disagree on the data ({'; '.join(differences[:4])}): a paired "
                "comparison needs the same dataset and splits. Give them the same data settings "
                "(or override them after --), or compare them separately."
            )


def child_env(threads: int) -> dict[str, str]:
    """The environment of a run: ``threads`` intra-op threads for torch, OpenMP and MKL."""
    return {
        **os.environ,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "PYTHONUNBUFFERED": "1",
    }


def default_threads(parallel: int) -> int:
    """Threads per run: the machine's cores shared out among the parallel runs (at least 1)."""
    return max(1, (os.cpu_count() or 1) // max(1, parallel))


def size_folder(train_size: int | None) -> str:
    """The folder level of a training-set size: ``n<N>``, or nothing for the whole split."""
    return "" if train_size is None else f"n{train_size}"


def run_folder(out: Path, label: str, seed: int, train_size: int | None = None) -> Path:
    """The pinned folder of (config ``label``, ``seed``, ``train_size``) under ``out``."""
    return out / "runs" / label / size_folder(train_size) / f"seed_{seed}"


def only_key(run: Run) -> str:
    """The ``--only`` value of a run: ``LABEL:SEED``, or ``LABEL:SEED:N`` with a size."""
    size = f":{run.train_size}" if run.train_size is not None else ""
    return f"{run.label}:{run.seed}{size}"


def plan_runs(
    specs: Sequence[ConfigSpec], seeds: int, out: Path, sizes: Sequence[int] | None
) -> list[Run]:
    """Every run of the comparison: size by size, seed-major (complete seeds to pair first)."""
    return [
        Run(s.label, seed, run_folder(out, s.label, seed, size), size)
        for size in (sizes or [None])
        for seed in range(seeds)
        for s in specs
    ]


def subset_args(train_size: int | None, seed: int) -> list[str]:
    """The data overrides that train on a stratified subset of ``train_size`` images."""
    if train_size is None:
        return []
    return [
        "--data.init_args.train_subset", str(train_size),
        "--data.init_args.train_subset_seed", str(seed),
    ]  # fmt: skip


def fit_command(
    spec: ConfigSpec,
    run: Run,
    extra: Sequence[str],
    ckpt_path: Path | None = None,
    program: Sequence[str] = (sys.executable, "-m", "hqnn_pl"),
    more: Sequence[str] = (),
) -> list[str]:
    """The ``hqnn-pl fit`` command of one run, its logger pinned to the run's folder.

    The run always logs with a CSVLogger (``save_dir`` = the run folder's parent under
    ``--out``, ``version`` = ``seed_<s>``), so its folder is known before it starts and the same
    command with ``--ckpt_path`` continues it in place. A run with a training-set size trains on
    the stratified subset of that size seeded with its seed; its ``overrides`` (tuned
    hyperparameters) follow ``extra``.

    Args:
        spec: The config.
        run: The run.
        extra: Overrides of every run (after ``--``).
        ckpt_path: The checkpoint to continue from.
        program: How ``hqnn-pl`` is started.
        more: Further arguments (a tuning trial's pruning callback and ``--test_after_fit``).
    """
    logger = {
        "class_path": "lightning.pytorch.loggers.CSVLogger",
        "init_args": {"save_dir": str(run.folder.parent), "name": "", "version": run.folder.name},
    }
    present = {
        str(c.get("class_path") if isinstance(c, dict) else c)
        for c in (spec.resolved.get("trainer") or {}).get("callbacks") or []
    }
    callbacks = [f"--trainer.callbacks+={c}" for c in COMPARE_CALLBACKS if c not in present]
    command = [
        *program, "fit", "--config", spec.path, *extra,
        *subset_args(run.train_size, run.seed), *run.overrides,
        "--seed_everything", str(run.seed),
        "--trainer.logger", json.dumps(logger),
        *callbacks,
        "--trainer.enable_progress_bar", "false",
        "--trainer.enable_model_summary", "false",
        *more,
    ]  # fmt: skip
    if ckpt_path is not None:
        command += ["--ckpt_path", str(ckpt_path)]
    return command


@dataclass
class Manifest:
    """``compare.json``: the configs of the comparison in ``--out``, so it cannot mix others.

    Attributes:
        configs: ``label -> {"path", "relative", "model", "digest", "resolved"}`` in order.
        extra: The overrides given after ``--``.
        seeds: Seeds ``0 .. seeds-1`` planned (the largest ``--seeds`` given).
        sessions: One entry per invocation that ran something (wall time, threads, machine).
        train_sizes: The training-set sizes (``--train_sizes``); None: the whole split.
        tuning: The tuning settings (``--tune``: trials, search space, seed, sampler, pruner,
            storage without password); None without tuning.
        best: The tuning outcome by study name: best parameters, value, trial, trial counts.
        margin: The equivalence margin of the last report (``--margin``); None: no TOST.
    """

    configs: dict[str, dict[str, Any]]
    extra: list[str]
    seeds: int = 0
    sessions: list[dict[str, Any]] = field(default_factory=list)
    train_sizes: list[int] | None = None
    tuning: dict[str, Any] | None = None
    best: dict[str, dict[str, Any]] = field(default_factory=dict)
    margin: float | None = None

    #: The tuning settings a rerun must repeat (the storage URL may move, the rest may not).
    TUNING_IDENTITY = ("trials", "search_space", "seed", "objective")

    @classmethod
    def from_specs(cls, specs: Sequence[ConfigSpec], extra: Sequence[str], seeds: int) -> Manifest:
        """Describe the given configs."""
        return cls(
            configs={
                s.label: {
                    "path": s.path,
                    "relative": s.relative,
                    "model": s.model_class,
                    "digest": s.digest,
                    "resolved": s.resolved,
                }
                for s in specs
            },
            extra=list(extra),
            seeds=seeds,
        )

    @classmethod
    def load(cls, out: Path) -> Manifest | None:
        """Read ``<out>/compare.json``; None when there is none."""
        path = out / MANIFEST
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return cls(
            data["configs"],
            data.get("extra", []),
            data.get("seeds", 0),
            data.get("sessions", []),
            data.get("train_sizes"),
            data.get("tuning"),
            data.get("best", {}),
            data.get("margin"),
        )

    def save(self, out: Path) -> None:
        """Write ``<out>/compare.json`` atomically."""
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / f".{MANIFEST}.{os.getpid()}.tmp"
        tmp.write_text(
            json.dumps(
                {
                    "configs": self.configs,
                    "extra": self.extra,
                    "seeds": self.seeds,
                    "train_sizes": self.train_sizes,
                    "tuning": self.tuning,
                    "best": self.best,
                    "margin": self.margin,
                    "sessions": self.sessions,
                },
                indent=2,
                default=str,
            )
            + "\n"
        )
        tmp.replace(out / MANIFEST)

    def specs(self) -> list[ConfigSpec]:
        """The configs as ConfigSpecs (for ``--report`` without the config files)."""
        return [
            ConfigSpec(label, c["path"], c.get("resolved") or {}, c.get("relative", ""))
            for label, c in self.configs.items()
        ]

    def check_matches(self, other: Manifest, out: Path) -> None:
        """Refuse a comparison whose configs differ from the runs already in ``out``.

        Raises:
            ConfigurationError: Naming the configs that differ.
        """
        problems = []
        if list(self.configs) != list(other.configs):
            problems.append(
                f"it holds runs of {', '.join(self.configs)}, this command has "
                f"{', '.join(other.configs)}"
            )
        else:
            problems += [
                f"{label} changed ({self.configs[label]['path']} resolves differently)"
                for label in self.configs
                if self.configs[label]["digest"] != other.configs[label]["digest"]
            ]
        if self.extra != other.extra:
            problems.append(
                f"its runs had the overrides {shlex.join(self.extra) or '(none)'}, this command "
                f"has {shlex.join(other.extra) or '(none)'}"
            )
        if self.train_sizes != other.train_sizes:
            problems.append(
                f"its runs had --train_sizes {_sizes(self.train_sizes)}, this command has "
                f"{_sizes(other.train_sizes)}"
            )
        if _tuning_identity(self.tuning) != _tuning_identity(other.tuning):
            problems.append(
                f"its runs were tuned with {_tuning_text(self.tuning)}, this command asks for "
                f"{_tuning_text(other.tuning)}"
            )
        if problems:
            raise ConfigurationError(
                f"--out {out} holds runs of other configs: {'; '.join(problems)}. Use another "
                "--out folder, or the same configs and overrides to resume these runs."
            )


def _sizes(sizes: list[int] | None) -> str:
    return " ".join(map(str, sizes)) if sizes else "(none: the whole split)"


def _tuning_identity(tuning: dict[str, Any] | None) -> dict[str, Any] | None:
    if tuning is None:
        return None
    return {key: tuning.get(key) for key in Manifest.TUNING_IDENTITY}


def _tuning_text(tuning: dict[str, Any] | None) -> str:
    if tuning is None:
        return "no tuning"
    return (
        f"--tune {tuning.get('trials')} over {', '.join(tuning.get('search_space') or {})} "
        f"(tuning seed {tuning.get('seed')})"
    )
