"""The user circuits of the CircuitLayer device tests, and how they build a layer."""

from __future__ import annotations

import pennylane as qml

from hqnn_pl.examples.circuits import WEIGHT_SHAPES, reuploading_ansatz
from hqnn_pl.quantum.layers import CircuitLayer


def late_inputs(inputs, w):
    """Non-adjacent two-qubit gates first; the inputs enter late, one of them twice."""
    for i in range(4):
        qml.RY(w[i], wires=i)
    qml.CNOT(wires=[0, 3])
    qml.CRX(w[4], wires=[3, 1])
    qml.IsingZZ(w[5], wires=[0, 2])
    qml.RX(2 * inputs[..., 0] + w[6], wires=2)
    qml.RZ(inputs[..., 1] - 0.5, wires=0)
    qml.CZ(wires=[2, 0])
    qml.RY(inputs[..., 2] - inputs[..., 0], wires=1)
    return [qml.expval(qml.Z(0)), qml.expval(qml.Y(1)), qml.expval(qml.X(2) @ qml.Z(3))]


def word_and_probs(inputs, w):
    """A Pauli word on non-neighbours, a Pauli sum and probabilities of two wires."""
    qml.AngleEmbedding(inputs, wires=range(3))
    qml.CNOT(wires=[0, 2])
    qml.Rot(w[0], w[1], w[2], wires=1)
    qml.CNOT(wires=[1, 2])
    qml.RZ(w[3], wires=2)
    obs = 0.5 * qml.Z(0) @ qml.Z(2) + 0.25 * qml.X(1)
    return [qml.expval(qml.Z(0) @ qml.Z(2)), qml.probs(wires=[2, 0]), qml.expval(obs)]


CIRCUITS = {
    "example": (reuploading_ansatz, WEIGHT_SHAPES, 4),
    "late_inputs": (late_inputs, {"w": (7,)}, 4),
    "word_and_probs": (word_and_probs, {"w": (4,)}, 3),
}


def make_layer(name: str, noise: dict | None, n_circuits: int = 2, **kwargs) -> CircuitLayer:
    """A layer of circuit ``name`` (weights from seed 3) under ``noise`` and ``kwargs``."""
    circuit, shapes, n_qubits = CIRCUITS[name]
    execution = {"noise": noise, **kwargs}
    return CircuitLayer(circuit, shapes, n_qubits, n_circuits=n_circuits, execution=execution,
                        seed=3)  # fmt: skip
