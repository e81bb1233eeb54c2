"""The ``hqnn-pl`` command: LightningCLI with the datamodule's facts linked into the model."""

from __future__ import annotations

import sys
from typing import Any

import torch
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch import nn

import hqnn_pl.datamodules
import hqnn_pl.models  # noqa: F401  (registers the models for short class names)
from hqnn_pl import __version__
from hqnn_pl.callbacks import (
    ExceptionCheckpoint,
    HardwareCost,
    PredictionWriter,
    RNGStateCheckpoint,
    RunConfigSaver,
)
from hqnn_pl.callbacks.utils import run_dir
from hqnn_pl.datamodules import ImageDataModule
from hqnn_pl.errors import ConfigurationError
from hqnn_pl.loggers import fall_back_to_offline_wandb, finish_wandb_runs
from hqnn_pl.models import ImageClassifier
from hqnn_pl.resume import check_checkpoint_fits, keep_csv_metrics, resolve_checkpoint_path

#: Datamodule attributes the model is built from; configs never repeat them.
LINKED_ATTRIBUTES = ("num_classes", "in_channels", "image_size")

TRAINER_DEFAULTS: dict[str, Any] = {
    "logger": {
        "class_path": "lightning.pytorch.loggers.CSVLogger",
        "init_args": {"save_dir": "runs", "name": "hqnn-pl"},
    },
}

#: Exit status after SIGTERM (128 + 15, as a shell reports a process killed by it).
SIGTERM_EXIT_STATUS = 143


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
    """

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        """Link datamodule facts into the model and add checkpointing and test-after-fit."""
        for attribute in LINKED_ATTRIBUTES:
            parser.link_arguments(
                f"data.{attribute}", f"model.init_args.{attribute}", apply_on="instantiate"
            )
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

    def _parse_ckpt_path(self) -> None:
        """Keep the config's model settings when ``--ckpt_path`` names a file.

        LightningCLI would merge the checkpoint's hyperparameters over the config, silently
        dropping settings given on the command line (a backend, a depth, a frozen backbone).
        Here the config decides, and a checkpoint that does not fit it is refused with the
        differences named (see :func:`hqnn_pl.resume.check_checkpoint_fits`).
        """

    def before_instantiate_classes(self) -> None:
        """Check W&B's reachability, resolve ``--ckpt_path last`` and remember linked values."""
        config = self.config[self.subcommand]
        model = config.get("model") or {}
        init_args = model.get("init_args") or {}
        self._given_by_config = {key: init_args.get(key) for key in LINKED_ATTRIBUTES}
        fall_back_to_offline_wandb(config)
        self._checkpoint_path = resolve_checkpoint_path(
            config, continue_run=self.subcommand == "fit"
        )

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
        if self._checkpoint_path is not None:
            # Memory-mapped: the check needs hyperparameters and shapes, not the weights, which
            # Lightning reads itself when it restores the checkpoint.
            checkpoint = torch.load(
                self._checkpoint_path, map_location="cpu", weights_only=False, mmap=True
            )
            check_checkpoint_fits(self.model, checkpoint, self._checkpoint_path)
            if self.subcommand == "fit":
                keep_csv_metrics(self.trainer.loggers, int(checkpoint.get("global_step", 0)))

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
        """Leave the checkpoint callbacks out when ``--trainer.enable_checkpointing false``."""
        if config.get("enable_checkpointing") is False:

            def keep(callback: Any) -> bool:
                return not isinstance(callback, ModelCheckpoint | ExceptionCheckpoint)

            callbacks = [c for c in callbacks if keep(c)]
            config["callbacks"] = [c for c in config.get("callbacks") or [] if keep(c)]
            defaults = self.trainer_defaults.get("callbacks") or []
            self.trainer_defaults["callbacks"] = [c for c in defaults if keep(c)]
        return super()._instantiate_trainer(config, callbacks)

    def after_fit(self) -> None:
        """Test the best checkpoint once fitting has finished."""
        if not self.config[self.subcommand].get("test_after_fit") or self.trainer.interrupted:
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
            self._report_sigterm()
            raise SystemExit(SIGTERM_EXIT_STATUS) from None
        finally:
            finish_wandb_runs(self.trainer.loggers, exit_code)

    @rank_zero_only
    def _report_sigterm(self) -> None:
        saved = [
            cb.saved_path
            for cb in self.trainer.callbacks
            if isinstance(cb, ExceptionCheckpoint) and cb.saved_path
        ]
        where = f"saved {saved[0]}" if saved else "no step since the last checkpoint"
        config = run_dir(self.trainer) / "config.yaml"
        print(
            f"hqnn-pl: stopped by SIGTERM ({where}). Resume with: hqnn-pl {self.subcommand} "
            f"--config {config} --ckpt_path last",
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
            ExceptionCheckpoint(),
            RNGStateCheckpoint(),
            PredictionWriter(),
            HardwareCost(),  # issue 12: device cost of the quantum layers at fit start
        ],
    }


def main(args: list[str] | None = None) -> None:
    """Run ``hqnn-pl``; ``args`` replaces ``sys.argv[1:]`` (for tests and notebooks).

    Bad settings, files or folders end the run before training with the reason on stderr
    and exit status 2.
    """
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
            args=args,
        )
    except Exception as error:
        cause = _configuration_error(error)
        if cause is None:
            raise
        print(f"hqnn-pl: error: {cause}", file=sys.stderr)
        raise SystemExit(2) from None


def _configuration_error(error: BaseException | None) -> ConfigurationError | None:
    """Find the ConfigurationError behind ``error`` (jsonargparse wraps errors of __init__)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ConfigurationError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None
