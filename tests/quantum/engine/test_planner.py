"""The planner: routes by circuit size, device, noise and shots, cached per call shape."""

from __future__ import annotations

import torch

from hqnn_pl.quantum import Execution
from hqnn_pl.quantum.engine.planner import CircuitShape, Planner, plan_route

PARALLEL = ("dense", "host_unitary", "host_readout", "shifted", "gatewise", "dense_shots")
PARALLEL += ("density",)
CPU, META = torch.device("cpu"), torch.device("meta")


def _shape(n: int, routes: tuple[str, ...] = PARALLEL, fixed_ops: int | None = None):
    return CircuitShape("test", n, 3, 4, 9 * n, routes, fixed_ops)


def test_exact_routes_by_size_and_device() -> None:
    exact = Execution()
    assert plan_route(exact, _shape(5), 16, CPU, torch.float32) == "host_readout"
    assert plan_route(exact, _shape(5), 2**16, CPU, torch.float32) == "host_unitary"
    assert plan_route(exact, _shape(2), 16, META, torch.float32) == "shifted"
    assert plan_route(exact, _shape(5), 16, META, torch.float32) == "dense"
    assert plan_route(exact, _shape(12), 16, CPU, torch.float32) == "gatewise"
    assert plan_route(Execution(method="gatewise"), _shape(2), 4, CPU, torch.float32) == "gatewise"


def test_noisy_routes() -> None:
    shots, noise = Execution(shots=10), Execution(noise={"readout": 0.1})
    assert plan_route(shots, _shape(5), 8, CPU, torch.float32) == "dense_shots"
    assert plan_route(shots, _shape(11), 8, CPU, torch.float32) == "density"
    assert plan_route(noise, _shape(5), 8, CPU, torch.float32) == "density"
    quanv = ("heisenberg", "pauli_transfer", "density")
    assert plan_route(noise, _shape(4, quanv), 8, CPU, torch.float32) == "pauli_transfer"
    assert plan_route(Execution(route="density", noise={"readout": 0.1}), _shape(4, quanv), 8,
                      CPU, torch.float32) == "density"  # fmt: skip


def test_fixed_circuits_and_the_heisenberg_picture() -> None:
    routes = ("heisenberg", "dense", "gatewise", "pauli_transfer", "density")
    exact = Execution()
    assert plan_route(exact, _shape(4, routes, 12), 64, CPU, torch.float32) == "heisenberg"
    assert plan_route(exact, _shape(9, routes, 27), 64, CPU, torch.float32) == "gatewise"
    assert plan_route(exact, _shape(5, routes, 15), 64, CPU, torch.float32) == "dense"


def test_the_planner_caches_per_shape_and_counts_routes() -> None:
    planner = Planner(Execution(), _shape(5))
    for _ in range(3):
        assert planner.route(16, CPU, torch.float32) == "host_readout"
    assert planner.route(2**16, CPU, torch.float32) == "host_unitary"
    assert len(planner._cache) == 2
    assert planner.taken == {"host_readout": 3, "host_unitary": 1}
    assert planner.last == "host_unitary"
