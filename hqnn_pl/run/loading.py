"""A config's model and data, and a checkpoint's weights, as ``hqnn-pl`` builds them.

Used by the CLI (the keys linked from data to model) and by the tools beside it
(``hqnn-pl-diagnose``, ``hqnn-pl-robustness``), so that every tool builds the same model from
the same config and refuses the same bad checkpoints.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jsonargparse import ActionConfigFile
from lightning.pytorch import LightningModule, seed_everything
from lightning.pytorch.cli import LightningArgumentParser

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.run.checkpoint_io import read_checkpoint
from hqnn_pl.run.failures import cause_of_type

#: Datamodule attributes the model is built from; configs never repeat them.
LINKED_ATTRIBUTES = ("num_classes", "in_channels", "image_size")
#: Config sections that build a model and its data (a run's config.yaml holds more).
MODEL_SECTIONS = ("seed_everything", "model", "data")
#: Seed of the initial weights when a config names none (LightningCLI's default in hqnn-pl).
DEFAULT_SEED = 42


def link_data_to_model(parser: LightningArgumentParser) -> None:
    """Link :data:`LINKED_ATTRIBUTES` from the instantiated datamodule into the model."""
    for attribute in LINKED_ATTRIBUTES:
        parser.link_arguments(
            f"data.{attribute}", f"model.init_args.{attribute}", apply_on="instantiate"
        )


@dataclass
class LoadedRun:
    """A model and its datamodule built from configs, with the weights' origin.

    Attributes:
        model: The model (trained weights when a checkpoint was given).
        datamodule: The datamodule, not set up (no data read yet).
        seed: The seed the initial weights were drawn with.
        checkpoint: The checkpoint whose weights were loaded, or None.
    """

    model: LightningModule
    datamodule: Any
    seed: int
    checkpoint: Path | None = None

    @property
    def weights(self) -> str:
        """Where the weights come from, in words."""
        if self.checkpoint is not None:
            return f"trained, from {self.checkpoint}"
        return f"initial (seed {self.seed})"


def load_model_and_data(
    configs: Sequence[Path | str],
    ckpt_path: Path | str | None = None,
    overrides: Sequence[str] = (),
) -> LoadedRun:
    """Build the model and datamodule of ``hqnn-pl`` configs, optionally with trained weights.

    Only the ``model``, ``data`` and ``seed_everything`` sections are read, so a run's saved
    ``config.yaml`` works as well as a file of ``configs/``. The datamodule's classes, channels
    and image size are linked into the model as the CLI does; no data is read. The checkpoint
    is verified (:func:`~hqnn_pl.run.checkpoint_io.read_checkpoint`) and must fit the model
    (:func:`~hqnn_pl.run.resume.check_checkpoint_fits`).

    Args:
        configs: One or more YAML files, later ones overriding earlier ones.
        ckpt_path: A checkpoint whose weights to load, or None for the seeded initial ones.
        overrides: Further CLI arguments, e.g. ``["--data.init_args.data_dir", "X"]``.

    Returns:
        The loaded run.

    Raises:
        ConfigurationError: A missing file, a config without ``model`` and ``data``, a setting
            the model or data refuse, or a checkpoint that is damaged or does not fit.
    """
    from hqnn_pl.datamodules import ImageDataModule
    from hqnn_pl.models import ImageClassifier
    from hqnn_pl.run.resume import check_checkpoint_fits

    paths = [Path(path) for path in configs]
    merged: dict[str, Any] = {}
    for path in paths:
        if not path.is_file():
            raise ConfigurationError(f"--config {path}: no such file; give an hqnn-pl config.")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigurationError(f"--config {path}: not valid YAML ({error}).") from None
        if not isinstance(loaded, dict):
            raise ConfigurationError(f"--config {path}: not a mapping of config sections.")
        merged = _merge(merged, {k: v for k, v in loaded.items() if k in MODEL_SECTIONS})
    missing = [key for key in ("model", "data") if key not in merged]
    if missing:
        raise ConfigurationError(
            f"--config {', '.join(map(str, paths))} has no {' or '.join(missing)} section; "
            "give an hqnn-pl config such as configs/mnist/hqnn_parallel.yaml."
        )
    checkpoint_path = Path(ckpt_path) if ckpt_path is not None else None
    checkpoint = None
    if checkpoint_path is not None:
        if not checkpoint_path.is_file():
            raise ConfigurationError(f"--ckpt_path {checkpoint_path}: no such checkpoint file.")
        checkpoint = read_checkpoint(checkpoint_path)
    seed = merged.get("seed_everything")
    seed = DEFAULT_SEED if seed is None or seed is True else int(seed)
    parser = LightningArgumentParser(exit_on_error=False)
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_argument("--seed_everything", type=int | bool, default=DEFAULT_SEED)
    parser.add_subclass_arguments(ImageClassifier, "model", required=True)
    parser.add_subclass_arguments(ImageDataModule, "data", required=True)
    link_data_to_model(parser)
    with tempfile.TemporaryDirectory() as folder:
        clean = Path(folder) / "config.yaml"
        clean.write_text(yaml.safe_dump(merged))
        try:
            parsed = parser.parse_args(["--config", str(clean), *overrides])
            seed_everything(seed, verbose=False)
            instances = parser.instantiate_classes(parsed)
        except Exception as error:
            raise _configuration_error(error, paths[-1]) from None
    model = instances.model
    if checkpoint is not None and checkpoint_path is not None:
        check_checkpoint_fits(model, checkpoint, checkpoint_path)
        model.load_state_dict(checkpoint["state_dict"])
    return LoadedRun(model, instances.data, seed, checkpoint_path)


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` merged into ``base``, mappings key by key."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _configuration_error(error: BaseException, config: Path) -> ConfigurationError:
    """The ConfigurationError behind ``error``, or one with jsonargparse's first reason."""
    cause = cause_of_type(error, ConfigurationError)
    return cause or ConfigurationError(f"--config {config}: {first_reason(str(error))}")


def first_reason(message: str) -> str:
    """The first specific reason in a jsonargparse error (it lists one per Union subtype)."""
    reasons = [
        line.strip()[2:]
        for line in message.splitlines()
        if line.strip().startswith("- ") and "Expected a <class 'NoneType'>" not in line
    ]
    return reasons[0] if reasons else (message.splitlines() or ["invalid config"])[0]
