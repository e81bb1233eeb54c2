"""Small circuits end to end in NumPy (CPU) against the torch dense method."""

from __future__ import annotations

import pytest
import torch

from hqnn_pl.quantum import ParallelQuantumLayer, engine
from hqnn_pl.quantum.engine import host_readout, host_unitary
from hqnn_pl.quantum.execution import Execution
from tests.quantum.oracle import (
    assert_float32_matches_float64,
    assert_layer_gradcheck,
    assert_outputs_and_grads_equal,
    layer_outputs_and_grads,
    torch_paths_only,
)


@pytest.mark.parametrize(
    ("n_qubits", "n_circuits", "depth", "rotation", "observable"),
    [(1, 3, 2, "X", "Y"), (2, 1, 3, "X", "Y"), (2, 4, 1, "Y", "Z"), (3, 2, 3, "Z", "X"),
     (3, 3, 2, "Y", "Y"), (5, 4, 3, "X", "Y"), (7, 1, 2, "Y", "Z")],
)  # fmt: skip
def test_host_readout_equals_the_torch_dense_method(
    n_qubits: int,
    n_circuits: int,
    depth: int,
    rotation: str,
    observable: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch.manual_seed(n_qubits + depth)
    layer = ParallelQuantumLayer(
        n_qubits,
        n_circuits,
        depth,
        rotation=rotation,
        observable=observable,
        execution=Execution(method="dense"),
    ).double()
    x = torch.rand(11, n_circuits * n_qubits, dtype=torch.float64) * 6 - 3
    calls = []
    original = host_readout._forward
    monkeypatch.setattr(host_readout, "_forward", lambda *a: calls.append(1) or original(*a))
    host = layer_outputs_and_grads(layer.rerouted("host_readout"), x)
    assert calls, "the host readout was not used"
    assert_outputs_and_grads_equal(host, layer_outputs_and_grads(torch_paths_only(layer), x))


def test_gradcheck_and_second_derivatives() -> None:
    torch.manual_seed(1)
    layer = ParallelQuantumLayer(2, 2, 2, execution=Execution(method="dense")).double()
    # create_graph: the backward pass differentiates the torch computation
    assert_layer_gradcheck(layer, torch.rand(3, 4, dtype=torch.float64))


def test_frozen_weights_skip_the_unitary_backward(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = ParallelQuantumLayer(3, 2, 2).requires_grad_(False)
    x = torch.rand(5, 6, requires_grad=True)
    calls = []
    original = host_unitary.stacked_backward
    monkeypatch.setattr(
        host_readout, "stacked_backward", lambda *a: calls.append(1) or original(*a)
    )
    layer(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and not calls


def test_float32_matches_float64_and_no_grad_matches_grad() -> None:
    torch.manual_seed(2)
    layer = ParallelQuantumLayer(3, 2, 3)
    x = torch.rand(64, 6) * 3
    assert_float32_matches_float64(layer, x)  # leaves the layer in float64
    expected = layer_outputs_and_grads(layer, x.double())[0]
    with torch.no_grad():
        torch.testing.assert_close(layer(x.double()), expected, atol=0, rtol=0)


def test_the_host_readout_is_kept_to_cpu_and_small_work(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert engine.use_host_readout(cpu, 1, 1, 256) and engine.use_host_readout(cpu, 5, 4, 2048)
    assert not engine.use_host_readout(cpu, 8, 1, 256)  # 2^24: torch's kernels as fast
    assert not engine.use_host_readout(cpu, 9, 1, 1)  # beyond the host range
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert engine.use_host_readout(cpu, 5, 4, 1024) and not engine.use_host_readout(cpu, 5, 4, 2048)
    assert not engine.use_host_readout(torch.device("meta"), 2, 1, 1)
