"""CircuitLayer, a user's own circuit, on the device route: Aer agreement to 1e-8.

Each circuit is compiled per measurement group (one basis per wire) and held to Aer's density
matrix under ``NoiseModel.from_backend`` with the backend's readout errors, to 1e-8 in float64,
on fake_torino (cz), fake_sherbrooke (ecr) and fake_manila (cx), and on a layout that needs
routing.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("qiskit_aer")
pytest.importorskip("qiskit_ibm_runtime")

from hqnn_pl.quantum.layers import CircuitLayer
from tests.quantum.devices.aer import aer_outputs
from tests.quantum.devices.user_circuits import CIRCUITS
from tests.quantum.devices.user_circuits import make_layer as _layer

pytestmark = pytest.mark.devices

DEVICES = ["fake_torino", "fake_sherbrooke", "fake_manila"]


def _aer(layer: CircuitLayer, x: torch.Tensor) -> np.ndarray:
    """Aer's outputs ``(B, n_circuits * n_outputs)``: every group's circuit, then its table."""
    backend = layer.execution.device_noise.backend()
    chunks = x.reshape(len(x), layer.n_circuits, layer.n_inputs).numpy()
    flat = layer._flat_weights().detach().double().numpy()
    out = np.zeros((len(x), layer.n_circuits, layer.n_outputs))
    for index, group in enumerate(layer._device_groups):
        compiled = layer._device_executor(True, index).compiled
        for c in range(layer.n_circuits):
            probs = aer_outputs(compiled, backend, chunks[:, c], flat[c], probs=True)
            out[:, c] += probs @ group.table.T
    return out.reshape(len(x), -1)


def _check(layer: CircuitLayer, seed: int = 5) -> float:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(3, layer.in_features, dtype=torch.float64, generator=gen) * 3
    out = layer(x).detach().numpy()
    assert layer.route == "device"
    assert np.abs(out).max() > 1e-3
    return float(np.abs(out - _aer(layer, x)).max())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(CIRCUITS))
def test_user_circuits_match_aer_on_every_device(name: str, device: str) -> None:
    layer = _layer(name, {"device": device}, n_circuits=2 if device == "fake_manila" else 1)
    assert _check(layer) < 1e-8


def test_the_example_measures_two_bases_in_two_compiled_circuits() -> None:
    layer = _layer("example", {"device": "fake_manila"}, n_circuits=1)
    assert [g.bases for g in layer._device_groups] == [("Z",) * 4, ("X", "Z", "Z", "Z")]
    assert layer.device_circuit() is layer._device_executor(True, 0).compiled


def test_a_routed_layout_matches_aer() -> None:
    # CNOT(0, 3) and IsingZZ(0, 2) on fake_manila's line of qubits: the router inserts SWAPs.
    layer = _layer("late_inputs", {"device": "fake_manila", "qubits": [0, 1, 2, 3],
                                   "optimization_level": 0}, n_circuits=1)  # fmt: skip
    compiled = layer.device_circuit()
    assert compiled.swaps > 0
    assert [compiled.physical[p] for p in compiled.initial] == [0, 1, 2, 3]
    assert _check(layer) < 1e-8
