"""The device route beyond Aer agreement: float32, gradients, shots, routes and refusals."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("qiskit_ibm_runtime")

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import Execution
from hqnn_pl.quantum.devices import channels
from hqnn_pl.quantum.layers import ParallelQuantumLayer, QuantumPointwiseConv2d, Quanv2d

pytestmark = pytest.mark.devices

MANILA = {"device": "fake_manila"}


def _parallel(noise=MANILA, **kwargs):
    torch.manual_seed(0)
    return ParallelQuantumLayer(
        n_qubits=4, n_circuits=2, depth=2, execution={"noise": noise, **kwargs}
    )


def test_float32_is_close_to_float64() -> None:
    layer = _parallel()
    x = torch.rand(8, 8, dtype=torch.float64) * 6
    out64 = layer(x)
    out32 = layer(x.float())
    assert out32.dtype == torch.float32
    assert torch.allclose(out32.double(), out64, atol=2e-5)
    assert layer.route == "device"


def test_gradients_match_finite_differences() -> None:
    layer = _parallel().double()
    x = (torch.rand(3, 8, dtype=torch.float64) * 6).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda w, x: ParallelCall(layer, w)(x),
        (layer.weights.detach().clone().requires_grad_(True), x),
        atol=1e-6,
    )


class ParallelCall:
    """The layer as a function of its weights (for gradcheck)."""

    def __init__(self, layer, weights) -> None:
        self.layer, self.weights = layer, weights

    def __call__(self, x):
        chunks = x.reshape(-1, 2, 4)
        return self.layer._forward_torch(chunks, self.weights, torch.complex128)


def test_quanv_and_pointwise_gradients_match_finite_differences() -> None:
    torch.manual_seed(0)
    quanv = Quanv2d(execution={"noise": MANILA}).double()
    x = torch.rand(2, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(quanv, (x,), atol=1e-6)
    out = quanv(x).sum()
    (grad,) = torch.autograd.grad(out, quanv.weights)
    assert grad.abs().sum() > 0
    pointwise = QuantumPointwiseConv2d(3, depth=1, execution={"noise": MANILA}).double()
    feats = torch.rand(2, 3, 1, 1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pointwise, (feats,), atol=1e-6)


def test_shots_sample_the_device_distribution() -> None:
    exact = _parallel()
    sampled = _parallel(shots=20000)
    x = torch.rand(4, 8) * 6
    diff = (sampled(x) - exact(x)).abs()
    assert 0 < diff.max() < 0.05  # sampled: not equal, within a few standard errors
    x.requires_grad_(True)
    sampled(x).sum().backward()  # exact gradients of the sampled outputs
    assert x.grad.abs().sum() > 0


def test_device_noise_changes_outputs_and_routes_to_device() -> None:
    noiseless = _parallel(noise=None)
    noisy = _parallel()
    x = torch.rand(4, 8) * 6
    assert (noiseless(x) - noisy(x)).abs().max() > 1e-3
    assert noisy.planner.taken == {"device": 1}
    forced = Execution(noise=MANILA, route="device")
    assert forced.device_noise.device == "fake_manila"


def test_channels_of_a_two_qubit_gate_are_physical() -> None:
    from hqnn_pl.quantum.devices.backends import load_backend

    target = load_backend("fake_torino").target
    pair = next(iter(target["cz"]))
    superop = channels.gate_noise(target, "cz", pair)
    # Trace preserving: the identity's row of the superoperator is untouched.
    identity = torch.eye(4, dtype=torch.complex128).reshape(-1).numpy()
    assert abs((identity @ superop) - identity).max() < 1e-12
    fidelity = channels.average_gate_fidelity(superop)
    assert 0.9 < fidelity < 1.0
    assert abs((1 - fidelity) - target["cz"][pair].error) < 1e-12  # Aer's calibration match


@pytest.mark.parametrize(
    ("noise", "message"),
    [
        ({"device": "fake_nowhere"}, "Unknown device 'fake_nowhere'"),
        ({"device": "fake_manila", "qubits": [0, 1, 2]}, "lists 3"),
        ({"device": "fake_manila", "qubits": [0, 2, 3, 4]}, "are not coupled on fake_manila"),
        ({"device": "fake_manila", "qubits": [0, 1, 2, 9]}, "do not exist on fake_manila"),
        ({"device": "fake_manila", "optimization_level": 5}, "optimization_level must be"),
        (
            {"device": "fake_manila", "depolarizing": 0.1},
            "Unknown device-noise key(s) 'depolarizing'",
        ),
    ],
)
def test_bad_device_settings_fail_in_one_line(noise, message) -> None:
    with pytest.raises(ConfigurationError, match=None) as info:
        _parallel(noise=noise)
    text = str(info.value)
    assert message in text and "\n" not in text


def test_a_calibration_that_does_not_parse_fails_in_one_line(tmp_path) -> None:
    bad = tmp_path / "props.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigurationError) as info:
        Execution(noise={"calibration": str(bad)})
    assert "does not parse as backend properties" in str(info.value)
    assert "\n" not in str(info.value)
    missing = tmp_path / "none.json"
    with pytest.raises(ConfigurationError, match="does not parse"):
        Execution(noise={"calibration": str(missing)})


def test_device_route_is_refused_without_device_noise_and_on_pennylane() -> None:
    with pytest.raises(ConfigurationError, match="route 'device' runs exactly the device noise"):
        Execution(noise={"depolarizing": 0.01}, route="device")
    with pytest.raises(ConfigurationError, match="runs on backend='torch'"):
        Execution(backend="pennylane", device="default.mixed", noise=MANILA)


def test_compilation_is_seeded_and_reproducible() -> None:
    first = _parallel({"device": "fake_torino", "seed": 7}).device_circuit()
    again = _parallel({"device": "fake_torino", "seed": 7}).device_circuit()
    assert first.qasm() == again.qasm() and first.physical == again.physical
    qasm = first.qasm()
    # Inputs and weights stay symbolic: OpenQASM 3 input parameters, one per angle.
    assert "input float[64] _w_0_;" in qasm and "input float[64] _x_0_;" in qasm
    assert qasm.count("cz $") == first.two_qubit_gates


def test_a_first_call_under_inference_mode_leaves_training_possible() -> None:
    # Lightning validates (inference_mode) before the first training step.
    layer = _parallel()
    x = torch.rand(3, 8)
    with torch.inference_mode():
        first = layer(x)
    out = layer(x)
    out.sum().backward()
    assert torch.allclose(first, out.detach())
    assert layer.weights.grad.abs().sum() > 0
