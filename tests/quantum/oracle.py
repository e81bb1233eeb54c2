"""Oracle helpers: the circuits of hqnn_pl.quantum.circuits as default.qubit QNodes (float64)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import pennylane as qml
import torch
from torch import Tensor

from hqnn_pl.quantum import circuits


@functools.cache
def oracle_qnode(qfunc: Callable, n_qubits: int, **kwargs) -> qml.QNode:
    """Exact default.qubit QNode (backprop) of one of the project's quantum functions."""
    func = functools.partial(qfunc, **kwargs) if kwargs else qfunc
    return qml.QNode(func, qml.device("default.qubit", wires=n_qubits), interface="torch")


def _as_matrix(result, n_rows: int) -> Tensor:
    if isinstance(result, (tuple, list)):
        result = torch.stack(list(result), dim=-1)
    return result.reshape(n_rows, -1)


def parallel_oracle(x: Tensor, weights: Tensor, rotation: str, observable: str) -> Tensor:
    """ParallelQuantumLayer's output for x (B, C*n) and weights (C, depth, n, 3)."""
    n_circuits, _, n_qubits, _ = weights.shape
    qnode = oracle_qnode(
        circuits.parallel_circuit, n_qubits, rotation=rotation, observable=observable
    )
    outs = [
        _as_matrix(qnode(x[:, c * n_qubits : (c + 1) * n_qubits], weights[c]), x.shape[0])
        for c in range(n_circuits)
    ]
    return torch.cat(outs, dim=-1)


def quanv_oracle(patches: Tensor, weights: Tensor, trainable: bool, seed: int = 0) -> Tensor:
    """Quanvolution circuit outputs (P, k*k) for patches (P, k*k)."""
    if trainable:
        qnode = oracle_qnode(circuits.quanv_trainable_circuit, 4)
    else:
        qnode = oracle_qnode(circuits.quanv_random_circuit, patches.shape[-1], seed=seed)
    return _as_matrix(qnode(patches, weights), patches.shape[0])


def qpcnn_oracle(vectors: Tensor, weights: Tensor, measurement: str) -> Tensor:
    """QPCNN circuit outputs for channel vectors (P, C) (no zero vectors)."""
    qnode = oracle_qnode(circuits.qpcnn_circuit, weights.shape[-2], measurement=measurement)
    return _as_matrix(qnode(vectors, weights), vectors.shape[0])


def value_and_grads(
    fn: Callable[..., Tensor], inputs: Sequence[Tensor], cotangent: Tensor | None = None
) -> tuple[Tensor, list[Tensor], Tensor]:
    """fn(*inputs), and the gradients of <cotangent, fn(*inputs)> w.r.t. every input."""
    out = fn(*inputs)
    if cotangent is None:
        generator = torch.Generator().manual_seed(1234)
        cotangent = torch.randn(out.shape, generator=generator, dtype=torch.float64)
    if not inputs:
        return out.detach(), [], cotangent
    loss = (out * cotangent.to(out)).sum()
    grads = torch.autograd.grad(loss, list(inputs), allow_unused=True, materialize_grads=True)
    return out.detach(), [g.detach() for g in grads], cotangent


def assert_close(actual: Tensor, expected: Tensor, atol: float) -> None:
    torch.testing.assert_close(actual.double(), expected.double(), atol=atol, rtol=0.0)


def layer_outputs_and_grads(layer: torch.nn.Module, x: Tensor) -> list[Tensor]:
    """A layer's output, weights' gradient and input gradient under a fixed linear loss.

    For comparing two execution paths of the same layer on the same input.
    """
    layer.zero_grad(set_to_none=True)
    xx = x.clone().requires_grad_()
    out = layer(xx)
    (out * torch.linspace(-1, 1, out.numel(), dtype=x.dtype).reshape(out.shape)).sum().backward()
    return [out.detach(), layer.weights.grad.clone(), xx.grad.clone()]


def assert_layer_gradcheck(layer: torch.nn.Module, x: Tensor) -> None:
    """gradcheck and gradgradcheck of a float64 layer w.r.t. its input and its weights."""

    def run(inputs: Tensor, w: Tensor) -> Tensor:
        return torch.func.functional_call(layer, {"weights": w}, (inputs,))

    w = layer.weights.detach().clone().requires_grad_()
    x = x.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(run, (x, w))
    assert torch.autograd.gradgradcheck(run, (x, w))


def assert_float32_matches_float64(layer: torch.nn.Module, x: Tensor, atol: float = 2e-5) -> None:
    """The float32 layer's outputs and gradients are its float64 copy's within ``atol``."""
    single = layer_outputs_and_grads(layer, x)
    double = layer_outputs_and_grads(layer.double(), x.double())
    for got, expected in zip(single, double, strict=True):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got.double(), expected, atol=atol, rtol=0)


def torch_paths_only(layer: torch.nn.Module) -> torch.nn.Module:
    """The layer (same weights) on the ``dense`` route: plain autograd through the torch build."""
    return layer.rerouted("dense")


def assert_outputs_and_grads_equal(got: list[Tensor], expected: list[Tensor]) -> None:
    """Two :func:`layer_outputs_and_grads` results agree to 1e-12 (float64 paths)."""
    for actual, wanted in zip(got, expected, strict=True):
        torch.testing.assert_close(actual, wanted, atol=1e-12, rtol=0)
