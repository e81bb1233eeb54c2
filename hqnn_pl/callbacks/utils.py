"""Helpers shared by hqnn-pl's callbacks and CLI: the run folder, quantum layers, W&B guards."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lightning.pytorch import Trainer
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_warn

from hqnn_pl.quantum.layers import is_quantum_layer
from hqnn_pl.quantum.layers import quantum_layers as quantum_layers

log = logging.getLogger(__name__)


def run_dir(trainer: Trainer) -> Path:
    """The folder of the current run, where checkpoints, config and reports are written.

    It is the folder that holds ``checkpoints/`` under Lightning's own rule (``ModelCheckpoint``):
    ``<save_dir>/<name>/<version>`` of the first logger (``runs/<name>/version_<n>`` for the CSV
    logger, ``<save_dir>/<project>/<run id>`` for W&B), or ``default_root_dir`` without a logger.
    Unlike ``trainer.log_dir`` it is a distinct folder for W&B runs too and does not communicate
    between ranks, so it can be called on rank zero alone.

    Args:
        trainer: The trainer of the run.

    Returns:
        The run folder (it may not exist yet).
    """
    if not trainer.loggers:
        return Path(trainer.default_root_dir)
    logger = trainer.loggers[0]
    if isinstance(logger, CSVLogger | TensorBoardLogger):
        return Path(logger.log_dir)
    save_dir = logger.save_dir if logger.save_dir is not None else trainer.default_root_dir
    version = logger.version
    version = version if isinstance(version, str) else f"version_{version}"
    return Path(save_dir, str(logger.name), version)


def wandb_loggers(trainer: Trainer) -> list[WandbLogger]:
    """The trainer's W&B loggers (usually none or one)."""
    return [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]


is_quantum_module = is_quantum_layer
"""Whether a module is one of hqnn-pl's quantum layers (``hqnn_pl.quantum.layers``' test,
re-exported with :func:`quantum_layers` for the callbacks)."""


def log_hyperparams(trainer: Trainer, params: dict[str, Any]) -> None:
    """Log ``params`` as hyperparameters to every logger, never failing the run for W&B."""
    for logger in trainer.loggers:
        with wandb_guard("log hyperparameters", logger):
            logger.log_hyperparams(params)


@contextmanager
def wandb_guard(what: str, logger: Logger | None = None) -> Iterator[None]:
    """Turn a failure of W&B into a warning, so that W&B can never fail a run.

    Failures of other loggers propagate unchanged.

    Args:
        what: What was being done, for the warning (``"log the circuit images"``).
        logger: The logger being used; None when the code in the block only talks to W&B.
    """
    try:
        yield
    except Exception as error:
        if logger is not None and not isinstance(logger, WandbLogger):
            raise
        rank_zero_warn(
            f"W&B: could not {what} ({type(error).__name__}: {error}). The run goes on without it."
        )
        log.debug("W&B failure", exc_info=True)
