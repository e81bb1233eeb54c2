"""What a resumed fit does to the run it continues: check its settings, keep its record.

A resume must train what its run recorded (:func:`check_resume_keeps_experiment`), in the
folder its config was read from (:func:`follow_copied_run`), keeping every metrics row of
the epochs before the checkpoint (:func:`keep_csv_metrics`) and none of the checkpoints the
interrupted run wrote after it (:func:`remove_orphan_checkpoints`).
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only
from torch import nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.run.resume import experiment_differences, last_candidates

#: Settings a resumed fit may change: how it computes and loads, never what it trains. Dotted
#: prefixes of the saved config's keys.
RESUME_MAY_CHANGE = (
    "model.init_args.execution.backend",
    "model.init_args.execution.device",
    "model.init_args.execution.diff_method",
    "model.init_args.execution.method",
    "model.init_args.execution.route",
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
    resume_files = set(last_candidates(folder))
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


def follow_copied_run(config: Any) -> None:
    """Resume the run folder the config was read from, when it was copied or moved.

    A run's ``config.yaml`` pins its folder (``run_dir``, absolute). When that file is read
    from another run folder (a copy: it holds ``checkpoints/``), ``--ckpt_path last`` resumes
    the copy, never the original.
    """
    pinned = config.get("run_dir")
    files = config.get("config") or []
    if not pinned or not files or config.get("ckpt_path") != "last":
        return
    source = Path(str(files[-1])).absolute().parent
    if source.resolve() == Path(pinned).resolve() or not (source / "checkpoints").is_dir():
        return
    rank_zero_info(f"hqnn-pl: the config was read from {source}, a copy of {pinned}: resuming it")
    config.run_dir = str(source)
