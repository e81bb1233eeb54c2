"""A layer first run under torch.inference_mode (trainer.validate) must still train afterwards."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hqnn_pl.quantum import ParallelQuantumLayer, QuantumPointwiseConv2d, Quanv2d, RandomQuanv2d

LAYERS = {
    "parallel": (lambda: ParallelQuantumLayer(3, 2, 2), (4, 6)),
    "pointwise": (lambda: QuantumPointwiseConv2d(5, depth=2), (2, 5, 3, 3)),
    "quanv": (lambda: Quanv2d(), (2, 1, 4, 4)),
    "quanv-random": (lambda: RandomQuanv2d(), (2, 1, 4, 4)),
    "quanv-random-3x3": (lambda: RandomQuanv2d(3), (1, 1, 5, 5)),
}


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_layer_trains_after_inference_mode(name: str, dtype: torch.dtype) -> None:
    make, shape = LAYERS[name]
    torch.manual_seed(0)
    layer: nn.Module = make().to(dtype)
    x = torch.rand(shape, dtype=dtype)
    with torch.inference_mode():
        expected = layer(x)
    x.requires_grad_(True)
    out = layer(x)
    out.square().sum().backward()
    atol = 1e-6 if dtype == torch.float32 else 1e-12  # evaluation paths may round differently
    torch.testing.assert_close(out.detach(), expected, atol=atol, rtol=0)
    assert x.grad is not None
    for parameter in layer.parameters():
        assert parameter.grad is not None
