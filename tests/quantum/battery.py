"""A battery of random circuits written the TorchLayer way (none of them a seed circuit).

Each circuit is drawn from a seed: an optional first embedding, then gates from the whole gate
set (rotations, Rot, Hadamard, S, T, SX, Paulis, CNOT/CZ/CY/SWAP on any wires, controlled
rotations, Ising gates, controlled phase, multi-controlled gates, QubitUnitary, templates)
whose angles are inputs (scaled, late, reused), weights (shared, sliced, summed), mixtures of
both, or constants; it measures random Pauli words (with a sum of words) and probabilities.
Used by the layer tests, the compiler tests and ``benchmarks/circuit_layer.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pennylane as qml
import torch

__all__ = ["BatteryCircuit", "battery", "random_circuit"]

_ONE = ("RX", "RY", "RZ", "PhaseShift", "Rot", "Hadamard", "S", "T", "SX", "PauliY")
_TWO = ("CNOT", "CZ", "CY", "SWAP", "CRX", "CRY", "CRZ", "CRot", "IsingXX", "IsingYY",
        "IsingZZ", "ControlledPhaseShift", "QubitUnitary")  # fmt: skip
_MANY = ("Toffoli", "MultiControlledX", "ctrl_RY")
_TEMPLATES = ("StronglyEntanglingLayers", "BasicEntanglerLayers", "RandomLayers")


@dataclasses.dataclass
class BatteryCircuit:
    """One circuit of the battery: its function and what CircuitLayer needs."""

    name: str
    circuit: Callable[..., Any]
    weight_shapes: dict[str, tuple[int, ...]]
    n_qubits: int
    n_inputs: int


def _angle(rng: np.random.Generator, n_inputs: int, n_w: int) -> tuple[Any, ...]:
    kind = rng.choice(
        ["x", "2x", "w", "w+w", "x*w", "x+w", "c"], p=[0.2, 0.1, 0.3, 0.1, 0.05, 0.15, 0.1]
    )
    i, j, k = int(rng.integers(n_inputs)), int(rng.integers(n_w)), int(rng.integers(n_w))
    return (str(kind), i, j, k, float(rng.normal()))


def _value(spec: tuple[Any, ...], inputs: Any, w: Any) -> Any:
    kind, i, j, k, c = spec
    x = inputs[..., i]
    return {
        "x": lambda: x, "2x": lambda: 2 * x, "w": lambda: w[j], "w+w": lambda: w[j] + w[k],
        "x*w": lambda: x * w[j], "x+w": lambda: x - 0.5 * w[j], "c": lambda: c,
    }[kind]()  # fmt: skip


def random_circuit(n_qubits: int, seed: int, n_gates: int | None = None) -> BatteryCircuit:
    """A random circuit of ``n_qubits`` from ``seed`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n = n_qubits
    n_inputs = n
    n_gates = n_gates or int(rng.integers(3 * n, 5 * n + 4))
    depth = int(rng.integers(1, 3))
    n_w = int(rng.integers(3, 8))
    plan: list[tuple[Any, ...]] = []
    for _ in range(n_gates):
        r = rng.random()
        if r < 0.45 or n == 1:
            plan.append(("one", str(rng.choice(_ONE)), int(rng.integers(n)),
                         [_angle(rng, n_inputs, n_w) for _ in range(3)]))  # fmt: skip
        elif r < 0.85 or n < 3:
            a, b = (int(v) for v in rng.choice(n, 2, replace=False))
            plan.append(("two", str(rng.choice(_TWO)), (a, b),
                         [_angle(rng, n_inputs, n_w) for _ in range(3)]))  # fmt: skip
        elif r < 0.93:
            wires = tuple(int(v) for v in rng.choice(n, 3, replace=False))
            plan.append(("many", str(rng.choice(_MANY)), wires, [_angle(rng, n_inputs, n_w)]))
        else:
            plan.append(("template", str(rng.choice(_TEMPLATES)), None, None))
    unitary = qml.math.unwrap(qml.matrix(qml.RandomLayers(rng.random((1, 4)), wires=[0, 1],
                                                          seed=seed)))  # fmt: skip
    measured = []
    for _ in range(int(rng.integers(1, 4))):
        size = int(rng.integers(1, min(n, 3) + 1))
        wires = tuple(int(v) for v in rng.choice(n, size, replace=False))
        measured.append(("word", "".join(rng.choice(list("XYZ"), size)), wires))
    if n > 1 and rng.random() < 0.5:
        measured.append(("sum", "Z", (0,), "X", (n - 1,)))
    if rng.random() < 0.5:
        measured.append(("probs", tuple(int(v) for v in rng.choice(n, min(n, 2), replace=False))))
    embed = rng.choice(["X", "Y", "Z", "none"])
    shapes = {"w": (n_w,), "layers": (depth, n, 3)}

    def circuit(inputs: Any, w: Any, layers: Any) -> list[Any]:
        if embed != "none":
            qml.AngleEmbedding(inputs, wires=range(n), rotation=str(embed))
        for step in plan:
            _apply(step, inputs, w, layers, n, unitary, seed)
        return [_measure(m) for m in measured]

    circuit.__name__ = f"battery_{n}q_{seed}"
    return BatteryCircuit(circuit.__name__, circuit, shapes, n, n_inputs)


def _apply(step: tuple[Any, ...], inputs: Any, w: Any, layers: Any, n: int, unitary: Any,
           seed: int) -> None:  # fmt: skip
    kind, name, wires, angles = step
    vals = [_value(a, inputs, w) for a in angles] if angles else []
    if name in ("Rot", "CRot"):  # PennyLane's Rot matrices need tensors, not floats, to mix
        vals = [torch.as_tensor(v, dtype=torch.float64) for v in vals]
    if kind == "one":
        gate = getattr(qml, name)
        if name == "Rot":
            gate(*vals, wires=wires)
        elif gate.num_params == 1:
            gate(vals[0], wires=wires)
        else:
            gate(wires=wires)
    elif kind == "two":
        if name == "QubitUnitary":
            qml.QubitUnitary(unitary, wires=wires)
        elif name == "CRot":
            qml.CRot(*vals, wires=wires)
        else:
            gate = getattr(qml, name)
            gate(vals[0], wires=wires) if gate.num_params == 1 else gate(wires=wires)
    elif kind == "many":
        if name == "Toffoli":
            qml.Toffoli(wires=wires)
        elif name == "MultiControlledX":
            qml.MultiControlledX(wires=wires)
        else:
            qml.ctrl(qml.RY(vals[0], wires=wires[2]), control=wires[:2])
    elif name == "StronglyEntanglingLayers":
        qml.StronglyEntanglingLayers(layers, wires=range(n))
    elif name == "BasicEntanglerLayers":
        qml.BasicEntanglerLayers(layers[..., 0], wires=range(n))
    else:
        qml.RandomLayers(layers[..., 1], wires=range(n), seed=seed)


def _measure(m: tuple[Any, ...]) -> Any:
    paulis = {"X": qml.X, "Y": qml.Y, "Z": qml.Z}
    if m[0] == "probs":
        return qml.probs(wires=list(m[1]))
    if m[0] == "sum":
        return qml.expval(0.5 * paulis[m[1]](m[2][0]) - 0.25 * paulis[m[3]](m[4][0]))
    return qml.expval(qml.prod(*(paulis[c](wire) for c, wire in zip(m[1], m[2], strict=True))))


def battery(qubits: range | list[int], seeds: int = 1) -> list[BatteryCircuit]:
    """``seeds`` random circuits per qubit count."""
    return [random_circuit(n, 1000 * n + s) for n in qubits for s in range(seeds)]


def oracle(entry: BatteryCircuit, x: torch.Tensor, weights: dict[str, torch.Tensor],
           device: str = "default.qubit") -> torch.Tensor:  # fmt: skip
    """The QNode of ``entry`` on ``device`` (backprop): outputs ``(batch, n_outputs)``."""
    qnode = qml.QNode(entry.circuit, qml.device(device, wires=entry.n_qubits),
                      interface="torch", diff_method="backprop")  # fmt: skip
    result = qnode(x, **weights)
    parts = result if isinstance(result, (list, tuple)) else [result]
    return torch.cat([torch.as_tensor(p).reshape(x.shape[0], -1) for p in parts], dim=1)
