"""``--ckpt_path``: finding this config's newest checkpoint and checking it fits the model."""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only
from torch import nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.loggers import init_arg, logger_class, logger_configs
from hqnn_pl.models import ImageClassifier

#: Checkpoint files that ``--ckpt_path last`` resumes from (the newest wins).
LAST_CHECKPOINT_PATTERNS = ("last*.ckpt", "on_exception.ckpt")


def resolve_checkpoint_path(config: Any, continue_run: bool) -> Path | None:
    """Turn ``--ckpt_path last`` into a file; check that a given checkpoint file exists.

    For ``last`` the newest ``last*.ckpt``/``on_exception.ckpt`` of this config's runs is taken
    and, when ``continue_run``, the logger is pointed at that run's folder (its version / W&B run
    id) so the resumed run continues there.

    Returns:
        The local checkpoint file, or None (no checkpoint, or a special/remote one Lightning
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
        return path
    folders, where, entry = _checkpoint_folders(config)
    candidates = [
        file
        for folder in folders
        for pattern in LAST_CHECKPOINT_PATTERNS
        for file in folder.glob(pattern)
    ]
    if not candidates:
        raise ConfigurationError(
            f"--ckpt_path last: no last.ckpt or on_exception.ckpt in {where}. The runs of a "
            "config are found from its logger's save_dir and name (W&B: project); start a new "
            "run without --ckpt_path, or give the path of a checkpoint file."
        )
    newest = max(candidates, key=lambda file: file.stat().st_mtime)
    if continue_run and entry is not None:
        entry.init_args.version = newest.parent.parent.name
        cls = logger_class(entry)
        if cls is not None and issubclass(cls, WandbLogger) and not init_arg(entry, "resume"):
            entry.init_args.resume = "allow"  # continue the same W&B run, not a new one
    config.ckpt_path = str(newest)
    rank_zero_info(f"{'Resuming from' if continue_run else 'Using'} {newest}")
    return newest


def _checkpoint_folders(config: Any) -> tuple[list[Path], str, Any]:
    """Checkpoint folders of this config's runs, where they were looked for, and the logger.

    The logger entry is returned when the folders are ``<run folder>/checkpoints`` of that
    logger's runs (so a resumed fit can continue in the run folder), else None.
    """
    trainer_config = config.get("trainer") or {}
    default_root = Path(trainer_config.get("default_root_dir") or ".")
    dirpath = (config.get("checkpoint") or {}).get("dirpath")
    if dirpath is not None:  # one checkpoint folder for every run
        return [Path(dirpath)], str(dirpath), None
    entries = logger_configs(config)
    if not entries:
        if trainer_config.get("logger") is True:
            raise ConfigurationError(
                "--ckpt_path last needs a configured logger (trainer.logger with a class_path) "
                "to find this config's runs; give the path of a checkpoint file instead."
            )
        return [default_root / "checkpoints"], str(default_root / "checkpoints"), None
    entry = entries[0]
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
    root = Path(save_dir, name) if name else Path(save_dir)
    if version is not None:
        folder = root / str(version) / "checkpoints"
        return [folder], str(folder), entry
    runs = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return [run / "checkpoints" for run in runs], str(root / "*" / "checkpoints"), entry


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


def keep_csv_metrics(loggers: list[Any], global_step: int) -> None:
    """Keep a resumed run's ``metrics.csv`` rows from before the checkpoint (rank zero).

    Lightning's CSV logger deletes ``metrics.csv`` when its folder already exists. The rows logged
    before the checkpoint's step are put back; rows logged after it (by the interrupted run,
    which the resumed run repeats) are dropped.
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
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Experiment logs directory")
            writer = logger.experiment  # creates the writer, which deletes metrics.csv
        writer.metrics_keys = sorted(header)
        with path.open("w", newline="") as file:
            out = csv.DictWriter(file, fieldnames=writer.metrics_keys)
            out.writeheader()
            out.writerows(rows)
        rank_zero_info(f"Kept {len(rows)} rows of {path} logged before step {global_step}.")


def _row_step(row: dict[str, str]) -> float:
    try:
        return float(row.get("step") or -1)
    except ValueError:
        return -1
