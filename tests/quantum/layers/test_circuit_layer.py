"""CircuitLayer held to the QNode on default.qubit (1e-10, float64) on a battery of circuits."""

from __future__ import annotations

import math

import pennylane as qml
import pytest
import torch

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import CircuitLayer, Execution
from tests.quantum.battery import BatteryCircuit, battery, oracle, random_circuit

BATTERY = battery(range(1, 11))
MORE = [random_circuit(n, 1000 * n + s) for n in range(2, 9) for s in (1, 2)]


def _weights(layer: CircuitLayer) -> dict[str, torch.Tensor]:
    return {k: getattr(layer, k).detach().clone().requires_grad_() for k in layer.weight_shapes}


def _check_against_qnode(entry: BatteryCircuit, route: str, batch: int = 3) -> None:
    layer = CircuitLayer(entry.circuit, entry.weight_shapes, entry.n_qubits, entry.n_inputs,
                         execution=Execution(route=route), seed=7).double()  # fmt: skip
    gen = torch.Generator().manual_seed(entry.n_qubits)
    x = torch.rand(batch, entry.n_inputs, generator=gen, dtype=torch.float64) * 2 * math.pi
    x_layer, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    out = layer(x_layer)
    assert layer.route == route
    weights = _weights(layer)
    ref = oracle(entry, x_ref, weights)
    assert out.shape == ref.shape == (batch, layer.out_features)
    torch.testing.assert_close(out, ref, atol=1e-10, rtol=0)
    cotangent = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    names = list(entry.weight_shapes)
    got = torch.autograd.grad(
        (out * cotangent).sum(), [x_layer, *(getattr(layer, k) for k in names)]
    )
    want = torch.autograd.grad((ref * cotangent).sum(), [x_ref, *(weights[k] for k in names)],
                               allow_unused=True, materialize_grads=True)  # fmt: skip
    for name, g, w in zip(["inputs", *names], got, want, strict=True):
        torch.testing.assert_close(g, w, atol=1e-10, rtol=0, msg=f"gradient of {name}")


@pytest.mark.parametrize("entry", BATTERY, ids=lambda e: e.name)
@pytest.mark.parametrize("route", ["fused", "gatewise", "dense"])
def test_battery_matches_default_qubit(entry: BatteryCircuit, route: str) -> None:
    _check_against_qnode(entry, route, batch=5 if route == "dense" else 3)


@pytest.mark.parametrize("entry", MORE, ids=lambda e: e.name)
def test_more_battery_circuits_match(entry: BatteryCircuit) -> None:
    _check_against_qnode(entry, "fused")
    _check_against_qnode(entry, "gatewise")
    _check_against_qnode(entry, "dense", batch=16)


def reuploading(inputs, w, shared):
    """Inputs used twice and late, a shared weight, non-adjacent gates, a word on wires 0, 5."""
    for i in range(6):
        qml.RY(inputs[..., i], wires=i)
    qml.CRX(shared[0], wires=[0, 5])
    qml.IsingZZ(w[0] + w[1], wires=[4, 1])
    qml.CRot(shared[0], w[2], 2 * inputs[..., 3], wires=[5, 2])
    qml.StronglyEntanglingLayers(w[3:].reshape(1, 6, 3), wires=range(6))
    qml.RZ(inputs[..., 0] * 0.5, wires=3)
    qml.CZ(wires=[0, 3])
    return [qml.expval(qml.Z(0) @ qml.Z(5)), qml.expval(qml.X(2) @ qml.Y(3)), qml.probs([1, 4])]


def test_handwritten_reuploading_circuit_and_parameter_names() -> None:
    entry = BatteryCircuit("reuploading", reuploading, {"w": (21,), "shared": (1,)}, 6, 6)
    _check_against_qnode(entry, "gatewise")
    _check_against_qnode(entry, "fused")
    layer = CircuitLayer(reuploading, {"w": 21, "shared": 1}, 6, seed=3)
    assert [n for n, _ in layer.named_parameters()] == ["w", "shared"]
    assert layer.w.shape == (21,) and layer.out_features == 2 + 4
    assert float(layer.w.min()) >= 0 and float(layer.w.max()) < 2 * math.pi
    same = CircuitLayer(reuploading, {"w": 21, "shared": 1}, 6, seed=3)
    assert torch.equal(layer.w, same.w)
    assert layer.compiled is same.compiled  # compiled once per structure


def test_parallel_copies_have_their_own_weights() -> None:
    entry = random_circuit(3, 5)
    layer = CircuitLayer(entry.circuit, entry.weight_shapes, 3, n_circuits=2, seed=1).double()
    x = torch.rand(4, 6, dtype=torch.float64)
    out = layer(x)
    assert layer.w.shape == (2, *entry.weight_shapes["w"])
    for c in range(2):
        ref = oracle(entry, x[:, 3 * c : 3 * c + 3], {k: getattr(layer, k)[c] for k in
                                                       entry.weight_shapes})  # fmt: skip
        torch.testing.assert_close(out[:, c * layer.n_outputs : (c + 1) * layer.n_outputs],
                                   ref, atol=1e-10, rtol=0)  # fmt: skip


@pytest.mark.parametrize("n_qubits,seed", [(2, 11), (3, 12), (4, 13)])
@pytest.mark.parametrize("readout", [0.0, 0.04])
def test_noise_matches_default_mixed(n_qubits: int, seed: int, readout: float) -> None:
    entry = random_circuit(n_qubits, seed, n_gates=10)
    noise = {"depolarizing": 0.03, "amplitude_damping": 0.02, "readout": readout}
    layer = CircuitLayer(entry.circuit, entry.weight_shapes, n_qubits,
                         execution={"noise": noise}, seed=2).double()  # fmt: skip
    mixed = CircuitLayer(entry.circuit, entry.weight_shapes, n_qubits, seed=2,
                         execution={"noise": noise, "backend": "pennylane",
                                    "device": "default.mixed"}).double()  # fmt: skip
    x = torch.rand(3, n_qubits, dtype=torch.float64, requires_grad=True)
    out, ref = layer(x), mixed(x)
    assert layer.route == "density"
    # default.mixed itself differs from default.qubit by up to 4e-9 on these circuits (noise-free)
    torch.testing.assert_close(out, ref, atol=1e-8, rtol=0)
    free = CircuitLayer(entry.circuit, entry.weight_shapes, n_qubits, seed=2).double()
    assert (out - free(x)).abs().max() > 1e-4  # the noise changes the outputs
    g_out = torch.autograd.grad(out.sum(), [x, layer.w])
    g_ref = torch.autograd.grad(ref.sum(), [x, mixed.w])
    for a, b in zip(g_out, g_ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-7, rtol=0)


@pytest.mark.parametrize("noise", [None, {"depolarizing": 0.02, "readout": 0.05}])
def test_shots_estimate_the_exact_outputs_with_exact_gradients(noise: dict | None) -> None:
    entry = random_circuit(3, 21, n_gates=8)
    exact = CircuitLayer(entry.circuit, entry.weight_shapes, 3, seed=4,
                         execution={"noise": noise}).double()  # fmt: skip
    sampled = CircuitLayer(entry.circuit, entry.weight_shapes, 3, seed=4,
                           execution={"noise": noise, "shots": 4000}).double()  # fmt: skip
    x = torch.rand(64, 3, dtype=torch.float64)
    ref, out = exact(x), sampled(x)
    assert sampled.route == ("dense_shots" if noise is None else "density")
    error = (out - ref).abs()
    assert error.max() < 0.1 and error.mean() < 0.02 and error.max() > 0  # sampled, unbiased
    again = CircuitLayer(entry.circuit, entry.weight_shapes, 3, seed=4,
                         execution={"noise": noise, "shots": 4000}).double()  # fmt: skip
    torch.manual_seed(0)
    g1 = torch.autograd.grad(sampled(x).sum(), sampled.w)[0]
    g0 = torch.autograd.grad(exact(x).sum(), exact.w)[0]
    torch.testing.assert_close(g1, g0, atol=1e-10, rtol=0)  # shot_gradients "exact"
    assert again.shots == 4000


def _refusal(circuit, shapes=None, n_qubits=2) -> str:
    with pytest.raises(ConfigurationError) as info:
        CircuitLayer(circuit, shapes or {"w": (2,)}, n_qubits)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_refusals_are_one_line_naming_the_operation() -> None:
    def mid_measure(inputs, w):
        qml.RX(inputs[..., 0], wires=0)
        qml.measure(0)
        return [qml.expval(qml.Z(1))]

    def branches(inputs, w):
        if float(inputs[..., 0].sum()) > math.pi:
            qml.RX(w[0], wires=0)
        else:
            qml.RY(w[0], wires=1)
        return [qml.expval(qml.Z(0))]

    def hermitian(inputs, w):
        qml.RX(w[0], wires=0)
        return [qml.expval(qml.Hermitian(torch.eye(2), wires=0))]

    def variance(inputs, w):
        qml.RX(w[0], wires=0)
        return [qml.var(qml.Z(0))]

    message = _refusal(mid_measure)
    assert "MidMeasure" in message and "backend: pennylane" in message
    assert "depends on inputs" in _refusal(branches) or "input values" in _refusal(branches)
    assert "Hermitian" in _refusal(hermitian)
    assert "Var" in _refusal(variance) or "var" in _refusal(variance)
    assert "wire 2" in _refusal(lambda inputs, w: [qml.expval(qml.Z(2))])


def test_parameter_shift_shots_are_refused_and_pennylane_backend_runs_the_circuit() -> None:
    entry = random_circuit(2, 3, n_gates=6)
    with pytest.raises(ConfigurationError, match="parameter-shift"):
        CircuitLayer(entry.circuit, entry.weight_shapes, 2,
                     execution={"shots": 10, "shot_gradients": "parameter-shift"})  # fmt: skip
    layer = CircuitLayer(entry.circuit, entry.weight_shapes, 2, seed=0,
                         execution={"backend": "pennylane"}).double()  # fmt: skip
    torch_layer = CircuitLayer(entry.circuit, entry.weight_shapes, 2, seed=0).double()
    x = torch.rand(3, 2, dtype=torch.float64)
    torch.testing.assert_close(layer(x), torch_layer(x), atol=1e-10, rtol=0)


def test_hooks_for_the_tools() -> None:
    layer = CircuitLayer(reuploading, {"w": 21, "shared": 1}, 6, seed=0)
    spec = layer.circuit_spec()
    assert spec.n_qubits == 6 and spec.weight_shape == (22,)
    assert spec.circuit_weights.shape == (1, 22)
    inputs, weights = layer.example_args()
    outputs = qml.QNode(spec.qfunc, qml.device("default.qubit", wires=6))(inputs, weights)
    torch.testing.assert_close(
        torch.cat([torch.as_tensor(o).reshape(-1) for o in outputs]).float(),
        layer(inputs.float()[None])[0], atol=1e-5, rtol=0,
    )  # fmt: skip
    assert "RY" in layer.draw()
    weighted, angles = layer.shifted_angles()
    assert angles >= 6 + 2 and weighted >= 18
    assert layer.measurement_settings == 1  # Z0 Z5, X2 Y3 and probs [1, 4] share a basis
    assert layer.executions_per_call(torch.zeros(5, 6)) == 5


def bases_apart(inputs, w):
    qml.AngleEmbedding(inputs, wires=range(3))
    qml.RY(w[0], wires=0)
    qml.CNOT(wires=[0, 1])
    return [qml.expval(qml.X(0)), qml.expval(qml.Z(0) @ qml.Z(1)), qml.probs([1, 2]),
            qml.expval(qml.Y(2))]  # fmt: skip


def test_a_device_runs_each_copy_once_per_measurement_basis() -> None:
    # X0 conflicts with Z0 Z1, probs [1, 2] (Z1 Z2) with Y2: two bases at least, and the
    # greedy grouping finds two (X0 Z1 Z2 and Z0 Z1 Y2), so two circuits a copy and sample
    layer = CircuitLayer(bases_apart, {"w": 1}, 3, n_circuits=2, seed=0)
    assert layer.measurement_settings == 2
    assert layer.executions_per_call(torch.zeros(5, 6)) == 5 * 2 * 2
    assert layer.identity()(torch.ones(2, 6)).shape == (2, layer.out_features)


def test_layer_pickles_and_reloads_with_the_same_outputs(tmp_path) -> None:
    layer = CircuitLayer(reuploading, {"w": 21, "shared": 1}, 6, seed=5).double()
    x = torch.rand(4, 6, dtype=torch.float64)
    torch.save(layer, tmp_path / "layer.pt")
    loaded = torch.load(tmp_path / "layer.pt", weights_only=False)
    torch.testing.assert_close(loaded(x), layer(x), atol=1e-12, rtol=0)
    copy = layer.rerouted("gatewise")
    torch.testing.assert_close(copy(x), layer(x), atol=1e-10, rtol=0)
    assert copy.route == "gatewise"


def test_weight_names_that_cannot_be_parameters_are_refused() -> None:
    message = _refusal(lambda inputs, training: [qml.expval(qml.Z(0))], {"training": (1,)})
    assert "'training'" in message
