from __future__ import annotations

import pytest
import torch

from hqnn_pl.quantum import ParallelQuantumLayer, QuantumPointwiseConv2d, Quanv2d


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (ParallelQuantumLayer(), (8, 20)),
        (Quanv2d(), (2, 1, 8, 8)),
        (QuantumPointwiseConv2d(8), (2, 8, 4, 4)),
    ],
)
def test_mixed_precision_does_not_degrade_the_simulation(layer, shape) -> None:
    x = torch.rand(shape)
    exact = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = layer(x)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, exact)
