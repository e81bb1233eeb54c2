"""The dense method's shifted-unitary gradients (few qubits) against plain autograd."""

from __future__ import annotations

import pytest
import torch

from hqnn_pl.quantum import ParallelQuantumLayer, engine
from hqnn_pl.quantum.engine import shifted
from hqnn_pl.quantum.execution import Execution
from tests.quantum.oracle import (
    assert_float32_matches_float64,
    assert_layer_gradcheck,
    layer_outputs_and_grads,
)


@pytest.mark.parametrize(
    ("n_qubits", "depth", "rotation", "observable"),
    [(2, 3, "X", "Y"), (3, 2, "Y", "Z"), (4, 3, "X", "X"), (1, 2, "X", "Y")],
)
def test_shifted_gradients_equal_autograd(
    n_qubits: int, depth: int, rotation: str, observable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert engine.use_shifted(n_qubits, depth * n_qubits * 3)
    torch.manual_seed(0)
    layer = ParallelQuantumLayer(
        n_qubits,
        3,
        depth,
        rotation=rotation,
        observable=observable,
        execution=Execution(method="dense"),
    ).double()
    x = torch.rand(17, 3 * n_qubits, dtype=torch.float64) * 3
    calls = []
    original = shifted._ShiftedReadout.forward
    monkeypatch.setattr(
        shifted._ShiftedReadout, "forward",
        staticmethod(lambda *args: calls.append(1) or original(*args)),
    )  # fmt: skip
    fast = layer_outputs_and_grads(layer.rerouted("shifted"), x)  # on CPU: NumPy paths otherwise
    assert calls, "the shifted path was not taken"
    plain = layer_outputs_and_grads(layer.rerouted("dense"), x)
    for got, expected in zip(fast, plain, strict=True):
        torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)


def test_shifted_gradcheck_and_second_derivatives() -> None:
    torch.manual_seed(1)
    layer = ParallelQuantumLayer(2, 2, 2, execution=Execution(route="shifted")).double()
    # create_graph: the backward pass re-runs plain autograd, so Hessian-vector products work
    assert_layer_gradcheck(layer, torch.rand(3, 4, dtype=torch.float64))


def test_shifted_float32_matches_float64() -> None:
    torch.manual_seed(2)
    assert_float32_matches_float64(
        ParallelQuantumLayer(3, 2, 3, execution=Execution(route="shifted")), torch.rand(64, 6) * 3
    )


def test_shifted_is_kept_to_few_qubits() -> None:
    assert engine.use_shifted(2, 18) and engine.use_shifted(4, 36)
    assert not engine.use_shifted(5, 45) and not engine.use_shifted(6, 36)
