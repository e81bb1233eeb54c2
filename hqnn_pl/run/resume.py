"""``--ckpt_path``: finding the right run's newest readable checkpoint and checking it fits."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.models import ImageClassifier
from hqnn_pl.run.checkpoint_io import read_checkpoint
from hqnn_pl.run.loggers import init_arg, logger_class, logger_configs

#: Checkpoint files that ``--ckpt_path last`` resumes from (the newest wins).
LAST_CHECKPOINT_PATTERNS = ("last*.ckpt", "on_exception.ckpt")
#: Config sections that define an experiment: runs whose saved config differs in them are
#: different experiments, never resumed in each other's place. Trainer settings (more epochs,
#: another device) may change on resume.
EXPERIMENT_KEYS = ("seed_everything", "model", "data")


def resolve_checkpoint_path(
    config: Any, continue_run: bool, experiment: dict[str, Any] | None = None
) -> tuple[Path, dict[str, Any]] | None:
    """Turn ``--ckpt_path`` into a readable checkpoint file and its contents.

    ``last`` takes the newest ``last*.ckpt``/``on_exception.ckpt`` of one run: the run the config
    pins (``run_dir``, written into every run's ``config.yaml``), the logger's ``version`` if
    given, or else the newest run whose saved experiment (``seed_everything``, ``model``,
    ``data``) equals ``experiment``; runs of other experiments are never taken, and when only
    such runs exist the candidates are listed in the error. An unreadable checkpoint is skipped
    with a warning for the run's newest readable one. When ``continue_run``, the logger is pointed
    at that run's folder (its version / W&B run id) so the resumed fit continues there.

    Args:
        config: The parsed config of the subcommand (its logger entry may be changed).
        continue_run: Whether the run continues in the checkpoint's run folder (``fit``).
        experiment: This config's experiment sections (see :data:`EXPERIMENT_KEYS`), as dumped
            to YAML; None skips the comparison with saved runs.

    Returns:
        ``(file, checkpoint)``, or None (no checkpoint, or a special/remote one Lightning
        resolves itself).
    """
    given = config.get("ckpt_path")
    if given is None:
        return None
    given = str(given)
    if given != "last":
        if given in {"best", "hpc"} or "://" in given or given.startswith("registry:"):
            return None
        path = Path(given)
        if not path.is_file():
            raise ConfigurationError(
                f"--ckpt_path {given}: no such checkpoint file. Give the path of a .ckpt file "
                "(runs keep them in <run folder>/checkpoints/) or `last` for the newest one of "
                "this config's runs."
            )
        return path, read_checkpoint(path)
    folder, entry = _run_checkpoint_folder(config, experiment)
    path, checkpoint = _newest_readable(folder)
    if continue_run and entry is not None:
        _continue_in(entry, folder.parent)
    config.ckpt_path = str(path)
    rank_zero_info(f"{'Resuming from' if continue_run else 'Using'} {path}")
    return path, checkpoint


def last_candidates(folder: Path) -> list[Path]:
    """``last*.ckpt``/``on_exception.ckpt`` of a checkpoint folder, newest first."""
    files = {file for pattern in LAST_CHECKPOINT_PATTERNS for file in folder.glob(pattern)}
    return sorted(files, key=lambda file: file.stat().st_mtime, reverse=True)


def _newest_readable(folder: Path) -> tuple[Path, dict[str, Any]]:
    """The newest readable resume checkpoint of ``folder``, else its newest readable ``.ckpt``."""
    preferred = last_candidates(folder)
    others = sorted(
        set(folder.glob("*.ckpt")) - set(preferred),
        key=lambda file: file.stat().st_mtime,
        reverse=True,
    )
    if not preferred:
        raise ConfigurationError(
            f"--ckpt_path last: no last.ckpt or on_exception.ckpt in {folder}. Start a new run "
            "without --ckpt_path, or give the path of a checkpoint file."
        )
    skipped = []
    for path in [*preferred, *others]:
        try:
            checkpoint = read_checkpoint(path)
        except ConfigurationError as error:
            skipped.append(str(error).split("; ")[0])
            continue
        if skipped:
            rank_zero_warn(f"Skipped unreadable checkpoints: {' | '.join(skipped)}. Using {path}.")
        return path, checkpoint
    raise ConfigurationError(
        f"--ckpt_path last: no readable checkpoint in {folder} ({' | '.join(skipped)}). Start a "
        "new run without --ckpt_path."
    )


def _run_checkpoint_folder(config: Any, experiment: dict[str, Any] | None) -> tuple[Path, Any]:
    """The checkpoint folder ``--ckpt_path last`` resumes from, and the logger entry to point.

    The logger entry is returned when the folder is ``<run folder>/checkpoints`` of that
    logger's runs (so a resumed fit can continue in the run folder), else None.
    """
    pinned = config.get("run_dir")
    entries = logger_configs(config)
    entry = entries[0] if entries else None
    if pinned:
        folder = Path(pinned) / "checkpoints"
        if not last_candidates(folder):
            raise ConfigurationError(
                f"--ckpt_path last: the config belongs to the run {pinned} (run_dir), which has "
                f"no last.ckpt or on_exception.ckpt in {folder}. Start a new run without "
                "--ckpt_path, or give the path of a checkpoint file."
            )
        return folder, entry
    trainer_config = config.get("trainer") or {}
    default_root = Path(trainer_config.get("default_root_dir") or ".")
    dirpath = (config.get("checkpoint") or {}).get("dirpath")
    if dirpath is not None:  # one checkpoint folder for every run
        return Path(dirpath), None
    if entry is None:
        if trainer_config.get("logger") is True:
            raise ConfigurationError(
                "--ckpt_path last needs a configured logger (trainer.logger with a class_path) "
                "to find this config's runs; give the path of a checkpoint file instead."
            )
        return default_root / "checkpoints", None
    root, version = _logger_root(entry, default_root)
    if version is not None:
        return root / str(version) / "checkpoints", entry
    runs = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    resumable = [run for run in runs if last_candidates(run / "checkpoints")]
    if not resumable:
        raise ConfigurationError(
            f"--ckpt_path last: no last.ckpt or on_exception.ckpt in {root}/*/checkpoints. The "
            "runs of a config are found from its logger's save_dir and name (W&B: project); "
            "start a new run without --ckpt_path, or give the path of a checkpoint file."
        )
    if experiment is None:
        matching = resumable
    else:
        differences = {run: experiment_differences(experiment, run) for run in resumable}
        matching = [run for run, differ in differences.items() if not differ]
        if not matching:
            listed = "; ".join(
                f"{run} ({', '.join(differ[:3])}{' ...' if len(differ) > 3 else ''})"
                for run, differ in differences.items()
            )
            raise ConfigurationError(
                f"--ckpt_path last: no run in {root} has this config's model, data and seed, "
                f"so none is resumed in its place. Candidates: {listed}. Resume one with "
                "--config <run>/config.yaml --ckpt_path last, or start a new run."
            )
    newest = max(matching, key=lambda run: last_candidates(run / "checkpoints")[0].stat().st_mtime)
    return newest / "checkpoints", entry


def _logger_root(entry: Any, default_root: Path) -> tuple[Path, str | None]:
    """The folder holding a logger's runs, and the run (version) it names, if any."""
    cls = logger_class(entry)
    if cls is not None and issubclass(cls, CSVLogger | TensorBoardLogger):
        save_dir = init_arg(entry, "save_dir", default_root)
        name = init_arg(entry, "name", "lightning_logs")
        version = init_arg(entry, "version")
        if version is not None and not isinstance(version, str):
            version = f"version_{version}"
    elif cls is not None and issubclass(cls, WandbLogger):
        save_dir = init_arg(entry, "save_dir") or init_arg(entry, "dir") or "."
        name = init_arg(entry, "project") or os.environ.get("WANDB_PROJECT") or "lightning_logs"
        version = init_arg(entry, "version") or init_arg(entry, "id")
    else:
        raise ConfigurationError(
            f"--ckpt_path last knows the run folders of CSVLogger, TensorBoardLogger and "
            f"WandbLogger, not of {entry.class_path}; give the path of a checkpoint file instead."
        )
    return (Path(save_dir, name) if name else Path(save_dir)), version


def _continue_in(entry: Any, run: Path) -> None:
    """Point the logger ``entry`` at the existing run folder ``run``."""
    cls = logger_class(entry)
    if cls is not None and issubclass(cls, WandbLogger):
        entry.init_args.version = run.name
        if not init_arg(entry, "resume"):
            entry.init_args.resume = "allow"  # continue the same W&B run, not a new one
        return
    root, _ = _logger_root(entry, Path("."))
    if root.resolve() != run.parent.resolve():  # the run was moved: follow it
        entry.init_args.save_dir = str(run.parent.parent)
        entry.init_args.name = run.parent.name
    entry.init_args.version = run.name


def experiment_sections(config: dict[str, Any]) -> dict[str, Any]:
    """The sections of a dumped config that define its experiment (:data:`EXPERIMENT_KEYS`)."""
    return {key: config.get(key) for key in EXPERIMENT_KEYS}


def experiment_differences(experiment: dict[str, Any], run: Path) -> list[str]:
    """The dotted keys in which ``run``'s saved ``config.yaml`` differs from ``experiment``.

    Both sides are YAML dumps of parsed configs, so equal settings compare equal. A run
    without a readable ``config.yaml`` cannot be checked and counts as different.
    """
    try:
        saved = yaml.safe_load((run / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return ["no readable config.yaml"]
    if not isinstance(saved, dict):
        return ["no readable config.yaml"]
    ours, theirs = _flatten(experiment), _flatten(experiment_sections(saved))
    return [
        f"{key}: {theirs.get(key)!r} there, {ours.get(key)!r} here"
        for key in sorted(ours.keys() | theirs.keys())
        if ours.get(key) != theirs.get(key)
    ]


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def check_checkpoint_fits(model: nn.Module, checkpoint: dict[str, Any], path: Path) -> None:
    """Refuse a checkpoint of another model or architecture, naming the differences."""
    run_config = path.parent.parent / "config.yaml"
    hint = (
        f"Use the config the checkpoint was trained with ({run_config}) or start a new run "
        "without --ckpt_path."
    )
    saved = checkpoint.get("hyper_parameters")
    if isinstance(model, ImageClassifier) and saved is not None:
        model.check_hyperparameters(saved)
    state = checkpoint.get("state_dict")
    if state is None:
        return
    expected = model.state_dict()
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    reshaped = sorted(
        f"{key} {tuple(state[key].shape)} vs {tuple(expected[key].shape)}"
        for key in expected.keys() & state.keys()
        if tuple(getattr(state[key], "shape", ())) != tuple(expected[key].shape)
    )
    if not (missing or unexpected or reshaped):
        return
    details = [
        f"{label}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''}"
        for label, items in (
            ("missing in the checkpoint", missing),
            ("not in the model", unexpected),
            ("checkpoint vs model shape", reshaped),
        )
        if items
    ]
    raise ConfigurationError(
        f"The checkpoint {path} does not fit the configured model {type(model).__name__} "
        f"({'; '.join(details)}). {hint}"
    )
