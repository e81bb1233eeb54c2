"""A researcher's circuit the package has never seen, written the TorchLayer way."""

from __future__ import annotations

from typing import Any

import pennylane as qml


def ring_ansatz(inputs: Any, layers: Any, twist: Any) -> list[Any]:
    """Hadamards, inputs as RZ, BasicEntanglerLayers, a late input and a CY across the ring."""
    for i in range(3):
        qml.Hadamard(wires=i)
        qml.RZ(inputs[..., i], wires=i)
    qml.BasicEntanglerLayers(layers, wires=range(3), rotation=qml.RY)
    qml.IsingXX(twist[0] + inputs[..., 2], wires=[0, 2])
    qml.CY(wires=[2, 0])
    return [qml.expval(qml.Z(0) @ qml.Z(2)), qml.probs(wires=[1])]
