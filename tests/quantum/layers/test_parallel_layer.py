from __future__ import annotations

import copy
import itertools
import math
import pickle

import pennylane as qml
import pytest
import torch

from hqnn_pl.quantum import ParallelQuantumLayer
from hqnn_pl.quantum.execution import Execution
from tests.quantum.oracle import assert_close, parallel_oracle, value_and_grads

PAULIS = ("X", "Y", "Z")


def _inputs(batch: int, features: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, features, generator=generator, dtype=torch.float64) * 4 - 2) * math.pi


def _check_against_oracle(layer: ParallelQuantumLayer, x: torch.Tensor, atol: float) -> None:
    weights = layer.weights
    out, (gx, gw), cot = value_and_grads(
        lambda a, w: layer(a), [x.clone().requires_grad_(True), weights]
    )
    x64 = x.detach().double().requires_grad_(True)
    w64 = weights.detach().double().requires_grad_(True)
    ref, (rx, rw), _ = value_and_grads(
        lambda a, w: parallel_oracle(a, w, layer.rotation, layer.observable), [x64, w64], cot
    )
    assert out.dtype == x.dtype
    assert_close(out, ref, atol)
    assert_close(gx, rx, atol)
    assert_close(gw, rw, atol)


# Full grid in float64: every qubit count, depth, embedding rotation and measured Pauli.
GRID64 = list(itertools.product(range(1, 7), range(1, 4), PAULIS, PAULIS))


@pytest.mark.parametrize(("n_qubits", "depth", "rotation", "observable"), GRID64)
def test_torch_backend_matches_qnode_float64(
    n_qubits: int, depth: int, rotation: str, observable: str
) -> None:
    torch.manual_seed(n_qubits * 100 + depth)
    n_circuits = 2 if n_qubits <= 3 else 1
    batch = 1 if (n_qubits + depth) % 3 == 0 else 3
    layer = ParallelQuantumLayer(n_qubits, n_circuits, depth, rotation, observable).double()
    x = _inputs(batch, n_circuits * n_qubits, torch.float64, seed=n_qubits + 10 * depth)
    _check_against_oracle(layer, x, atol=1e-10)


GRID32 = [
    (1, 1, "X", "Y"),
    (2, 3, "Y", "X"),
    (3, 2, "Z", "Z"),
    (4, 3, "X", "Z"),
    (5, 3, "X", "Y"),
    (6, 2, "Y", "Y"),
    (6, 3, "Z", "X"),
]


@pytest.mark.parametrize(("n_qubits", "depth", "rotation", "observable"), GRID32)
def test_torch_backend_matches_qnode_float32(
    n_qubits: int, depth: int, rotation: str, observable: str
) -> None:
    torch.manual_seed(7 + n_qubits)
    layer = ParallelQuantumLayer(n_qubits, 2, depth, rotation, observable)
    x = _inputs(4, 2 * n_qubits, torch.float64, seed=n_qubits).float()
    _check_against_oracle(layer, x, atol=1e-5)


def test_defaults_match_hqnn_parallel() -> None:
    layer = ParallelQuantumLayer()
    assert (layer.in_features, layer.out_features) == (20, 20)
    assert [name for name, _ in layer.named_parameters()] == ["weights"]
    assert layer.weights.shape == (4, 3, 5, 3)
    assert sum(p.numel() for p in layer.parameters()) == 180
    assert layer.weights.min() >= 0 and layer.weights.max() < 2 * math.pi
    assert (layer.rotation, layer.observable, layer.backend) == ("X", "Y", "torch")


def test_chunks_map_to_their_own_circuit() -> None:
    # Changing chunk k (or circuit k's weights) only changes outputs k*q:(k+1)*q.
    torch.manual_seed(0)
    layer = ParallelQuantumLayer(n_qubits=3, n_circuits=3, depth=2).double()
    x = torch.randn(2, 9, dtype=torch.float64)
    base = layer(x)
    x2 = x.clone()
    x2[:, 3:6] += 0.5
    changed = (layer(x2) - base).abs().amax(dim=0) > 1e-12
    assert changed.tolist() == [False] * 3 + [True] * 3 + [False] * 3


def test_leading_dimensions_and_unbatched_input() -> None:
    torch.manual_seed(0)
    layer = ParallelQuantumLayer(n_qubits=2, n_circuits=2, depth=1).double()
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    out = layer(x)
    assert out.shape == (2, 3, 4)
    assert_close(out.reshape(6, 4), layer(x.reshape(6, 4)), 1e-12)
    assert_close(layer(x[0, 0]), out[0, 0], 1e-12)
    assert layer(torch.zeros(0, 4, dtype=torch.float64)).shape == (0, 4)


def test_float64_input_with_float32_module_returns_float64() -> None:
    layer = ParallelQuantumLayer(n_qubits=2, n_circuits=1, depth=1)
    x = torch.randn(3, 2, dtype=torch.float64)
    assert layer(x).dtype == torch.float64
    assert layer(x.float()).dtype == torch.float32
    assert layer(x.half()).dtype == torch.float16


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_backends_agree_through_state_dict(dtype: torch.dtype) -> None:
    torch.manual_seed(3)
    torch_layer = ParallelQuantumLayer(n_qubits=3, n_circuits=2, depth=2).to(dtype)
    pl_layer = ParallelQuantumLayer(
        n_qubits=3, n_circuits=2, depth=2, execution=Execution(backend="pennylane")
    )
    pl_layer.load_state_dict(torch_layer.state_dict())
    pl_layer.to(dtype)
    x = _inputs(5, 6, dtype, seed=1).to(dtype)
    out_t, grads_t, cot = value_and_grads(
        lambda a, w: torch_layer(a), [x.clone().requires_grad_(True), torch_layer.weights]
    )
    out_p, grads_p, _ = value_and_grads(
        lambda a, w: pl_layer(a), [x.clone().requires_grad_(True), pl_layer.weights], cot
    )
    atol = 1e-10 if dtype == torch.float64 else 1e-5
    assert out_p.dtype == dtype
    assert_close(out_t, out_p, atol)
    for gt, gp in zip(grads_t, grads_p, strict=True):
        assert_close(gt, gp, atol)
    # and back: a pennylane-backend state_dict loads into a torch-backend layer
    fresh = ParallelQuantumLayer(n_qubits=3, n_circuits=2, depth=2).to(dtype)
    fresh.load_state_dict(pl_layer.state_dict())
    assert_close(fresh(x), out_p, atol)


@pytest.mark.parametrize(
    ("device", "diff_method"),
    [
        ("default.qubit", "adjoint"),
        ("default.qubit", "parameter-shift"),
        ("default.qubit", "best"),
        ("lightning.qubit", "adjoint"),
        ("lightning.qubit", "best"),
    ],
)
def test_pennylane_devices_and_diff_methods_match_torch(device: str, diff_method: str) -> None:
    torch.manual_seed(5)
    reference = ParallelQuantumLayer(n_qubits=2, n_circuits=2, depth=2).double()
    layer = ParallelQuantumLayer(
        n_qubits=2,
        n_circuits=2,
        depth=2,
        execution=Execution(backend="pennylane", device=device, diff_method=diff_method),
    ).double()
    layer.load_state_dict(reference.state_dict())
    x = _inputs(3, 4, torch.float64, seed=2)
    out_r, grads_r, cot = value_and_grads(
        lambda a, w: reference(a), [x.clone().requires_grad_(True), reference.weights]
    )
    out_p, grads_p, _ = value_and_grads(
        lambda a, w: layer(a), [x.clone().requires_grad_(True), layer.weights], cot
    )
    assert_close(out_p, out_r, 1e-6)
    for gr, gp in zip(grads_r, grads_p, strict=True):
        assert_close(gp, gr, 1e-6)


def test_pennylane_backend_with_shots_is_close_and_differentiable() -> None:
    torch.manual_seed(6)
    reference = ParallelQuantumLayer(n_qubits=2, n_circuits=2, depth=1).double()
    layer = ParallelQuantumLayer(
        n_qubits=2,
        n_circuits=2,
        depth=1,
        execution=Execution(backend="pennylane", diff_method="parameter-shift", shots=4000),
    ).double()
    layer.load_state_dict(reference.state_dict())
    x = _inputs(2, 4, torch.float64, seed=3).requires_grad_(True)
    out = layer(x)
    assert out.shape == (2, 4)
    assert_close(out.detach(), reference(x).detach(), 0.15)
    out.sum().backward()
    assert layer.weights.grad is not None and torch.isfinite(layer.weights.grad).all()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_gradcheck_float64() -> None:
    torch.manual_seed(8)
    layer = ParallelQuantumLayer(n_qubits=3, n_circuits=2, depth=2, rotation="Y").double()
    x = _inputs(2, 6, torch.float64, seed=4).requires_grad_(True)
    weights = layer.weights.detach().clone().requires_grad_(True)

    def fn(inputs: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(layer, {"weights": w}, (inputs,))

    assert torch.autograd.gradcheck(fn, (x, weights), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("rotation", PAULIS)
def test_gradcheck_each_rotation(rotation: str) -> None:
    torch.manual_seed(9)
    layer = ParallelQuantumLayer(
        n_qubits=2, n_circuits=1, depth=1, rotation=rotation, observable="X"
    ).double()
    x = _inputs(2, 2, torch.float64, seed=5).requires_grad_(True)
    assert torch.autograd.gradcheck(layer, (x,), eps=1e-6, atol=1e-7)


def test_copy_pickle_and_draw() -> None:
    layer = ParallelQuantumLayer(
        n_qubits=2, n_circuits=2, depth=1, execution=Execution(backend="pennylane")
    )
    x = torch.randn(3, 4)
    clone = copy.deepcopy(layer)
    restored = pickle.loads(pickle.dumps(layer))
    assert_close(clone(x), layer(x), 1e-6)
    assert_close(restored(x), layer(x), 1e-6)
    drawing = ParallelQuantumLayer(n_qubits=2, n_circuits=2, depth=1).draw(level="device")
    assert "RX" in drawing and "Rot" in drawing and "<Y>" in drawing
    assert "StronglyEntanglingLayers" in layer.draw()
    inputs, weights = layer.example_args()
    assert inputs.shape == (2,) and weights.shape == (1, 2, 3)
    assert len(layer.qnode()(inputs, weights)) == 2


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    torch.manual_seed(10)
    layer = ParallelQuantumLayer().double()
    x = torch.randn(64, 20, dtype=torch.float64)
    expected = layer(x)
    cuda_layer = copy.deepcopy(layer).cuda()
    out = cuda_layer(x.cuda())
    assert out.device.type == "cuda"
    assert_close(out.cpu(), expected, 1e-10)
    out.sum().backward()
    assert cuda_layer.weights.grad is not None
    out32 = copy.deepcopy(layer).float().cuda()(x.float().cuda())
    assert_close(out32.cpu(), expected, 1e-5)


def test_unitary_matches_qml_matrix() -> None:
    layer = ParallelQuantumLayer(n_qubits=3, n_circuits=2, depth=2)
    unitaries = layer.unitary()
    assert unitaries.shape == (2, 8, 8) and unitaries.dtype == torch.complex128
    for c in range(2):
        weights = layer.weights[c].detach().double()
        expected = qml.matrix(qml.StronglyEntanglingLayers(weights, wires=range(3)))
        assert_close(unitaries[c].detach().real, torch.as_tensor(expected).real, 1e-6)
        assert_close(unitaries[c].detach().imag, torch.as_tensor(expected).imag, 1e-6)
