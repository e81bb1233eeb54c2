"""The device route held to Aer: the compiled circuit under NoiseModel.from_backend, to 1e-8.

Every seed circuit family (HQNN-Parallel's layer, Quanv2d, QPCNN's amplitude-embedded pointwise
layer, RandomQuanv2d) on three devices of different native gate sets: fake_torino (cz, Heron),
fake_sherbrooke (ecr, Eagle) and fake_manila (cx, 5-qubit Falcon), with the transpiler's layout,
and with given layouts that need routing.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("qiskit_aer")
pytest.importorskip("qiskit_ibm_runtime")

from hqnn_pl.quantum.layers import (
    ParallelQuantumLayer,
    QuantumPointwiseConv2d,
    Quanv2d,
    RandomQuanv2d,
)
from tests.quantum.devices.aer import aer_outputs

pytestmark = pytest.mark.devices

DEVICES = ["fake_torino", "fake_sherbrooke", "fake_manila"]


def _parallel(noise):
    torch.manual_seed(0)
    return ParallelQuantumLayer(n_qubits=5, n_circuits=2, depth=2, execution={"noise": noise})


def _quanv(noise):
    torch.manual_seed(1)
    return Quanv2d(execution={"noise": noise})


def _random_quanv(noise):
    torch.manual_seed(2)
    return RandomQuanv2d(n_random_layers=2, seed=3, execution={"noise": noise})


def _pointwise(noise, measurement="expval"):
    torch.manual_seed(3)
    return QuantumPointwiseConv2d(6, depth=2, measurement=measurement, execution={"noise": noise})


def check_parallel(layer, backend) -> float:
    x = torch.rand(3, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(5)) * 6
    out = layer(x).detach().numpy().reshape(3, 2, 5)
    compiled = layer.device_circuit()
    errors = []
    for c in range(2):
        weights = layer.weights[c].detach().double().reshape(-1).numpy()
        ref = aer_outputs(compiled, backend, x[:, 5 * c : 5 * c + 5].numpy(), weights)
        errors.append(np.abs(out[:, c] - ref).max())
    assert np.abs(out).max() > 1e-3  # not trivially zero
    return max(errors)


def check_quanv(layer, backend) -> float:
    # One 2x2 patch per image: the layer's four outputs are the circuit's four <Z_j>.
    x = torch.rand(3, 1, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    out = layer(x).detach().numpy().reshape(3, 4)
    weights = layer._circuit_weights().detach().double().reshape(-1).numpy()
    ref = aer_outputs(layer.device_circuit(), backend, x.reshape(3, 4).numpy(), weights)
    return np.abs(out - ref).max()


def check_pointwise(layer, backend, probs=False) -> float:
    x = torch.rand(3, 6, 1, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    out = layer(x).detach().numpy().reshape(3, -1)
    vectors = np.zeros((3, 8))
    vectors[:, :6] = x.reshape(3, 6).numpy()
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    weights = layer.weights.detach().double().reshape(-1).numpy()
    ref = aer_outputs(layer.device_circuit(), backend, vectors, weights, probs=probs)
    return np.abs(out - ref).max()


FAMILIES = {
    "parallel": (_parallel, check_parallel),
    "quanv": (_quanv, check_quanv),
    "random_quanv": (_random_quanv, check_quanv),
    "pointwise": (_pointwise, check_pointwise),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_matches_aer_on_every_device(family: str, device: str) -> None:
    make, check = FAMILIES[family]
    layer = make({"device": device})
    assert check(layer, layer.execution.device_noise.backend()) < 1e-8
    assert layer.route == "device"


@pytest.mark.parametrize(
    ("device", "qubits"),
    [("fake_torino", [0, 1, 2, 3, 4]), ("fake_sherbrooke", [0, 1, 2, 3, 4])],
)
def test_a_line_layout_is_routed_and_matches_aer(device: str, qubits: list[int]) -> None:
    # StronglyEntanglingLayers couples wires at ranges 1 and 2: a line of qubits needs SWAPs.
    layer = _parallel({"device": device, "qubits": qubits})
    compiled = layer.device_circuit()
    assert compiled.swaps > 0
    assert [compiled.physical[p] for p in compiled.initial] == qubits
    assert check_parallel(layer, layer.execution.device_noise.backend()) < 1e-8


def test_routing_through_qubits_outside_the_layout_matches_aer() -> None:
    # Quanv's CNOT(0, 3) on a line 0-1-2-3 must be routed; the final layout differs.
    layer = _quanv({"device": "fake_manila", "qubits": [0, 1, 2, 3], "optimization_level": 0})
    compiled = layer.device_circuit()
    assert compiled.swaps > 0
    assert check_quanv(layer, layer.execution.device_noise.backend()) < 1e-8


def test_probabilities_and_higher_optimization_match_aer() -> None:
    layer = _pointwise({"device": "fake_torino", "optimization_level": 3}, "probs")
    err = check_pointwise(layer, layer.execution.device_noise.backend(), probs=True)
    assert err < 1e-8


def test_calibration_json_of_a_backend_matches_aer(tmp_path) -> None:
    import json

    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    props = FakeManilaV2().properties().to_dict()
    path = tmp_path / "manila.json"
    path.write_text(json.dumps(props, default=str))
    layer = _parallel({"calibration": str(path)})
    backend = layer.execution.device_noise.backend()
    assert backend.num_qubits == 5
    # The properties' asymmetric readout reaches both Aer and the engine.
    confusion = layer.device_circuit().confusion
    assert np.any(np.abs(confusion[:, 1, 0] - confusion[:, 0, 1]) > 1e-4)
    assert check_parallel(layer, backend) < 1e-8


def _msb_first(rho: np.ndarray, m: int) -> np.ndarray:
    """Reorder an m-qubit density matrix between Qiskit's order and first-qubit-major."""
    rev = list(range(m))[::-1]
    return rho.reshape([2] * (2 * m)).transpose(rev + [m + r for r in rev]).reshape(rho.shape)


@pytest.mark.parametrize("device", DEVICES)
def test_every_gate_channel_is_aers(device: str) -> None:
    import qiskit.quantum_info as qi

    from hqnn_pl.quantum.devices import channels
    from hqnn_pl.quantum.devices.backends import load_backend
    from tests.quantum.devices.aer import aer_simulator

    backend = load_backend(device)
    _, noise_model = aer_simulator(backend)
    rng = np.random.default_rng(0)
    checked = 0
    for name, errors in noise_model._local_quantum_errors.items():
        for qubits in list(errors)[:4]:
            m = len(qubits)
            a = rng.normal(size=(2**m, 2**m)) + 1j * rng.normal(size=(2**m, 2**m))
            rho = a @ a.conj().T
            rho /= np.trace(rho)
            ref = qi.DensityMatrix(_msb_first(rho, m)).evolve(qi.SuperOp(errors[qubits])).data
            ours = (channels.gate_noise(backend.target, name, qubits) @ rho.reshape(-1)).reshape(
                rho.shape
            )
            assert np.abs(_msb_first(ref, m) - ours).max() < 1e-12, (name, qubits)
            checked += 1
    assert checked >= 8  # sx, x, id and the two-qubit gate, on several qubits
