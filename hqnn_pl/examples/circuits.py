"""An example of a researcher's own circuit, written the ``qml.qnn.TorchLayer`` way.

``configs/digits/circuit.yaml`` trains :func:`reuploading_ansatz` with no Python beyond this
file: the model :class:`~hqnn_pl.models.CircuitClassifier` names it by import path
(``circuit: hqnn_pl.examples.circuits.reuploading_ansatz``) and compiles it to the torch engine.
Put your own module anywhere on ``PYTHONPATH`` and name it the same way.
"""

from __future__ import annotations

from typing import Any

import pennylane as qml

__all__ = ["WEIGHT_SHAPES", "reuploading_ansatz"]

N_QUBITS = 4
LAYERS = 2
WEIGHT_SHAPES = {"theta": (LAYERS, N_QUBITS, 3), "mix": (LAYERS, N_QUBITS)}
"""The shapes ``reuploading_ansatz`` takes (also in ``configs/digits/circuit.yaml``)."""


def reuploading_ansatz(inputs: Any, theta: Any, mix: Any) -> list[Any]:
    """Data re-uploading: the inputs enter every layer, entangled by controlled rotations.

    Each of ``LAYERS`` layers encodes ``inputs[..., i]`` with ``RY`` on wire ``i``, applies a
    trained ``Rot`` on every wire, then ``CRZ(mix[l, i])`` from wire ``i`` to wire ``i + 2``
    (non-adjacent). It returns ``<Z_i Z_{i+1}>`` of neighbouring wires and ``<X_0>``.

    Args:
        inputs: ``(batch, 4)`` features.
        theta: ``(2, 4, 3)`` Rot angles.
        mix: ``(2, 4)`` CRZ angles.

    Returns:
        Five expectation values.
    """
    n = N_QUBITS
    for layer in range(LAYERS):
        for i in range(n):
            qml.RY(inputs[..., i], wires=i)
            qml.Rot(*theta[layer, i], wires=i)
        for i in range(n):
            qml.CRZ(mix[layer, i], wires=[i, (i + 2) % n])
    words = [qml.expval(qml.Z(i) @ qml.Z((i + 1) % n)) for i in range(n)]
    return [*words, qml.expval(qml.X(0))]
