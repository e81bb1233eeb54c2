"""HardwareCost: what one forward batch and one training epoch would cost on a quantum device."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pennylane as qml
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only
from torch import nn

from hqnn_pl.callbacks.utils import quantum_layers, run_dir
from hqnn_pl.models.feature_cache import FeatureCache
from hqnn_pl.quantum import QuantumLayer
from hqnn_pl.quantum.devices.report import compiled_specs

__all__ = [
    "DEFAULT_SHOTS",
    "DEFAULT_SHOT_RATE",
    "HardwareCost",
    "circuit_specs",
    "execution_report",
    "hardware_cost",
]

DEFAULT_SHOTS = 1000
"""Shots per circuit execution assumed for a model that computes exact expectations."""

DEFAULT_SHOT_RATE = 5000.0
"""Shots per second assumed for the device."""


def circuit_specs(layer: QuantumLayer) -> dict[str, int]:
    """Qubits, gates and depth of one circuit of ``layer`` (``qml.specs`` at device level).

    Args:
        layer: One of hqnn-pl's quantum layers.

    Returns:
        ``qubits``, ``one_qubit_gates``, ``two_qubit_gates``, ``state_preparations`` (gates on
        more than two wires: QPCNN's amplitude embedding), ``gates`` and ``depth``.
    """
    specs = qml.specs(layer.qnode(), level="device")(*layer.example_args())
    res = specs.resources
    sizes = dict(res.gate_sizes)
    return {
        "qubits": int(layer.n_qubits),
        "one_qubit_gates": int(sizes.get(1, 0)),
        "two_qubit_gates": int(sizes.get(2, 0)),
        "state_preparations": int(sum(v for k, v in sizes.items() if k > 2)),
        "gates": int(res.num_gates),
        "depth": int(res.depth),
    }


def hardware_cost(
    model: LightningModule,
    batch_size: int,
    train_samples: int | None,
    shots: int,
    shot_rate: float,
) -> dict[str, Any]:
    """Hardware cost of every quantum layer of ``model`` (see :class:`HardwareCost`).

    Args:
        model: An hqnn-pl classifier (``in_channels`` and ``image_size`` give a dummy input).
        batch_size: Samples per forward batch.
        train_samples: Samples per training epoch (None if unknown).
        shots: Shots per circuit execution.
        shot_rate: Shots per second the device runs.

    Returns:
        JSON-ready dict: per layer, its circuit specs and execution counts; totals.
    """
    layers = quantum_layers(model)
    calls: dict[str, int] = {}
    hooks = [
        layer.register_forward_pre_hook(
            lambda mod, args, name=name: calls.__setitem__(
                name, calls.get(name, 0) + mod.executions_per_call(args[0])
            )
        )
        for name, layer in layers
    ]
    was_training = model.training
    caches = [m for m in model.modules() if isinstance(m, FeatureCache)]
    saved = [(m.hits, m.misses, set(m._store)) for m in caches]
    model.eval()
    try:
        with torch.no_grad():
            dummy = torch.zeros(1, model.in_channels, model.image_size, model.image_size)
            model(dummy.to(next(model.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
        for cache, (hits, misses, keys) in zip(caches, saved, strict=True):
            for key in set(cache._store) - keys:  # the probe leaves no trace in the cache
                del cache._store[key]
            cache.hits, cache.misses = hits, misses
    report: dict[str, Any] = {"layers": {}, "shots": shots, "shot_rate": shot_rate}
    per_sample_total = epoch_total = 0
    for name, layer in layers:
        per_sample = calls.get(name, 0)
        weights, inputs = layer.shifted_angles()
        shift_factor = 1 + 2 * (weights + inputs)
        per_batch = per_sample * batch_size
        if layer.execution.device_noise is not None:  # the circuit as the device runs it
            specs = compiled_specs(layer)
            specs["device_seconds_per_sample"] = per_sample * specs["duration_s"]
        else:
            specs = circuit_specs(layer)
        entry = {
            **specs,
            "circuits_per_sample": per_sample,
            "executions_per_forward_batch": per_batch,
            "shifted_angles_per_circuit": {"weights": weights, "inputs": inputs},
        }
        if train_samples is not None:
            entry["executions_per_epoch_parameter_shift"] = (
                per_sample * train_samples * shift_factor
            )
            epoch_total += entry["executions_per_epoch_parameter_shift"]
        per_sample_total += per_sample
        report["layers"][name] = entry
    report["executions_per_forward_batch"] = per_sample_total * batch_size
    if train_samples is not None:
        report["train_samples"] = train_samples
        report["executions_per_epoch_parameter_shift"] = epoch_total
        report["shots_per_epoch"] = epoch_total * shots
        report["device_hours_per_epoch"] = epoch_total * shots / shot_rate / 3600
    return report


def execution_report(model: nn.Module) -> dict[str, Any]:
    """How every quantum layer of ``model`` runs: its execution and the routes it took.

    Args:
        model: Any module.

    Returns:
        JSON-ready dict: per layer, ``execution`` (the fields of its
        :class:`~hqnn_pl.quantum.Execution`), ``route`` (the route of its last call) and
        ``routes_taken`` (calls per route since the layer was built).
    """
    return {
        "layers": {
            name: {
                "execution": layer.execution.as_dict(),
                "route": layer.route,
                "routes_taken": dict(layer.planner.taken),
            }
            for name, layer in quantum_layers(model)
        }
    }


def format_report(model_name: str, report: dict[str, Any]) -> str:
    """The report as a few lines of text."""
    lines = [
        f"Hardware cost of {model_name} (shots={report['shots']:,}, "
        f"{report['shot_rate']:,.0f} shots/s)"
    ]
    for name, e in report["layers"].items():
        device = ""
        if "device" in e:
            device = (
                f" compiled to {e['device']} ({e['swaps']} SWAPs, "
                f"{e['duration_s'] * 1e6:.2f} us per execution)"
            )
        lines.append(
            f"  {name}: {e['qubits']} qubits, {e['one_qubit_gates']} one-qubit + "
            f"{e['two_qubit_gates']} two-qubit gates, depth {e['depth']}{device}; "
            f"{e['circuits_per_sample']:,} circuits/sample, "
            f"{e['executions_per_forward_batch']:,} executions/forward batch"
        )
    if "shots_per_epoch" in report:
        lines.append(
            f"  one training epoch under parameter shift: "
            f"{report['executions_per_epoch_parameter_shift']:,} executions, "
            f"{report['shots_per_epoch']:,} shots, "
            f"{report['device_hours_per_epoch']:,.1f} device hours"
        )
    return "\n".join(lines)


class HardwareCost(Callback):
    """Print and save what the model's circuits would cost on a device, when fitting starts.

    For every quantum layer: qubits, one- and two-qubit gates and depth of one circuit
    (``qml.specs``; with device noise, of the circuit compiled to the device: its physical
    qubits, native gates, SWAPs and the device time of one execution from the gate durations),
    circuits per sample and circuit executions per forward batch; for one
    training epoch with the parameter-shift rule (``1 + 2 x`` the shifted angles per circuit:
    trainable weights, and the embedding angles when the inputs need gradients), the executions,
    the shots (at the model's ``shots``, else ``default_shots``) and the device time at
    ``shot_rate`` shots per second (execution overheads not included). Written as JSON into the
    run folder; models without quantum layers are skipped. Rank zero only.

    Next to it, ``execution.json`` says how each quantum layer runs in this run: its execution
    settings and the routes the planner chose (:func:`execution_report`), written when fitting
    starts and again after the first training epoch, when the routes of real batches are known.

    Args:
        shot_rate: Shots per second of the device (e.g. a few thousand for superconducting
            hardware, including nothing else).
        default_shots: Shots per execution when the model computes exact expectations.
        filename: Name of the JSON file in the run folder.
        execution_filename: Name of the execution report in the run folder.
    """

    def __init__(
        self,
        shot_rate: float = DEFAULT_SHOT_RATE,
        default_shots: int = DEFAULT_SHOTS,
        filename: str = "hardware_cost.json",
        execution_filename: str = "execution.json",
    ) -> None:
        super().__init__()
        self.shot_rate = shot_rate
        self.default_shots = default_shots
        self.filename = filename
        self.execution_filename = execution_filename
        self.report: dict[str, Any] | None = None

    @rank_zero_only
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Compute, print and write the report."""
        layers = quantum_layers(pl_module)
        if not layers:
            return
        shots = next((lay.shots for _, lay in layers if lay.shots), None) or self.default_shots
        datamodule = getattr(trainer, "datamodule", None)
        batch_size = int(getattr(datamodule, "batch_size", 1) or 1)
        train_samples = None
        with contextlib.suppress(AttributeError, TypeError, RuntimeError):
            train_samples = len(datamodule.train_dataloader().dataset)
        self.report = {
            "model": type(pl_module).__name__,
            **hardware_cost(pl_module, batch_size, train_samples, shots, self.shot_rate),
        }
        rank_zero_info(format_report(type(pl_module).__name__, self.report))
        folder = run_dir(trainer)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / self.filename).write_text(json.dumps(self.report, indent=2) + "\n")
        self._write_execution(trainer, pl_module)

    @rank_zero_only
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """After the first epoch, rewrite ``execution.json`` with the routes of real batches."""
        if trainer.current_epoch == 0 and quantum_layers(pl_module):
            self._write_execution(trainer, pl_module)

    def _write_execution(self, trainer: Trainer, pl_module: LightningModule) -> None:
        folder = run_dir(trainer)
        folder.mkdir(parents=True, exist_ok=True)
        report = {"model": type(pl_module).__name__, **execution_report(pl_module)}
        (folder / self.execution_filename).write_text(json.dumps(report, indent=2) + "\n")
