"""Execution: one frozen, self-validating value; a forced route that cannot run fails in a line."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import Execution, ParallelQuantumLayer, QuantumPointwiseConv2d, Quanv2d
from hqnn_pl.quantum.execution import ROUTES, as_execution


def test_execution_is_frozen_and_normalises_noise() -> None:
    execution = Execution(shots=10, noise={"readout": 0.1, "depolarizing": 0.0})
    assert execution.noise == {"readout": 0.1}
    assert execution.noise_model.readout == 0.1
    with pytest.raises(dataclasses.FrozenInstanceError):
        execution.shots = 5  # type: ignore[misc]
    exact = dataclasses.replace(execution, shots=None, noise=None)
    assert not exact.noisy and execution.noisy


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"route": "fast"}, r"Unknown route 'fast'; valid choices: 'auto', 'pennylane'"),
        ({"route": "dense", "shots": 10}, r"route='dense' runs noise-free exact circuits"),
        ({"route": "density"}, r"route='density' simulates noise or shots, but execution has"),
        ({"route": "dense_shots", "shots": 5, "noise": {"readout": 0.1}}, r"route 'density'"),
        ({"route": "pauli_transfer", "shots": 5}, r"computes exact expectations, but shots=5"),
        ({"route": "gatewise", "method": "dense"}, r"belongs to method 'gatewise'"),
        ({"route": "dense", "backend": "pennylane"}, r"does not run on backend='pennylane'"),
        ({"method": "sparse"}, r"Unknown method 'sparse'"),
    ],
)
def test_bad_executions_fail_at_construction(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ConfigurationError, match=pattern):
        Execution(**kwargs)


def test_mappings_become_executions_and_unknown_keys_are_named() -> None:
    assert as_execution({"shots": 3}) == Execution(shots=3)
    assert as_execution(None) == Execution()
    with pytest.raises(ConfigurationError, match=r"Unknown execution key\(s\) 'shot'; valid"):
        as_execution({"shot": 3})
    assert "route" in ROUTES[0] or ROUTES[0] == "auto"


def test_a_layer_refuses_a_route_it_does_not_have() -> None:
    with pytest.raises(ConfigurationError, match=r"QuantumPointwiseConv2d.*has no route 'shifted'"):
        QuantumPointwiseConv2d(4, execution=Execution(route="shifted"))
    with pytest.raises(ConfigurationError, match=r"Quanv2d.*has no route 'dense'"):
        Quanv2d(execution=Execution(route="dense"))


def test_a_host_route_refuses_a_call_off_the_cpu() -> None:
    layer = ParallelQuantumLayer(2, 1, 1, execution=Execution(route="host_readout"))
    with pytest.raises(ConfigurationError, match=r"route='host_readout' computes in NumPy on the"):
        layer.planner.route(3, torch.device("meta"), torch.float32)


def test_the_route_is_visible_and_forced_routes_agree() -> None:
    torch.manual_seed(0)
    layer = ParallelQuantumLayer(3, 2, 2).double()
    x = torch.rand(5, 6, dtype=torch.float64)
    out = layer(x)
    assert layer.route == "host_readout" and "last: 'host_readout'" in repr(layer)
    for route in ("dense", "host_unitary", "shifted", "gatewise"):
        routed = layer.rerouted(route)
        torch.testing.assert_close(routed(x), out, atol=1e-12, rtol=0)
        assert routed.route == route and f"route={route!r}" in repr(routed)
