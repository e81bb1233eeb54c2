"""The ``hqnn-pl`` command: LightningCLI with the datamodule's facts linked into the model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from lightning.fabric.plugins.io import TorchCheckpointIO
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch import nn

import hqnn_pl.datamodules
import hqnn_pl.models  # noqa: F401  (registers the models for short class names)
from hqnn_pl import __version__
from hqnn_pl.callbacks import (
    EpochMetricsCheckpoint,
    ExceptionCheckpoint,
    FiniteLossGuard,
    HardwareCost,
    PredictionWriter,
    RNGStateCheckpoint,
    RunConfigSaver,
    RunPictures,
)
from hqnn_pl.callbacks.epoch_metrics import CHECKPOINT_KEY as EPOCH_ROW_KEY
from hqnn_pl.callbacks.save_config import keep_none_kwargs
from hqnn_pl.callbacks.utils import run_dir
from hqnn_pl.datamodules import ImageDataModule
from hqnn_pl.errors import ConfigurationError, NonFiniteLossError
from hqnn_pl.models import ImageClassifier
from hqnn_pl.run.checkpoint_io import AtomicCheckpointIO, remove_partial_files
from hqnn_pl.run.continuing import (
    check_resume_keeps_experiment,
    follow_copied_run,
    keep_csv_metrics,
    remove_orphan_checkpoints,
)
from hqnn_pl.run.failures import one_line_error
from hqnn_pl.run.loading import LINKED_ATTRIBUTES, link_data_to_model
from hqnn_pl.run.lock import RunFolderLock
from hqnn_pl.run.loggers import fall_back_to_offline_wandb, finish_wandb_runs, root_logger_dirs
from hqnn_pl.run.parser import HQNNArgumentParser
from hqnn_pl.run.quiet import quiet_start_up
from hqnn_pl.run.resume import check_checkpoint_fits, experiment_sections, resolve_checkpoint_path
from hqnn_pl.run.training import check_trains, set_threads

TRAINER_DEFAULTS: dict[str, Any] = {
    "logger": {
        "class_path": "lightning.pytorch.loggers.CSVLogger",
        "init_args": {"save_dir": "runs", "name": "hqnn-pl"},
    },
}

#: Exit status after SIGTERM (128 + 15, as a shell reports a process killed by it).
SIGTERM_EXIT_STATUS = 143
#: Exit status after Ctrl-C (128 + 2, SIGINT).
SIGINT_EXIT_STATUS = 130
#: Exit status of bad settings, files or folders (and of a full disk).
CONFIGURATION_EXIT_STATUS = 2
#: Exit status of a run stopped by a NaN or infinite training loss.
NON_FINITE_LOSS_EXIT_STATUS = 1
#: Torch intra-op threads per process unless ``--threads`` says otherwise (see the README:
#: hqnn-pl's small models gain nothing from more, and lose much on a busy machine).
DEFAULT_THREADS = 1
#: Subcommands that evaluate trained weights: without --ckpt_path they would use random ones.
EVALUATING_SUBCOMMANDS = ("validate", "test", "predict")


class HQNNCLI(LightningCLI):
    """LightningCLI for hqnn-pl's models and datamodules.

    Adds a ``checkpoint`` group (the ModelCheckpoint of the best ``val/acc``; ``last.ckpt`` is
    written every epoch by a second one) and ``--test_after_fit`` (on by default), which tests
    the best checkpoint when ``fit`` ends so one command trains, validates and tests. Besides:

    * ``--ckpt_path last`` resumes the newest ``last.ckpt`` (or ``on_exception.ckpt``) of this
      config's runs (the logger's ``save_dir``/``name``, or ``project`` for W&B) and, for ``fit``,
      continues in that run's folder (same CSV version, same W&B run id) keeping its metrics.
    * A checkpoint that does not fit the configured model is refused before anything is written.
    * A W&B logger without an API key or network falls back to offline logging with a warning.
    * SIGTERM (cluster pre-emption) saves ``on_exception.ckpt`` and exits with status 143.
    * A NaN or infinite training loss stops the run (status 1) instead of training on.
    * One process at a time per run folder (a file lock), and a failed start leaves no folder.
    * ``validate``/``test``/``predict`` need ``--ckpt_path`` (or ``--allow_untrained true``);
      ``predict`` writes ``predictions.csv`` into the checkpoint's run folder.

    Args:
        run_locks: A list the CLI appends its run-folder lock to, so that :func:`main` can
            release it however the run ends (also when instantiation fails).
        *args: Passed to LightningCLI.
        **kwargs: Passed to LightningCLI.
    """

    def __init__(self, *args: Any, run_locks: list[RunFolderLock] | None = None, **kwargs: Any):
        self._run_locks = run_locks if run_locks is not None else []
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """Link datamodule facts into the model and add checkpointing and test-after-fit."""
        link_data_to_model(parser)
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.save_last": False,  # a separate ModelCheckpoint writes last.ckpt
                "checkpoint.filename": "best-epoch={epoch}-val_acc={val/acc:.4f}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )
        parser.add_argument(
            "--test_after_fit",
            type=bool,
            default=True,
            help="After `fit`, test the best checkpoint (or the final weights if none was saved).",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=DEFAULT_THREADS,
            help="Torch intra-op CPU threads of this process (0: torch's default, one per core). "
            "1 is fastest for hqnn-pl's small models and keeps runs fast on a busy machine.",
        )
        parser.add_argument(
            "--run_dir",
            type=str | None,
            default=None,
            help="The run folder this config belongs to. Written into every run's config.yaml, "
            "so that `--config <run>/config.yaml --ckpt_path last` resumes exactly that run.",
        )
        parser.add_argument(
            "--allow_untrained",
            type=bool,
            default=False,
            help="Let validate/test/predict run without --ckpt_path, on untrained weights.",
        )

    def _parse_ckpt_path(self) -> None:
        """Keep the config's model settings when ``--ckpt_path`` names a file.

        LightningCLI would merge the checkpoint's hyperparameters over the config, silently
        dropping settings given on the command line (a backend, a depth, a frozen backbone).
        Here the config decides, and a checkpoint that does not fit it is refused with the
        differences named (see :func:`hqnn_pl.run.resume.check_checkpoint_fits`).
        """

    def before_instantiate_classes(self) -> None:
        """Set threads and run folder, resolve ``--ckpt_path`` and remember linked values."""
        config = self.config[self.subcommand]
        model = config.get("model") or {}
        init_args = model.get("init_args") or {}
        self._given_by_config = {key: init_args.get(key) for key in LINKED_ATTRIBUTES}
        set_threads(config.get("threads"))
        root_logger_dirs(config)
        fall_back_to_offline_wandb(config)
        if self.subcommand == "fit":
            check_trains(config.get("trainer"))
        follow_copied_run(config)
        if (
            self.subcommand in EVALUATING_SUBCOMMANDS
            and config.get("ckpt_path") is None
            and not config.get("allow_untrained")
        ):
            raise ConfigurationError(
                f"hqnn-pl {self.subcommand} needs trained weights: give --ckpt_path (a .ckpt "
                "file, or `last` for this config's newest run), or --allow_untrained true to "
                "evaluate the untrained model on purpose."
            )
        dumped = yaml.safe_load(
            self._parser(self.subcommand).dump(config, skip_check=True, **keep_none_kwargs())
        )
        self._experiment = experiment_sections(dumped)
        resolved = resolve_checkpoint_path(
            config, continue_run=self.subcommand == "fit", experiment=self._experiment
        )
        self._checkpoint_path, self._checkpoint = resolved or (None, None)

    def instantiate_classes(self) -> None:
        """Instantiate, then refuse settings and checkpoints that contradict each other."""
        super().instantiate_classes()
        conflicts = [
            f"model.init_args.{key}={given} but the data has {getattr(self.datamodule, key)}"
            for key, given in self._given_by_config.items()
            if given is not None and given != getattr(self.datamodule, key)
        ]
        if conflicts:
            raise ConfigurationError(
                f"The model's config disagrees with the data ({'; '.join(conflicts)}). Remove "
                f"{', '.join(LINKED_ATTRIBUTES)} from the model's config: the CLI links them from "
                "the datamodule."
            )
        self._check_sync_batchnorm()
        if self.subcommand == "fit" and isinstance(self.model, ImageClassifier):
            self.model.check_optimizer()
        if self.subcommand == "predict":
            self._point_predictions_at_the_run()
        else:
            self._lock_run_folder()
        if self._checkpoint_path is not None:
            check_checkpoint_fits(self.model, self._checkpoint, self._checkpoint_path)
            if self.subcommand == "fit":
                self._continue_run(Path(self._checkpoint_path), self._checkpoint)
        self._checkpoint = None  # memory-mapped; Lightning loads the weights itself

    def _continue_run(self, path: Path, checkpoint: dict[str, Any]) -> None:
        """Check a resume against the run's record, then tidy the run folder it continues.

        The settings must be those the checkpoint was trained with; the metrics rows logged
        before the checkpoint are kept (with the epoch row a kill may have cut off), and the
        checkpoints the interrupted run wrote after it are removed.
        """
        check_resume_keeps_experiment(self._experiment, self.model, checkpoint, path)
        if rank_zero_only.rank != 0:
            return
        keep_csv_metrics(
            self.trainer.loggers,
            int(checkpoint.get("global_step", 0)),
            checkpoint.get(EPOCH_ROW_KEY),
        )
        remove_orphan_checkpoints(path, checkpoint)

    def _lock_run_folder(self) -> None:
        """Lock this run's folder (rank zero), refusing to write over another run's results.

        A fit continues only in the folder of the checkpoint it resumes; any other run that
        finds metrics or checkpoints in its folder (a logger version pinned to an existing run)
        is refused before the CSV logger would delete that run's ``metrics.csv``.
        """
        if rank_zero_only.rank != 0:
            return
        logger = self.trainer.loggers[0] if self.trainer.loggers else None
        if isinstance(logger, WandbLogger) and logger.version is None:
            return  # a new W&B run: its id, and so its folder, is new and unique
        folder = run_dir(self.trainer)
        resumed = self._checkpoint_path is not None and (
            Path(self._checkpoint_path).resolve().parent.parent == folder.resolve()
        )
        lock = RunFolderLock(folder)
        lock.acquire()
        self._run_locks.append(lock)
        for partial in remove_partial_files(folder / "checkpoints"):
            rank_zero_info(f"hqnn-pl: removed {partial}, left half-written by a killed run")
        written = [p.name for p in (folder / "metrics.csv", folder / "checkpoints") if p.exists()]
        if written and self.trainer.loggers and not (self.subcommand == "fit" and resumed):
            raise ConfigurationError(
                f"The run folder {folder} already holds another run's {' and '.join(written)}; "
                f"this {self.subcommand} would overwrite them. Leave the logger's version unset "
                "(a new version_N), or resume that run with --ckpt_path last."
            )
        rank_zero_info(f"hqnn-pl: writing this run to {folder}")

    def _point_predictions_at_the_run(self) -> None:
        """Write ``predictions.csv`` next to the checkpoint's run (its ``checkpoints/`` parent)."""
        checkpoint = Path(self._checkpoint_path) if self._checkpoint_path else None
        if checkpoint is None:
            folder = Path(self.trainer.default_root_dir)
        elif checkpoint.parent.name == "checkpoints":
            folder = checkpoint.parent.parent
        else:
            folder = checkpoint.parent
        for callback in self.trainer.callbacks:
            if isinstance(callback, PredictionWriter):
                callback.dirpath = folder

    def _check_sync_batchnorm(self) -> None:
        """Refuse SyncBatchNorm on CPU (torch runs it on GPUs only) before training starts."""
        trainer_config = self.config[self.subcommand].get("trainer") or {}
        has_batchnorm = any(
            isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.model.modules()
        )
        if (
            trainer_config.get("sync_batchnorm")
            and has_batchnorm
            and isinstance(self.trainer.accelerator, CPUAccelerator)
        ):
            raise ConfigurationError(
                "trainer.sync_batchnorm=true needs GPUs (torch's SyncBatchNorm does not run on "
                "CPU). Use --trainer.sync_batchnorm false for DDP on CPU, or a GPU accelerator."
            )

    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Callback]) -> Trainer:
        """Build the trainer with atomic checkpoint writes.

        ``--trainer.enable_checkpointing false`` leaves the checkpoint callbacks out, and
        ``predict`` runs without a logger (it writes ``predictions.csv`` into the checkpoint's
        run folder and creates no run folder of its own).
        """
        if config.get("enable_checkpointing") is False:

            def keep(callback: Any) -> bool:
                return not isinstance(callback, ModelCheckpoint | ExceptionCheckpoint)

            callbacks = [c for c in callbacks if keep(c)]
            config["callbacks"] = [c for c in config.get("callbacks") or [] if keep(c)]
            defaults = self.trainer_defaults.get("callbacks") or []
            self.trainer_defaults["callbacks"] = [c for c in defaults if keep(c)]
        if self.subcommand == "predict":
            config["logger"] = False
        trainer = super()._instantiate_trainer(config, callbacks)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        # last.ckpt last: it then records the best checkpoint of its own epoch, so a resume
        # from it knows every best file the run has written.
        last = [cb for cb in trainer.callbacks if isinstance(cb, ModelCheckpoint) and _is_last(cb)]
        trainer.callbacks = [cb for cb in trainer.callbacks if cb not in last] + last
        return trainer

    def after_fit(self) -> None:
        """Test the best checkpoint once fitting has finished, if the fit trained.

        Raises:
            ConfigurationError: The fit took no training step (an empty training split): its
                model is untrained and no test result is reported.
        """
        if self.trainer.interrupted:
            return
        if self.trainer.global_step == 0:
            raise ConfigurationError(
                "The fit took no training step (the training split gave no batch), so the "
                "model is untrained and nothing is tested. Check the data's training split and "
                "--trainer.limit_train_batches."
            )
        if not self.config[self.subcommand].get("test_after_fit"):
            return
        callback = self.trainer.checkpoint_callback
        best = getattr(callback, "best_model_path", "") if callback is not None else ""
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best or None)

    def _run_subcommand(self, subcommand: str) -> None:
        """Run the subcommand; finish its W&B run; turn SIGTERM into a resumable exit (143)."""
        exit_code = 1
        try:
            super()._run_subcommand(subcommand)
            exit_code = 0
        except SIGTERMException:
            exit_code = SIGTERM_EXIT_STATUS
            self._report_interruption("SIGTERM")
            raise SystemExit(SIGTERM_EXIT_STATUS) from None
        except SystemExit:
            # Lightning ends a run stopped by Ctrl-C with sys.exit(1).
            if not self._stopped_by_keyboard():
                raise
            exit_code = SIGINT_EXIT_STATUS
            self._report_interruption("Ctrl-C")
            raise SystemExit(SIGINT_EXIT_STATUS) from None
        finally:
            finish_wandb_runs(self.trainer.loggers, exit_code)

    def _stopped_by_keyboard(self) -> bool:
        return any(
            isinstance(cb, ExceptionCheckpoint) and cb.stopped_by is KeyboardInterrupt
            for cb in self.trainer.callbacks
        )

    @rank_zero_only
    def _report_interruption(self, signal_name: str) -> None:
        """Print where the run stopped and the whole command that resumes it."""
        saved = [
            cb.saved_path
            for cb in self.trainer.callbacks
            if isinstance(cb, ExceptionCheckpoint) and cb.saved_path
        ]
        where = f"saved {saved[0]}" if saved else "no step since the last checkpoint"
        config = run_dir(self.trainer) / "config.yaml"
        print(
            f"hqnn-pl: stopped by {signal_name} ({where}). Resume with: hqnn-pl "
            f"{self.subcommand} --config {config} --ckpt_path last",
            file=sys.stderr,
        )


def _trainer_defaults() -> dict[str, Any]:
    """Trainer defaults with fresh instances of the callbacks every run gets.

    ``last.ckpt`` comes from its own ModelCheckpoint (no monitor, so it saves every epoch):
    Lightning's ``save_last`` on the best-``val/acc`` checkpoint only writes it in epochs that
    improve on the best, and training must never lose more than an epoch.
    """
    last = ModelCheckpoint(
        filename="last", monitor=None, save_top_k=1, enable_version_counter=False
    )
    return {
        **TRAINER_DEFAULTS,
        "callbacks": [
            last,
            EpochMetricsCheckpoint(),
            ExceptionCheckpoint(),
            RNGStateCheckpoint(),
            FiniteLossGuard(),
            PredictionWriter(),
            RunPictures(),
            HardwareCost(),
        ],
    }


def main(args: list[str] | None = None) -> None:
    """Run ``hqnn-pl``; ``args`` replaces ``sys.argv[1:]`` (for tests and notebooks).

    Bad settings, files or folders end the run before training with the reason on stderr
    and exit status 2; a NaN or infinite training loss ends it with status 1.
    """
    quiet_start_up()
    run_locks: list[RunFolderLock] = []
    failed = True
    try:
        HQNNCLI(
            ImageClassifier,
            ImageDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            seed_everything_default=42,
            save_config_callback=RunConfigSaver,
            save_config_kwargs={"overwrite": True},
            trainer_defaults=_trainer_defaults(),
            parser_kwargs={
                "prog": "hqnn-pl",
                "version": __version__,
                "description": "Train, validate and test hybrid quantum-classical image "
                "classifiers and their classical counterparts.",
            },
            auto_configure_optimizers=False,
            parser_class=HQNNArgumentParser,
            args=args,
            run_locks=run_locks,
        )
        failed = False
    except NonFiniteLossError as error:
        print(f"hqnn-pl: error: {error}", file=sys.stderr)
        raise SystemExit(NON_FINITE_LOSS_EXIT_STATUS) from None
    except Exception as error:
        message = one_line_error(error, [lock.run_dir for lock in run_locks])
        if message is None:
            raise
        print(f"hqnn-pl: error: {message}", file=sys.stderr)
        raise SystemExit(CONFIGURATION_EXIT_STATUS) from None
    finally:
        for lock in run_locks:
            lock.release(failed_start=failed)


def _is_last(callback: ModelCheckpoint) -> bool:
    """Whether ``callback`` is the ModelCheckpoint that writes ``last.ckpt`` every epoch."""
    return callback.monitor is None and callback.filename == "last"
