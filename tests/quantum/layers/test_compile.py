"""Every quantum layer works under torch.compile, with outputs and gradients equal to eager.

The fast tests compile with ``backend="aot_eager"``: Dynamo and AOTAutograd trace the layer with
fake tensors (where strided views of unfolded patches used to fail), without the minutes of C++
code generation that the default inductor backend needs on a CPU; one inductor test is ``slow``.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hqnn_pl.quantum import ParallelQuantumLayer, QuantumPointwiseConv2d, Quanv2d, RandomQuanv2d
from hqnn_pl.quantum.execution import Execution

LAYERS = {
    "parallel": (lambda: ParallelQuantumLayer(3, 2, 2), (4, 6)),  # shifted-unitary gradients
    "parallel-5": (lambda: ParallelQuantumLayer(5, 2, 2), (4, 10)),  # autograd through U
    "parallel-gatewise": (
        lambda: ParallelQuantumLayer(3, 2, 2, execution=Execution(method="gatewise")),
        (4, 6),
    ),
    "pointwise-gatewise": (
        lambda: QuantumPointwiseConv2d(5, 2, "probs", execution=Execution(method="gatewise")),
        (2, 5, 3, 3),
    ),
    "pointwise": (lambda: QuantumPointwiseConv2d(5, depth=2), (2, 5, 3, 3)),
    "quanv": (lambda: Quanv2d(), (2, 2, 6, 6)),
    "quanv-random": (lambda: RandomQuanv2d(), (2, 1, 4, 4)),
    "quanv-random-3x3": (lambda: RandomQuanv2d(3), (1, 1, 5, 5)),
}


def _check_compiled_matches_eager(layer: nn.Module, shape: tuple[int, ...], backend: str) -> None:
    torch._dynamo.reset()
    x = torch.rand(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    compiled = torch.compile(layer, backend=backend, fullgraph=False)
    for requires_grad in (False, True):  # the no-gradient (first layer) path and the autograd one
        x_eager = x.clone().requires_grad_(requires_grad)
        x_comp = x.clone().requires_grad_(requires_grad)
        eager = layer(x_eager)
        out = compiled(x_comp)
        torch.testing.assert_close(out, eager, atol=1e-12, rtol=0)
        params = [p for p in layer.parameters() if p.requires_grad]
        inputs = [x_eager] if requires_grad else []
        if not params and not inputs:
            continue
        cotangent = torch.rand_like(eager)
        grads_eager = torch.autograd.grad((eager * cotangent).sum(), [*inputs, *params])
        inputs = [x_comp] if requires_grad else []
        grads_comp = torch.autograd.grad((out * cotangent).sum(), [*inputs, *params])
        for got, expected in zip(grads_comp, grads_eager, strict=True):
            torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", LAYERS)
def test_layer_under_torch_compile_matches_eager(name: str) -> None:
    make, shape = LAYERS[name]
    torch.manual_seed(0)
    _check_compiled_matches_eager(make().double(), shape, "aot_eager")


@pytest.mark.slow
def test_quanv_model_under_inductor_matches_eager() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(Quanv2d(), nn.Flatten(), nn.Linear(2 * 4 * 3 * 3, 3)).double()
    _check_compiled_matches_eager(model, (2, 2, 6, 6), "inductor")
