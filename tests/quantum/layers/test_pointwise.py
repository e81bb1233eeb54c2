from __future__ import annotations

import copy

import pytest
import torch

from hqnn_pl.quantum import QuantumPointwiseConv2d
from hqnn_pl.quantum.execution import Execution
from tests.quantum.oracle import assert_close, qpcnn_oracle, value_and_grads


def _oracle(layer: QuantumPointwiseConv2d, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """QPCNN through the QNode; zero channel vectors are replaced by |0...0> = (1, 0, ..., 0)."""
    batch, channels, height, width = x.shape
    vectors = x.permute(0, 2, 3, 1).reshape(-1, channels)
    is_zero = (vectors == 0).all(dim=-1, keepdim=True)
    first = torch.zeros(channels, dtype=x.dtype)
    first[0] = 1.0
    vectors = torch.where(is_zero, first, vectors)
    out = qpcnn_oracle(vectors, weights, layer.measurement)
    return out.reshape(batch, height, width, -1).permute(0, 3, 1, 2)


def _features(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=generator, dtype=torch.float64)
    x[0, :, 0, 1] = 0.0  # a zero channel vector
    return x


CASES = [
    # in_channels, depth, measurement
    (1, 1, "expval"),
    (2, 2, "probs"),
    (3, 1, "expval"),
    (3, 2, "probs"),
    (4, 3, "expval"),
    (5, 2, "expval"),
    (8, 1, "probs"),
    (12, 2, "expval"),
    (16, 1, "probs"),
]


@pytest.mark.parametrize(("channels", "depth", "measurement"), CASES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_torch_backend_matches_qnode(
    channels: int, depth: int, measurement: str, dtype: torch.dtype
) -> None:
    torch.manual_seed(channels + depth)
    layer = QuantumPointwiseConv2d(channels, depth, measurement).to(dtype)
    x = _features((2, channels, 2, 3), seed=channels)
    out, (gx, gw), cot = value_and_grads(
        lambda a, w: layer(a), [x.to(dtype).requires_grad_(True), layer.weights]
    )
    w64 = layer.weights.detach().double().requires_grad_(True)
    ref, (rx, rw), _ = value_and_grads(
        lambda a, w: _oracle(layer, a, w), [x.clone().requires_grad_(True), w64], cot
    )
    n = layer.n_qubits
    assert n == max(1, (channels - 1).bit_length())
    assert out.shape == (2, n if measurement == "expval" else 2**n, 2, 3)
    assert out.dtype == dtype
    atol = 1e-10 if dtype == torch.float64 else 1e-5
    assert_close(out, ref, atol)
    assert_close(gw, rw, atol)
    # Input gradients: equal to the oracle's, except at the zero vector where the layer defines
    # the gradient as 0 (the oracle differentiates through its replacement constant: also 0).
    assert torch.isfinite(gx).all()
    assert_close(gx, rx, atol)
    assert (gx[0, :, 0, 1] == 0).all()


def test_zero_vector_is_encoded_as_ground_state_without_nan() -> None:
    torch.manual_seed(0)
    layer = QuantumPointwiseConv2d(3, depth=2, measurement="probs").double()
    zero = torch.zeros(1, 3, 1, 1, dtype=torch.float64, requires_grad=True)
    ground = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64).reshape(1, 3, 1, 1)
    out = layer(zero)
    assert_close(out, layer(ground), 1e-12)
    out.sum().backward()
    assert torch.isfinite(zero.grad).all() and torch.isfinite(layer.weights.grad).all()
    # the ground-state encoding is also what the pennylane backend uses
    pl_layer = QuantumPointwiseConv2d(
        3, depth=2, measurement="probs", execution=Execution(backend="pennylane")
    )
    pl_layer.load_state_dict(layer.state_dict())
    pl_out = pl_layer.double()(zero)
    assert torch.isfinite(pl_out).all()
    assert_close(pl_out, out, 1e-10)


def test_output_is_scale_invariant_per_pixel() -> None:
    layer = QuantumPointwiseConv2d(6, depth=2).double()
    x = _features((1, 6, 2, 2), seed=1)
    scale = torch.rand(1, 1, 2, 2, dtype=torch.float64) + 0.1
    assert_close(layer(x * scale), layer(x), 1e-12)


@pytest.mark.parametrize("measurement", ["expval", "probs"])
def test_backends_agree_through_state_dict(measurement: str) -> None:
    torch.manual_seed(4)
    torch_layer = QuantumPointwiseConv2d(5, depth=2, measurement=measurement)
    pl_layer = QuantumPointwiseConv2d(
        5, depth=2, measurement=measurement, execution=Execution(backend="pennylane")
    )
    pl_layer.load_state_dict(torch_layer.state_dict())
    x = _features((2, 5, 3, 3), seed=2).float()
    assert_close(pl_layer(x), torch_layer(x), 1e-5)


def test_gradcheck_float64() -> None:
    torch.manual_seed(5)
    layer = QuantumPointwiseConv2d(3, depth=2).double()
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(1, 3, 2, 2, generator=generator, dtype=torch.float64).requires_grad_(True)
    weights = layer.weights.detach().clone().requires_grad_(True)

    def fn(inputs: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(layer, {"weights": w}, (inputs,))

    assert torch.autograd.gradcheck(fn, (x, weights), eps=1e-6, atol=1e-7)


def test_attributes_and_draw() -> None:
    layer = QuantumPointwiseConv2d(10, depth=2, measurement="probs")
    assert (layer.n_qubits, layer.out_channels) == (4, 16)
    assert layer.weights.shape == (2, 4, 3)
    drawing = layer.draw()
    assert "|Ψ⟩" in drawing and "Probs" in drawing


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("measurement", ["expval", "probs"])
def test_cuda_matches_cpu(measurement: str) -> None:
    layer = QuantumPointwiseConv2d(6, depth=2, measurement=measurement).double()
    x = _features((4, 6, 8, 8), seed=3)
    expected = layer(x)
    cuda_layer = copy.deepcopy(layer).cuda()
    out = cuda_layer(x.cuda())
    assert_close(out.cpu(), expected, 1e-10)
    out.sum().backward()
    out32 = copy.deepcopy(layer).float().cuda()(x.float().cuda())
    assert_close(out32.cpu(), expected, 1e-5)
