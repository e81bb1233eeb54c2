"""``--ckpt_path``: finding the right run's newest readable checkpoint and checking it fits."""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only, rank_zero_warn
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


def _last_candidates(folder: Path) -> list[Path]:
    """``last*.ckpt``/``on_exception.ckpt`` of a checkpoint folder, newest first."""
    files = {file for pattern in LAST_CHECKPOINT_PATTERNS for file in folder.glob(pattern)}
    return sorted(files, key=lambda file: file.stat().st_mtime, reverse=True)


def _newest_readable(folder: Path) -> tuple[Path, dict[str, Any]]:
    """The newest readable resume checkpoint of ``folder``, else its newest readable ``.ckpt``."""
    preferred = _last_candidates(folder)
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


def _run_checkpoint_folder(
    config: Any, experiment: dict[str, Any] | None
) -> tuple[Path, Any]:
    """The checkpoint folder ``--ckpt_path last`` resumes from, and the logger entry to point.

    The logger entry is returned when the folder is ``<run folder>/checkpoints`` of that
    logger's runs (so a resumed fit can continue in the run folder), else None.
    """
    pinned = config.get("run_dir")
    entries = logger_configs(config)
    entry = entries[0] if entries else None
    if pinned:
        folder = Path(pinned) / "checkpoints"
        if not _last_candidates(folder):
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
    resumable = [run for run in runs if _last_candidates(run / "checkpoints")]
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
    newest = max(matching, key=lambda run: _last_candidates(run / "checkpoints")[0].stat().st_mtime)
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


#: Settings a resumed fit may change: how it computes and loads, never what it trains. Dotted
#: prefixes of the saved config's keys.
RESUME_MAY_CHANGE = (
    "model.init_args.execution.backend",
    "model.init_args.execution.device",
    "model.init_args.execution.diff_method",
    "model.init_args.execution.method",
    "model.init_args.execution.route",
    "model.init_args.backend",
    "model.init_args.device",
    "model.init_args.diff_method",
    "model.init_args.method",
    "data.init_args.num_workers",
    "data.init_args.pin_memory",
    "data.init_args.persistent_workers",
    "data.init_args.transform_on",
    "data.init_args.download",
    "data.init_args.data_dir",
)
#: Hyperparameters of the training recipe a checkpoint records (checked without a config.yaml).
RECIPE_HPARAMS = ("optimizer", "lr_scheduler")


def check_resume_keeps_experiment(
    experiment: dict[str, Any], model: nn.Module, checkpoint: dict[str, Any], path: Path
) -> None:
    """Refuse a resume whose settings differ from those the checkpoint was trained with.

    A resumed fit restores the optimiser, scheduler, data order and weights from the
    checkpoint, so a changed learning rate, batch size, split or architecture would be written
    into the run's ``config.yaml`` and ``hparams.yaml`` while the run trains on with the old
    values. Only :data:`RESUME_MAY_CHANGE` and trainer settings (more epochs, other devices)
    may differ. The run's saved ``config.yaml`` (``seed_everything``, ``model``, ``data``) is
    the record; without one, the checkpoint's hyperparameters are.

    Args:
        experiment: This config's experiment sections, dumped to YAML.
        model: The configured model.
        checkpoint: The checkpoint's contents.
        path: The checkpoint file.

    Raises:
        ConfigurationError: Naming every setting that differs, with both values.
    """
    run = path.parent.parent
    if (run / "config.yaml").is_file():
        differences = [
            difference
            for difference in experiment_differences(experiment, run)
            if not difference.startswith(RESUME_MAY_CHANGE)
        ]
    else:
        saved = checkpoint.get("hyper_parameters") or {}
        current = dict(getattr(model, "hparams", {}))
        differences = [
            f"model.init_args.{key}: {saved.get(key)!r} there, {current.get(key)!r} here"
            for key in RECIPE_HPARAMS
            if key in saved and key in current and saved[key] != current[key]
        ]
    if differences:
        shown = "; ".join(differences[:4]) + (" ..." if len(differences) > 4 else "")
        raise ConfigurationError(
            f"--ckpt_path {path} resumes a run trained with other settings ({shown}). A resume "
            "continues that training as it was recorded: drop the changes, or start a new run "
            "(without --ckpt_path) to train with them."
        )


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


def keep_csv_metrics(
    loggers: list[Any], global_step: int, epoch_row: dict[str, Any] | None = None
) -> None:
    """Keep a resumed run's ``metrics.csv`` rows from before the checkpoint (rank zero).

    Lightning's CSV logger deletes ``metrics.csv`` when its folder already exists. The rows logged
    before the checkpoint's step are put back; rows logged after it (by the interrupted run,
    which the resumed run repeats) are dropped. ``epoch_row``, the training row of the epoch the
    checkpoint ends (:class:`~hqnn_pl.callbacks.EpochMetricsCheckpoint`), is added when the
    interrupted run was killed before writing it.
    """
    if rank_zero_only.rank != 0:
        return
    for logger in loggers:
        if not isinstance(logger, CSVLogger):
            continue
        path = Path(logger.log_dir) / "metrics.csv"
        if not path.is_file():
            continue
        with path.open(newline="") as file:
            reader = csv.DictReader(file)
            header = list(reader.fieldnames or [])
            rows = [row for row in reader if _row_step(row) < global_step]
        restored = ""
        if epoch_row is not None and not _has_row(rows, epoch_row):
            rows.append({key: str(value) for key, value in epoch_row.items()})
            header += [key for key in epoch_row if key not in header]
            restored = f", epoch {epoch_row['epoch']}'s training row restored from the checkpoint"
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Experiment logs directory")
            writer = logger.experiment  # creates the writer, which deletes metrics.csv
        writer.metrics_keys = sorted(header)
        with path.open("w", newline="") as file:
            out = csv.DictWriter(file, fieldnames=writer.metrics_keys)
            out.writeheader()
            out.writerows(rows)
        rank_zero_info(f"Kept {len(rows)} rows of {path} from before step {global_step}{restored}.")


def _has_row(rows: list[dict[str, str]], wanted: dict[str, Any]) -> bool:
    """Whether ``rows`` hold a row at ``wanted``'s step with all of its metrics."""
    metrics = [key for key in wanted if key not in ("epoch", "step")]
    return any(
        _row_step(row) == float(wanted["step"]) and all((row.get(k) or "").strip() for k in metrics)
        for row in rows
    )


def _row_step(row: dict[str, str]) -> float:
    try:
        return float(row.get("step") or -1)
    except ValueError:
        return -1


def remove_orphan_checkpoints(path: Path, checkpoint: dict[str, Any]) -> list[Path]:
    """Delete the checkpoints an interrupted run wrote after the one a fit resumes from.

    The resumed checkpoint records, for each ``ModelCheckpoint``, the files it keeps (its best
    ``k`` and its last). A ``.ckpt`` beside the resumed file that none of them records and that
    was written after it belongs to the training the resumed run repeats: left
    there, it would stand beside the new best as if ``save_top_k`` kept both. Resume files
    (``last*.ckpt``, ``on_exception.ckpt``) stay. Rank zero only.

    Args:
        path: The checkpoint being resumed from.
        checkpoint: Its contents.

    Returns:
        The files removed.
    """
    if rank_zero_only.rank != 0:
        return []
    kept = {path.name}  # file names: a copied run folder records the original's paths
    for key, state in (checkpoint.get("callbacks") or {}).items():
        if not str(key).startswith("ModelCheckpoint") or not isinstance(state, dict):
            continue
        named = [*(state.get("best_k_models") or {}), state.get("best_model_path")]
        named += [state.get("kth_best_model_path"), state.get("last_model_path")]
        kept |= {Path(name).name for name in named if name}
    folder, written_after = path.parent, path.stat().st_mtime
    resume_files = set(_last_candidates(folder))
    removed = [
        candidate
        for candidate in sorted(folder.glob("*.ckpt"))
        if candidate.name not in kept
        and candidate not in resume_files
        and candidate.stat().st_mtime > written_after
    ]
    for candidate in removed:
        candidate.unlink(missing_ok=True)
    if removed:
        rank_zero_info(
            f"Removed {', '.join(str(p) for p in removed)}: written by the interrupted run "
            f"after {path}, whose training this fit repeats."
        )
    return removed
