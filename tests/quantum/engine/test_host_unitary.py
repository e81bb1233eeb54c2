"""The dense method's unitary built in NumPy (CPU, 4-8 qubits) against the torch build."""

from __future__ import annotations

import time

import pytest
import torch

from hqnn_pl.quantum import ParallelQuantumLayer, engine
from hqnn_pl.quantum.engine import host_unitary
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
    [(4, 2, 3, "X", "Y"), (5, 4, 3, "X", "Y"), (5, 1, 1, "Y", "X"), (6, 2, 2, "Z", "Z"),
     (8, 1, 2, "X", "Z")],
)  # fmt: skip
def test_host_build_equals_the_torch_build(
    n_qubits: int,
    n_circuits: int,
    depth: int,
    rotation: str,
    observable: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch.manual_seed(n_qubits)
    layer = ParallelQuantumLayer(
        n_qubits,
        n_circuits,
        depth,
        rotation=rotation,
        observable=observable,
        execution=Execution(method="dense"),
    ).double()
    x = torch.rand(9, n_circuits * n_qubits, dtype=torch.float64) * 4 - 2
    calls = []
    original = host_unitary.stacked_forward
    monkeypatch.setattr(host_unitary, "stacked_forward", lambda *a: calls.append(1) or original(*a))
    # the build alone, as for batches too big for the NumPy readout (host_readout.py)
    host = layer_outputs_and_grads(layer.rerouted("host_unitary"), x)
    assert calls, "the host build was not used"
    assert_outputs_and_grads_equal(host, layer_outputs_and_grads(torch_paths_only(layer), x))


def test_gradcheck_and_second_derivatives() -> None:
    torch.manual_seed(1)
    layer = ParallelQuantumLayer(4, 2, 2, execution=Execution(route="host_unitary")).double()
    # create_graph: the backward pass differentiates the torch build, so Hessians are exact
    assert_layer_gradcheck(layer, torch.rand(3, 8, dtype=torch.float64))


def test_float32_layer_matches_float64() -> None:
    torch.manual_seed(2)
    assert_float32_matches_float64(
        ParallelQuantumLayer(5, 2, 3, execution=Execution(route="host_unitary")),
        torch.rand(64, 10) * 3,
    )


def test_no_grad_forward_uses_the_host_build_without_autograd() -> None:
    layer = ParallelQuantumLayer(5, 2, 2, execution=Execution(route="host_unitary"))
    x = torch.rand(4, 10)
    with torch.no_grad():
        out = layer(x)
    torch.testing.assert_close(out, layer(x).detach(), atol=1e-6, rtol=0)
    assert not out.requires_grad


def test_the_host_build_is_kept_to_cpu_and_its_qubit_range() -> None:
    cpu = torch.device("cpu")
    assert engine.use_host(cpu, 4) and engine.use_host(cpu, 8)
    assert not engine.use_host(cpu, 3) and not engine.use_host(cpu, 9)
    assert not engine.use_host(torch.device("meta"), 5)  # any other device: torch


def test_auto_counts_the_cheaper_host_build() -> None:
    """7 qubits x 4 circuits: gate-wise wins against the torch build, dense against NumPy's.

    Timed on one thread, the cost model's basis (about 9 against 13 ms on a 2-core CPU).
    """
    assert engine.choose_method("auto", 7, 4, 4, 256, host=False) == "gatewise"
    assert engine.choose_method("auto", 7, 4, 4, 256, host=True) == "dense"
    torch.manual_seed(0)
    layer = ParallelQuantumLayer(7, 4, 3)
    x = torch.rand(256, 28)
    layer(x)
    assert layer.route == "host_unitary"  # the dense method, built in NumPy
    timings = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for method in ("dense", "gatewise"):
            routed = layer.rerouted("host_unitary" if method == "dense" else "gatewise")
            routed(x).sum().backward()  # warm-up (tables)
            runs = []
            for _ in range(5):
                start = time.perf_counter()
                routed(x).sum().backward()
                runs.append(time.perf_counter() - start)
            timings[method] = min(runs)
    finally:
        torch.set_num_threads(threads)
    assert timings["dense"] < timings["gatewise"], timings
