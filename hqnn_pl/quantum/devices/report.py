"""What the tools report of a model's circuits compiled to a device.

:func:`compiled_specs` gives the compiled circuit's size (physical qubits, one- and two-qubit
native gates, depth, SWAPs, device time of one execution from the calibrated gate durations);
:func:`export_circuits` writes every layer's compiled circuit as OpenQASM 3 (inputs ``x`` and
weights ``w`` as input parameters) with its statistics as JSON.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from torch import nn

__all__ = ["compiled_specs", "device_layers", "export_circuits"]


def device_layers(model: nn.Module) -> list[tuple[str, Any]]:
    """The quantum layers of ``model`` whose execution names a device."""
    from hqnn_pl.quantum.layers.base import quantum_layers

    return [(n, lay) for n, lay in quantum_layers(model) if lay.execution.device_noise is not None]


def compiled_specs(layer: Any) -> dict[str, Any]:
    """The size of one circuit of ``layer`` compiled to its device.

    Args:
        layer: A quantum layer with device noise.

    Returns:
        ``qubits`` (physical qubits used), ``one_qubit_gates``, ``two_qubit_gates``, ``gates``,
        ``depth``, ``swaps``, ``device``, ``physical_qubits`` and ``duration_s`` (one execution,
        gates scheduled as soon as possible, plus readout), of the first compiled circuit; a
        layer that measures in several bases (:meth:`~hqnn_pl.quantum.layers.CircuitLayer.
        device_circuits`) adds ``measurement_circuits`` and its ``duration_s`` sums them all.
    """
    compiled = layer.device_circuit()
    every = layer.device_circuits() if hasattr(layer, "device_circuits") else [compiled]
    stats = compiled.stats()
    ones = sum(len(op.qubits) == 1 for op in compiled.ops)
    return {
        "qubits": len(compiled.physical),
        "one_qubit_gates": ones,
        "two_qubit_gates": compiled.two_qubit_gates,
        "state_preparations": int(compiled.amplitude),
        "gates": len(compiled.ops),
        "depth": compiled.depth,
        "swaps": compiled.swaps,
        "device": stats["device"],
        "physical_qubits": stats["physical_qubits"],
        "duration_s": sum(c.duration for c in every),
        **({"measurement_circuits": len(every)} if len(every) > 1 else {}),
    }


def _stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "layer"


def export_circuits(model: nn.Module, folder: Path) -> list[Path]:
    """Write each device layer's compiled circuit (``.qasm``) and its statistics (``.json``).

    Args:
        model: Any module.
        folder: Where to write (created).

    Returns:
        The files written.
    """
    written = []
    for name, layer in device_layers(model):
        folder.mkdir(parents=True, exist_ok=True)
        compiled = layer.device_circuit()
        stem = folder / f"{_stem(name)}.{_stem(compiled.device)}.compiled"
        qasm = stem.with_name(stem.name + ".qasm")
        qasm.write_text(compiled.qasm())
        others = layer.device_circuits()[1:] if hasattr(layer, "device_circuits") else []
        for index, other in enumerate(others, 1):  # further measurement bases
            extra = folder / f"{_stem(name)}.{_stem(compiled.device)}.basis{index}.compiled.qasm"
            extra.write_text(other.qasm())
            written.append(extra)
        info = stem.with_name(stem.name + ".json")
        info.write_text(json.dumps(compiled_specs(layer), indent=2) + "\n")
        written += [qasm, info]
    return written
