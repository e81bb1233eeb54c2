from __future__ import annotations

import dataclasses

import pytest
import torch

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import (
    MAX_QUBITS,
    ParallelQuantumLayer,
    QuantumPointwiseConv2d,
    Quanv2d,
    RandomQuanv2d,
)
from hqnn_pl.quantum.execution import Execution


def test_structural_limit_of_the_engine() -> None:
    assert MAX_QUBITS == 24
    ParallelQuantumLayer(n_qubits=16, n_circuits=1, depth=1)  # past the old fixed cap of 12
    with pytest.raises(
        ConfigurationError,
        match=r"n_qubits=25\) needs 25 qubits.*at most 24.*"
        r'backend="pennylane"',
    ):
        ParallelQuantumLayer(n_qubits=25)


def test_state_that_does_not_fit_in_memory_names_the_estimate_and_the_fix() -> None:
    layer = ParallelQuantumLayer(n_qubits=22, n_circuits=1, depth=1)
    x = torch.zeros(4096, 22)  # 6 states of 2^22 x 4096 complex64: about 768 GiB
    with pytest.raises(
        ConfigurationError,
        match=r"n_qubits=22\): method='gatewise' at 22 qubits x 1 circuit\(s\) x batch 4096 "
        r"needs about 768\.0 GiB, but .* GiB is available on cpu; use a batch of at most \d+, "
        r"or at most \d+ qubits at this batch",
    ):
        layer(x)
    dense = ParallelQuantumLayer(
        n_qubits=16, n_circuits=1, depth=1, execution=Execution(method="dense")
    )
    with pytest.raises(ConfigurationError, match=r"method='dense'.*method=\"gatewise\""):
        dense(torch.zeros(2, 16))
    with pytest.raises(ConfigurationError, match=r"kernel_size=4\).*method='gatewise'.*batch"):
        RandomQuanv2d(kernel_size=4, stride=1)(torch.zeros(64, 1, 28, 28))


def test_forced_method_that_cannot_run_the_circuit() -> None:
    with pytest.raises(ConfigurationError, match=r"Quanv2d cannot run with method="):
        Quanv2d(execution=Execution(method="gatewise"))
    with pytest.raises(ConfigurationError, match=r"kernel_size=3\) cannot run with method='heis"):
        RandomQuanv2d(3, execution=Execution(method="heisenberg"))
    with pytest.raises(ConfigurationError, match=r"Unknown method 'sparse'; valid choices"):
        ParallelQuantumLayer(execution=Execution(method="sparse"))


def test_channel_count_needing_too_many_qubits() -> None:
    with pytest.raises(
        ConfigurationError, match=r"in_channels=5000 needs 13 qubits.*max_qubits=12"
    ):
        QuantumPointwiseConv2d(5000, max_qubits=12)
    with pytest.raises(ConfigurationError, match=r"in_channels=5 needs 3 qubits.*max_qubits=2"):
        QuantumPointwiseConv2d(5, max_qubits=2)
    with pytest.raises(ConfigurationError, match=r"in_channels=33554432\) needs 25 qubits"):
        QuantumPointwiseConv2d(2**25, max_qubits=30)


def test_wrong_trailing_size() -> None:
    layer = ParallelQuantumLayer()
    with pytest.raises(
        ValueError,
        match=r"shape \(\.\.\., 20\).*n_circuits=4 x n_qubits=5.*"
        r"got trailing size 19 \(input shape \(8, 19\)\)",
    ):
        layer(torch.zeros(8, 19))


def test_wrong_image_shapes() -> None:
    with pytest.raises(
        ValueError,
        match=r"Quanv2d expects images of shape \(batch, channels, "
        r"height, width\); got shape \(28, 28\)",
    ):
        Quanv2d()(torch.zeros(28, 28))
    with pytest.raises(ValueError, match=r"images of size \(1, 5\) are smaller than kernel_size=2"):
        Quanv2d()(torch.zeros(1, 1, 1, 5))
    layer = QuantumPointwiseConv2d(4)
    with pytest.raises(ValueError, match=r"expects 4 input channels; got 3.*in_channels=3"):
        layer(torch.zeros(2, 3, 5, 5))
    with pytest.raises(ValueError, match=r"QuantumPointwiseConv2d expects images"):
        layer(torch.zeros(4, 5, 5))


def test_trainable_quanv_needs_kernel_size_2() -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"kernel_size=2 \(4 qubits\) only; got "
        r"kernel_size=3.*RandomQuanv2d",
    ):
        Quanv2d(kernel_size=3)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"backend": "jax"}, r"Unknown backend 'jax'; valid choices: 'torch', 'pennylane'"),
        ({"rotation": "W"}, r"Unknown rotation 'W'; valid choices: 'X', 'Y', 'Z'"),
        ({"observable": "H"}, r"Unknown observable 'H'; valid choices: 'X', 'Y', 'Z'"),
        ({"depth": 0}, r"depth must be a positive int; got 0"),
        ({"n_circuits": 2.5}, r"n_circuits must be a positive int; got 2.5"),
        ({"diff_method": "magic"}, r"Unknown diff_method 'magic'; valid choices: .*'backprop'"),
        ({"shot_gradients": "exact"}, r"shot_gradients='exact' needs shots"),
        ({"shots": 10, "shot_gradients": "spsa"}, r"Unknown shot_gradients 'spsa'"),
        ({"shots": 2.5}, r"shots must be None \(exact\) or a positive int; got 2\.5"),
        ({"shots": -3}, r"shots must be None \(exact\) or a positive int; got -3"),
    ],
)
def test_bad_parallel_settings(kwargs: dict, pattern: str) -> None:
    names = {field.name for field in dataclasses.fields(Execution)}
    execution = {k: v for k, v in kwargs.items() if k in names}
    with pytest.raises(ConfigurationError, match=pattern):
        ParallelQuantumLayer(
            **{k: v for k, v in kwargs.items() if k not in names}, execution=execution
        )


def test_bad_measurement_and_quanv_settings() -> None:
    with pytest.raises(
        ConfigurationError, match=r"Unknown measurement 'sample'.*'expval', 'probs'"
    ):
        QuantumPointwiseConv2d(4, measurement="sample")
    with pytest.raises(ConfigurationError, match=r"stride must be a positive int; got 0"):
        Quanv2d(stride=0)
    with pytest.raises(ConfigurationError, match=r"Unknown backend 'qiskit'"):
        Quanv2d(execution=Execution(backend="qiskit"))


@pytest.mark.parametrize("layer_class", [ParallelQuantumLayer, Quanv2d, QuantumPointwiseConv2d])
def test_unknown_pennylane_device(layer_class: type) -> None:
    args = (4,) if layer_class is QuantumPointwiseConv2d else ()
    with pytest.raises(
        ConfigurationError,
        match=r"Unknown or unusable PennyLane device "
        r"'nope\.qubit'.*Installed devices: .*'default\.qubit'.*'lightning\.qubit'",
    ):
        layer_class(*args, execution=Execution(backend="pennylane", device="nope.qubit"))


def test_unknown_pennylane_diff_method() -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"Unknown diff_method 'magic'.*Valid choices: "
        r"'best', 'backprop', 'adjoint', 'parameter-shift'",
    ):
        ParallelQuantumLayer(execution=Execution(backend="pennylane", diff_method="magic"))


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        (
            {"device": "lightning.qubit", "diff_method": "backprop"},
            r"device 'lightning\.qubit' cannot run this circuit with diff_method='backprop' "
            r"and shots=None.*adjoint",
        ),
        (
            {"diff_method": "backprop", "shots": 100},
            r"diff_method='backprop' and shots=100.*parameter-shift",
        ),
        ({"diff_method": "adjoint", "shots": 10}, r"diff_method='adjoint' and shots=10"),
        ({"shots": 0}, r"shots must be None \(exact\) or a positive int; got 0"),
    ],
)
def test_unsupported_pennylane_combinations(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ConfigurationError, match=pattern):
        ParallelQuantumLayer(
            n_qubits=2, n_circuits=1, depth=1, execution=Execution(backend="pennylane", **kwargs)
        )


def test_configuration_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="Unknown backend"):
        Quanv2d(execution=Execution(backend="nope"))
