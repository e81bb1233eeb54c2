"""CircuitLayer on the device route beyond Aer: float32, gradients, shots, refusals, pickling.

Also that the compiled circuits, simulated without noise, are the circuit the user wrote.
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
import torch

pytest.importorskip("qiskit_ibm_runtime")

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum.layers import CircuitLayer
from tests.quantum.devices.user_circuits import CIRCUITS
from tests.quantum.devices.user_circuits import make_layer as _layer

pytestmark = pytest.mark.devices


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
