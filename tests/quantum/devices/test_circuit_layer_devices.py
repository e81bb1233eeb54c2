"""CircuitLayer, a user's own circuit, on the device route: Aer agreement, gradients, refusals.

Each circuit is compiled per measurement group (one basis per wire) and held to Aer's density
matrix under ``NoiseModel.from_backend`` with the backend's readout errors, to 1e-8 in float64,
on fake_torino (cz), fake_sherbrooke (ecr) and fake_manila (cx), and on a layout that needs
routing.
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
import torch

pytest.importorskip("qiskit_aer")
pytest.importorskip("qiskit_ibm_runtime")

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.examples.circuits import WEIGHT_SHAPES, reuploading_ansatz
from hqnn_pl.quantum.layers import CircuitLayer
from tests.quantum.devices.aer import aer_outputs

pytestmark = pytest.mark.devices

DEVICES = ["fake_torino", "fake_sherbrooke", "fake_manila"]


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


def _layer(name: str, noise: dict, n_circuits: int = 2, **kwargs) -> CircuitLayer:
    circuit, shapes, n_qubits = CIRCUITS[name]
    execution = {"noise": noise, **kwargs}
    return CircuitLayer(circuit, shapes, n_qubits, n_circuits=n_circuits, execution=execution,
                        seed=3)  # fmt: skip


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
    # CNOT(0, 3) and IsingZZ(0, 2) on a line of qubits: the router inserts SWAPs.
    layer = _layer("late_inputs", {"device": "fake_torino", "qubits": [0, 1, 2, 3],
                                   "optimization_level": 0}, n_circuits=1)  # fmt: skip
    compiled = layer.device_circuit()
    assert compiled.swaps > 0
    assert [compiled.physical[p] for p in compiled.initial] == [0, 1, 2, 3]
    assert _check(layer) < 1e-8


def test_float32_is_close_to_float64() -> None:
    layer = _layer("word_and_probs", {"device": "fake_manila"})
    x = torch.rand(4, layer.in_features, dtype=torch.float64) * 3
    out64, out32 = layer(x), layer(x.float())
    assert out32.dtype == torch.float32
    assert torch.allclose(out32.double(), out64, atol=2e-5)


def test_gradients_match_finite_differences() -> None:
    layer = _layer("late_inputs", {"device": "fake_manila"}).double()
    x = (torch.rand(2, layer.in_features, dtype=torch.float64) * 3).requires_grad_(True)
    w = layer.w.detach().clone().requires_grad_(True)

    def run(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        chunks = x.reshape(-1, 2, 4).transpose(0, 1)
        return layer._forward_device(chunks, [w])

    assert torch.autograd.gradcheck(run, (w, x), atol=1e-6)


def test_shots_sample_the_noisy_distribution() -> None:
    exact = _layer("word_and_probs", {"device": "fake_manila"}, n_circuits=1)
    sampled = _layer("word_and_probs", {"device": "fake_manila"}, n_circuits=1, shots=20000)
    x = torch.rand(2, 3, dtype=torch.float64)
    want, got = exact(x), sampled(x)
    assert not torch.equal(want, got) and torch.allclose(got, want, atol=0.03)
    probs = got[:, 1:5]  # probs(wires=[2, 0]) sampled: frequencies of 20000 shots
    assert torch.allclose(probs.sum(-1), torch.ones(2, dtype=torch.float64))
    assert torch.allclose(probs * 20000, (probs * 20000).round(), atol=1e-6)


def not_affine(inputs, w):
    qml.RY(inputs[..., 0], wires=0)
    qml.CRZ(w[0] * inputs[..., 1], wires=[0, 1])
    return [qml.expval(qml.Z(0)), qml.expval(qml.Z(1))]


def no_qiskit_gate(inputs, w):
    qml.RY(inputs[..., 0] + w[0], wires=0)
    qml.BlockEncode(0.3, wires=[0, 1])
    return [qml.expval(qml.Z(0)), qml.expval(qml.Z(1))]


@pytest.mark.parametrize(
    ("circuit", "message"),
    [
        (not_affine, "the angle of CRZ on wires [0, 1] of not_affine"),
        (no_qiskit_gate, "BlockEncode on wires [0, 1] of no_qiskit_gate"),
    ],
)
@pytest.mark.filterwarnings("ignore")
def test_circuits_a_device_cannot_run_are_refused_in_one_line(circuit, message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        CircuitLayer(circuit, {"w": (1,)}, 2, execution={"noise": {"device": "fake_manila"}})
    text = str(refused.value)
    assert "\n" not in text and message in text and text.startswith("CircuitLayer: ")


@pytest.mark.parametrize("name", list(CIRCUITS))
def test_compiled_circuits_without_noise_are_the_users_circuit(name: str) -> None:
    # Aer agreement checks the noisy run of the compiled circuits; this checks that they are the
    # circuit written (noise-free, routed on fake_manila's line): the layer's exact outputs.
    from qiskit.quantum_info import Statevector

    noisy = _layer(name, {"device": "fake_manila", "qubits": [0, 1, 2, 3][: CIRCUITS[name][2]],
                          "optimization_level": 0}, n_circuits=1)  # fmt: skip
    exact = _layer(name, None, n_circuits=1)
    x = torch.rand(2, noisy.in_features, dtype=torch.float64, generator=torch.Generator()) * 3
    flat = noisy._flat_weights().detach().double().numpy()[0]
    out = np.zeros((2, noisy.n_outputs))
    for index, group in enumerate(noisy._device_groups):
        compiled = noisy._device_executor(True, index).compiled
        final = [compiled.physical[p] for p in compiled.final]
        for b, row in enumerate(x.numpy()):
            binds = {p: flat[p.index] if p.vector.name == "w" else row[p.index]
                     for p in compiled.circuit.parameters}  # fmt: skip
            state = Statevector(compiled.circuit.assign_parameters(binds))
            out[b] += group.table @ state.probabilities(list(reversed(final)))
    assert np.abs(out - exact(x).detach().numpy()).max() < 1e-10


def test_pickled_and_inference_mode_layers_run_the_same_circuits() -> None:
    import pickle

    layer = _layer("word_and_probs", {"device": "fake_manila"})
    x = torch.rand(2, layer.in_features, dtype=torch.float64)
    with torch.inference_mode():
        first = layer(x)
    copy = pickle.loads(pickle.dumps(layer))
    assert copy._device is None
    assert torch.allclose(copy(x), first, atol=1e-12)
    layer(x).sum().backward()  # a first call under inference_mode leaves training possible
    assert layer.w.grad is not None and layer.w.grad.abs().sum() > 0
