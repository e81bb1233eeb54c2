from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hqnn_pl.quantum import Execution, Quanv2d, RandomQuanv2d, circuits
from hqnn_pl.quantum.layers.quanv import Quanvolution, _trainable_quanv_tables
from tests.quantum.oracle import assert_close, quanv_oracle, value_and_grads


def _quanv(
    k: int = 2,
    stride: int = 2,
    trainable: bool = True,
    n_random_layers: int = 1,
    seed: int = 0,
    execution: Execution | None = None,
) -> Quanvolution:
    """HQNN-Quanv's trainable layer, or a random quanvolution with the given layers and seed."""
    if trainable:
        return Quanv2d(k, stride, execution=execution)
    return RandomQuanv2d(k, stride, n_random_layers, seed, execution=execution)


def _oracle(layer: Quanvolution, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """A quanvolution through the QNode: unfold, run every patch, fold channels as c * k * k + j."""
    k, s = layer.kernel_size, layer.stride
    batch, channels, height, width = x.shape
    patches = F.unfold(x, k, stride=s).reshape(batch, channels, k * k, -1).transpose(2, 3)
    trainable = isinstance(layer, Quanv2d)
    out = quanv_oracle(patches.reshape(-1, k * k), weights, trainable, getattr(layer, "seed", 0))
    _, out_h, out_w = layer.output_shape(channels, height, width)
    out = out.reshape(batch, channels, -1, k * k).transpose(2, 3)
    return out.reshape(batch, channels * k * k, out_h, out_w)


def _images(shape: tuple[int, ...], seed: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(shape, generator=generator, dtype=torch.float64)


CASES = [
    # trainable, kernel_size, stride, n_random_layers, seed, image shape
    (True, 2, 2, 1, 0, (2, 1, 6, 6)),
    (True, 2, 1, 1, 0, (1, 2, 5, 4)),
    (True, 2, 3, 1, 0, (3, 3, 7, 8)),
    (False, 2, 2, 1, 0, (2, 1, 6, 6)),
    (False, 2, 2, 3, 7, (1, 3, 5, 5)),
    (False, 3, 2, 2, 1, (1, 2, 5, 4)),
    (False, 1, 1, 2, 3, (1, 2, 3, 3)),
]


@pytest.mark.parametrize(("trainable", "k", "stride", "layers", "seed", "shape"), CASES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("input_grad", [True, False], ids=["input-grad", "no-input-grad"])
def test_torch_backend_matches_qnode(
    trainable: bool,
    k: int,
    stride: int,
    layers: int,
    seed: int,
    shape: tuple[int, ...],
    dtype: torch.dtype,
    input_grad: bool,
) -> None:
    # Images that need no gradient (a network's first layer) take the engine's in-place path.
    torch.manual_seed(seed + k)
    layer = _quanv(k, stride, trainable, n_random_layers=layers, seed=seed).to(dtype)
    # pixels mostly in [0, 1], but the circuit is exact for any real input
    x = _images(shape, seed=seed + stride, low=-0.5, high=1.5)
    weights = layer.weights if trainable else layer.random_weights
    x_in = x.to(dtype).requires_grad_(input_grad)
    x64 = x.clone().requires_grad_(input_grad)
    w64 = weights.detach().double().requires_grad_(trainable)
    used = (input_grad, trainable)
    inputs = [t for t, u in zip((x_in, weights), used, strict=True) if u]
    ref_inputs = [t for t, u in zip((x64, w64), used, strict=True) if u]
    out, grads, cot = value_and_grads(lambda *_: layer(x_in), inputs)
    ref, ref_grads, _ = value_and_grads(lambda *_: _oracle(layer, x64, w64), ref_inputs, cot)
    atol = 1e-10 if dtype == torch.float64 else 1e-5
    assert out.shape == (shape[0], *layer.output_shape(*shape[1:]))
    assert out.dtype == dtype
    assert_close(out, ref, atol)
    for g, r in zip(grads, ref_grads, strict=True):
        assert_close(g, r, atol)


@pytest.mark.parametrize(("trainable", "k"), [(True, 2), (False, 2), (False, 3)])
@pytest.mark.parametrize("input_grad", [True, False])
def test_empty_batch(trainable: bool, k: int, input_grad: bool) -> None:
    layer = _quanv(k, trainable=trainable)
    x = torch.rand(0, 2, 6, 6, requires_grad=input_grad)
    out = layer(x)
    assert out.shape == (0, *layer.output_shape(2, 6, 6))
    if input_grad or trainable:
        out.sum().backward()
        if trainable:
            assert layer.weights.grad is not None and not layer.weights.grad.any()


def test_trainable_block_is_the_papers_circuit() -> None:
    # Built by hand, independently of PennyLane: the engine's tables and the oracle both come
    # from circuits.quanv_trainable_block, so only this test pins the circuit itself.
    def rx(a: float) -> np.ndarray:
        return np.array(
            [[np.cos(a / 2), -1j * np.sin(a / 2)], [-1j * np.sin(a / 2), np.cos(a / 2)]]
        )

    def ry(a: float) -> np.ndarray:
        return np.array([[np.cos(a / 2), -np.sin(a / 2)], [np.sin(a / 2), np.cos(a / 2)]])

    def on(gates: dict[int, np.ndarray]) -> np.ndarray:
        out = np.ones((1, 1))
        for wire in range(4):
            out = np.kron(out, gates.get(wire, np.eye(2)))
        return out

    def cnot(control: int, target: int) -> np.ndarray:
        bits = (np.arange(16)[:, None] >> (3 - np.arange(4))) & 1  # wire 0 most significant
        flipped = bits.copy()
        flipped[:, target] ^= bits[:, control]
        image = flipped @ (2 ** (3 - np.arange(4)))
        return np.eye(16)[image].T  # column b holds the image of basis state b

    w = np.array([0.3, -1.1, 2.0, 0.7])
    expected = (
        on({0: ry(w[2]), 3: ry(w[3])})
        @ cnot(0, 3)
        @ cnot(0, 2)
        @ cnot(2, 3)
        @ on({0: rx(w[0]), 1: rx(w[1])})
    )
    np.testing.assert_allclose(circuits.quanv_trainable_unitary(w), expected, atol=1e-12)


@pytest.mark.parametrize("input_grad", [True, False])
def test_second_derivatives_of_the_weights(input_grad: bool) -> None:
    torch.manual_seed(4)
    layer = Quanv2d(stride=1).double()
    x = _images((1, 1, 3, 3), seed=8).requires_grad_(input_grad)
    weights = layer.weights.detach().clone().requires_grad_(True)

    def fn(w: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(layer, {"weights": w}, (x,))

    assert torch.autograd.gradgradcheck(fn, (weights,), eps=1e-6, atol=1e-7)


def test_evaluation_without_autograd_matches_the_oracle() -> None:
    torch.manual_seed(5)
    layer = Quanv2d()
    x = _images((2, 1, 6, 6), seed=9)
    with torch.no_grad():
        out = layer(x.float())
    with torch.inference_mode():
        assert_close(layer(x.float()), out, 0.0)
    assert_close(out, _oracle(layer, x, layer.weights.detach().double()), 1e-5)


def test_trainable_block_parameters() -> None:
    layer = Quanv2d()
    assert [n for n, _ in layer.named_parameters()] == ["weights"]
    assert layer.weights.shape == (4,)
    assert layer.weights.min() >= 0 and layer.weights.max() < 2 * math.pi
    assert layer.n_qubits == 4 and layer.output_shape(1, 28, 28) == (4, 14, 14)
    # In the Heisenberg picture the block's <Z_j> involve 6 of the 81 Pauli strings, with
    # coefficients built from 6 of the 81 weight monomials (see _trainable_quanv_tables).
    tables = _trainable_quanv_tables()
    assert tables["string_rows"].shape[0] == 6
    assert tables["coefficients"].shape == (6, 4 * 6)


def test_random_circuit_is_a_seeded_buffer_without_trainable_parameters() -> None:
    layer = RandomQuanv2d(n_random_layers=2, seed=5)
    assert list(layer.parameters()) == []
    assert list(layer.state_dict()) == ["random_weights"]
    expected = np.random.default_rng(5).uniform(0.0, 2 * math.pi, size=(2, 4))
    assert_close(layer.random_weights, torch.from_numpy(expected), 1e-6)
    x = torch.rand(2, 1, 6, 6)
    assert_close(RandomQuanv2d(n_random_layers=2, seed=5)(x), layer(x), 0.0)
    assert not torch.allclose(RandomQuanv2d(n_random_layers=2, seed=6)(x), layer(x))


def test_random_unitary_follows_loaded_random_weights() -> None:
    source = RandomQuanv2d(seed=0)
    source.random_weights.uniform_(0, 2 * math.pi)
    target = RandomQuanv2d(seed=0)
    x = torch.rand(1, 1, 4, 4)
    target.load_state_dict(source.state_dict())
    expected = _oracle(source, x.double(), source.random_weights.double())
    assert_close(target(x), expected, 1e-5)
    assert_close(source(x), expected, 1e-5)  # in-place changes are picked up too
    assert_close(target(x), source(x), 0.0)


def test_output_channel_order() -> None:
    # One 2x2 patch per channel: output channel c*4 + j is <Z_j> of input channel c.
    torch.manual_seed(1)
    layer = Quanv2d().double()
    x = _images((1, 3, 2, 2), seed=4)
    out = layer(x)
    assert out.shape == (1, 12, 1, 1)
    for c in range(3):
        patch = x[0, c].reshape(1, 4)  # row-major: pixel (i, j) on qubit 2 i + j
        expected = quanv_oracle(patch, layer.weights.detach(), trainable=True)
        assert_close(out[0, 4 * c : 4 * c + 4, 0, 0], expected[0], 1e-12)


@pytest.mark.parametrize("trainable", [True, False])
def test_backends_agree_through_state_dict(trainable: bool) -> None:
    torch.manual_seed(2)
    torch_layer = _quanv(trainable=trainable, n_random_layers=2, seed=3)
    pennylane = Execution(backend="pennylane")
    pl_layer = _quanv(trainable=trainable, n_random_layers=2, seed=3, execution=pennylane)
    pl_layer.load_state_dict(torch_layer.state_dict())
    x = _images((2, 2, 4, 6), seed=5).float()
    assert_close(pl_layer(x), torch_layer(x), 1e-5)
    assert pl_layer(x).dtype == torch.float32


def test_gradcheck_float64() -> None:
    torch.manual_seed(3)
    layer = Quanv2d(stride=1).double()
    x = _images((1, 2, 3, 3), seed=6).requires_grad_(True)
    weights = layer.weights.detach().clone().requires_grad_(True)

    def fn(inputs: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(layer, {"weights": w}, (inputs,))

    assert torch.autograd.gradcheck(fn, (x, weights), eps=1e-6, atol=1e-7)
    # images without gradient: the in-place path, whose weight gradient is one matrix product
    assert torch.autograd.gradcheck(lambda w: fn(x.detach(), w), (weights,), eps=1e-6, atol=1e-7)
    random_layer = RandomQuanv2d(stride=1, n_random_layers=2).double()
    assert torch.autograd.gradcheck(random_layer, (_images((1, 2, 3, 3), seed=7).requires_grad_(),))


def test_draw_and_copy() -> None:
    layer = RandomQuanv2d(n_random_layers=2)
    drawing = layer.draw()
    assert "RY" in drawing and "<Z>" in drawing
    assert "RX" in Quanv2d().draw()
    clone = copy.deepcopy(layer)
    clone.random_weights.add_(1.0)
    x = torch.rand(1, 1, 4, 4)
    assert not torch.allclose(clone(x), layer(x))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("trainable", [True, False])
def test_cuda_matches_cpu(trainable: bool) -> None:
    layer = _quanv(trainable=trainable).double()
    x = torch.rand(4, 1, 28, 28, dtype=torch.float64)
    expected = layer(x)
    cuda_layer = copy.deepcopy(layer).cuda()
    out = cuda_layer(x.cuda())
    assert_close(out.cpu(), expected, 1e-10)
    out32 = copy.deepcopy(layer).float().cuda()(x.float().cuda())
    assert_close(out32.cpu(), expected, 1e-5)
