"""Callbacks for hqnn-pl runs, usable from YAML as ``trainer.callbacks``.

* :class:`ParameterCount`: exact parameter counts (quantum / classical, per block).
* :class:`EpochTimer`: seconds per training epoch in ``metrics.csv``.
* :class:`HardwareCost`: qubits, gates, depth and device executions/shots/time per epoch of
  every quantum layer; the CLI adds it to every run.
* :class:`CircuitDrawer`: text and PNG drawings (and OpenQASM) of every circuit.
* :class:`GradientMonitor`: mean, variance and norm of the circuit-weight gradients per epoch.
* :class:`RunPictures`: ``curves.png`` every epoch, ``confusion_matrix.{png,csv}`` after test;
  the CLI adds it to every run.
* :class:`WandbExtras`: test confusion matrix and ``wandb.watch`` for W&B runs.
* :class:`PredictionWriter`: ``hqnn-pl predict``'s classes and probabilities as CSV; the CLI
  adds it to every run.
* :class:`RunConfigSaver`: the CLI's config callback (``config.yaml`` in the run folder, full
  config in W&B).
* :class:`ExceptionCheckpoint` and :class:`RNGStateCheckpoint`: runs that survive interruption
  and resume exactly; the CLI adds both to every run.
* :class:`FiniteLossGuard`: stops at the first NaN/inf training loss; the CLI adds it to every run.
* :class:`EpochMetricsCheckpoint`: an epoch's training metrics inside its checkpoints, so a kill
  at the epoch's end loses no ``metrics.csv`` row; the CLI adds it to every run.
"""

from hqnn_pl.callbacks.circuit_drawer import CircuitDrawer
from hqnn_pl.callbacks.epoch_metrics import EpochMetricsCheckpoint
from hqnn_pl.callbacks.epoch_timer import EpochTimer
from hqnn_pl.callbacks.exception_checkpoint import ExceptionCheckpoint
from hqnn_pl.callbacks.finite_loss import FiniteLossGuard
from hqnn_pl.callbacks.gradient_monitor import GradientMonitor
from hqnn_pl.callbacks.hardware_cost import HardwareCost
from hqnn_pl.callbacks.parameter_count import ParameterCount
from hqnn_pl.callbacks.prediction_writer import PredictionWriter
from hqnn_pl.callbacks.rng_state import RNGStateCheckpoint
from hqnn_pl.callbacks.run_pictures import RunPictures
from hqnn_pl.callbacks.save_config import RunConfigSaver
from hqnn_pl.callbacks.wandb_extras import WandbExtras

__all__ = [
    "CircuitDrawer",
    "EpochMetricsCheckpoint",
    "EpochTimer",
    "ExceptionCheckpoint",
    "FiniteLossGuard",
    "GradientMonitor",
    "HardwareCost",
    "ParameterCount",
    "PredictionWriter",
    "RNGStateCheckpoint",
    "RunConfigSaver",
    "RunPictures",
    "WandbExtras",
]
