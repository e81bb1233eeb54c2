"""The ``hqnn-pl`` command: LightningCLI with the datamodule's facts linked into the model."""

from __future__ import annotations

import sys
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

import hqnn_pl.datamodules
import hqnn_pl.models  # noqa: F401  (registers the models for short class names)
from hqnn_pl import __version__
from hqnn_pl.datamodules import ImageDataModule
from hqnn_pl.errors import ConfigurationError
from hqnn_pl.models import ImageClassifier

#: Datamodule attributes the model is built from; configs never repeat them.
LINKED_ATTRIBUTES = ("num_classes", "in_channels", "image_size")

TRAINER_DEFAULTS: dict[str, Any] = {
    "logger": {
        "class_path": "lightning.pytorch.loggers.CSVLogger",
        "init_args": {"save_dir": "runs", "name": "hqnn-pl"},
    },
}


class HQNNCLI(LightningCLI):
    """LightningCLI for hqnn-pl's models and datamodules.

    Adds a ``checkpoint`` group (ModelCheckpoint: the best ``val/acc`` and ``last.ckpt`` every
    epoch) and ``--test_after_fit`` (on by default), which tests the best checkpoint when ``fit``
    ends so one command trains, validates and tests.
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
                "checkpoint.save_last": True,
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

    def before_instantiate_classes(self) -> None:
        """Remember the linked values a config gave the model, to compare them with the data's."""
        model = self.config[self.subcommand].get("model") or {}
        init_args = model.get("init_args") or {}
        self._given_by_config = {key: init_args.get(key) for key in LINKED_ATTRIBUTES}

    def instantiate_classes(self) -> None:
        """Instantiate, then refuse a model setting that contradicts the data it is linked from."""
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

    def after_fit(self) -> None:
        """Test the best checkpoint once fitting has finished."""
        if not self.config[self.subcommand].get("test_after_fit") or self.trainer.interrupted:
            return
        callback = self.trainer.checkpoint_callback
        best = getattr(callback, "best_model_path", "") if callback is not None else ""
        self.trainer.test(self.model, datamodule=self.datamodule, ckpt_path=best or None)


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
            save_config_kwargs={"overwrite": True},
            trainer_defaults=TRAINER_DEFAULTS,
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
