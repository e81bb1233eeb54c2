"""Noisy circuits: the torch backend against the PennyLane noise model on default.mixed.

The noise model (hqnn_pl.quantum.noise): after every gate as written (embedding rotations, Rot,
CNOT, the Quanv and RandomLayers gates; not amplitude-embedding state preparation),
DepolarizingChannel(p) then AmplitudeDamping(gamma) on every wire the gate touches; BitFlip(r) on
every wire before measurement (before the measured Pauli's diagonalising gates).
"""

from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
import torch

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import ParallelQuantumLayer, QuantumPointwiseConv2d, Quanv2d, RandomQuanv2d
from hqnn_pl.quantum.engine import density
from hqnn_pl.quantum.execution import Execution
from hqnn_pl.quantum.noise import Noise, parse_noise

NOISE = {"depolarizing": 0.05, "amplitude_damping": 0.1, "readout": 0.07}


def _pair(make, **noise):
    torch.manual_seed(0)
    fast = make("torch", "default.qubit")
    oracle = make("pennylane", "default.mixed")
    oracle.load_state_dict(fast.state_dict())
    return fast, oracle


def _check(fast, oracle, x, atol):
    """Outputs and gradients (inputs and parameters) of fast (in x's dtype) vs oracle (float64)."""
    xf = x.clone().requires_grad_()
    xo = x.double().clone().requires_grad_()
    out_f, out_o = fast(xf), oracle.double()(xo)
    cot = torch.randn(out_o.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (out_f * cot.to(out_f.dtype)).sum().backward()
    (out_o * cot).sum().backward()
    torch.testing.assert_close(out_f.double(), out_o, atol=atol, rtol=0)
    torch.testing.assert_close(xf.grad.double(), xo.grad, atol=atol, rtol=0)
    for (name, pf), po in zip(fast.named_parameters(), oracle.parameters(), strict=True):
        torch.testing.assert_close(pf.grad.double(), po.grad, atol=atol, rtol=0, msg=name)


@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize(
    "rotation,observable,noise",
    [
        ("X", "Y", NOISE),
        ("Y", "X", NOISE),
        ("Z", "Z", {"depolarizing": 0.2}),
        ("X", "Z", {"amplitude_damping": 0.3}),
        ("Y", "Y", {"readout": 0.25}),
    ],
)
def test_parallel_layer_matches_default_mixed(dtype, atol, rotation, observable, noise) -> None:
    def make(backend, device):
        return ParallelQuantumLayer(
            3,
            2,
            2,
            rotation,
            observable,
            execution=Execution(backend=backend, device=device, noise=noise),
        ).to(dtype)

    fast, oracle = _pair(make)
    x = torch.rand(5, 6, generator=torch.Generator().manual_seed(2)).to(dtype) * 3
    _check(fast, oracle, x, atol)


@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_resnet_head_circuit_matches_default_mixed(dtype, atol) -> None:
    def make(backend, device):  # the ResNet head's circuit: one circuit, RX, <Z>
        return ParallelQuantumLayer(
            4, 1, 2, "X", "Z", execution=Execution(backend=backend, device=device, noise=NOISE)
        ).to(dtype)

    fast, oracle = _pair(make)
    _check(fast, oracle, torch.rand(3, 4, dtype=dtype), atol)


@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_trainable_quanv_matches_default_mixed(dtype, atol) -> None:
    def make(backend, device):
        return Quanv2d(execution=Execution(backend=backend, device=device, noise=NOISE)).to(dtype)

    fast, oracle = _pair(make)
    _check(fast, oracle, torch.rand(2, 2, 4, 4, dtype=dtype), atol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_random_quanv_matches_default_mixed(dtype) -> None:
    def make(backend, device):
        return RandomQuanv2d(
            n_random_layers=2,
            seed=3,
            execution=Execution(backend=backend, device=device, noise=NOISE),
        ).to(dtype)

    fast, oracle = _pair(make)
    # default.mixed itself differs from default.qubit by ~1e-8 on noise-free RandomLayers
    # circuits (the torch engine agrees with default.qubit to 1e-15), hence 1e-7 in float64.
    _check(
        fast, oracle, torch.rand(2, 1, 4, 4, dtype=dtype), 1e-7 if dtype == torch.float64 else 1e-5
    )


@pytest.mark.parametrize("dtype,atol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("channels,measurement", [(3, "expval"), (4, "probs"), (5, "expval")])
def test_pointwise_matches_default_mixed(dtype, atol, channels, measurement) -> None:
    def make(backend, device):
        return QuantumPointwiseConv2d(
            channels,
            2,
            measurement,
            execution=Execution(backend=backend, device=device, noise=NOISE),
        ).to(dtype)

    fast, oracle = _pair(make)
    x = torch.rand(2, channels, 2, 3, dtype=dtype) + 0.1
    _check(fast, oracle, x, atol)


def test_zero_noise_equals_the_noise_free_engine() -> None:
    torch.manual_seed(0)
    clean = ParallelQuantumLayer(4, 2, 3).double()
    noisy = ParallelQuantumLayer(
        4, 2, 3, execution=Execution(noise={"depolarizing": 0.0, "readout": 0.0})
    ).double()
    noisy.load_state_dict(clean.state_dict())
    x = torch.rand(7, 8, dtype=torch.float64)
    torch.testing.assert_close(noisy(x), clean(x), atol=1e-12, rtol=0)


def test_depolarizing_shrinks_expectations() -> None:
    torch.manual_seed(0)
    clean = ParallelQuantumLayer(3, 1, 2).double()
    noisy = ParallelQuantumLayer(3, 1, 2, execution=Execution(noise={"depolarizing": 0.1})).double()
    noisy.load_state_dict(clean.state_dict())
    x = torch.rand(16, 3, dtype=torch.float64)
    assert noisy(x).abs().sum() < clean(x).abs().sum()


def test_readout_scales_z_by_one_minus_two_r() -> None:
    torch.manual_seed(0)
    clean = ParallelQuantumLayer(3, 1, 2, observable="Z").double()
    noisy = ParallelQuantumLayer(
        3, 1, 2, observable="Z", execution=Execution(noise={"readout": 0.1})
    ).double()
    noisy.load_state_dict(clean.state_dict())
    x = torch.rand(4, 3, dtype=torch.float64)
    torch.testing.assert_close(noisy(x), 0.8 * clean(x), atol=1e-12, rtol=0)


def test_superoperator_matches_kraus_action() -> None:
    kraus = Noise(0.1, 0.2).gate_kraus()
    rng = np.random.default_rng(0)
    obs = rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2))
    expected = sum(k.conj().T @ obs @ k for k in kraus)
    got = (density.adjoint_superop(kraus) @ obs.reshape(4)).reshape(2, 2)
    np.testing.assert_allclose(got, expected, atol=1e-14)


@pytest.mark.parametrize(
    "spec,match",
    [
        ({"depolarizing": 0.8}, r"depolarizing=0\.8 is outside \[0, 0\.75\]"),
        ({"readout": -0.1}, r"readout=-0\.1 is outside \[0, 1\]"),
        ({"amplitude_damping": 1.5}, r"amplitude_damping=1\.5 is outside"),
        ({"depolarising": 0.1}, r"Unknown noise key\(s\) 'depolarising'; valid keys: depolar"),
        ({"readout": "a"}, r"readout must be a number; got 'a'"),
        (0.1, r"noise must be a mapping"),
    ],
)
def test_bad_noise_is_refused_naming_the_value(spec, match) -> None:
    with pytest.raises(ConfigurationError, match=match):
        ParallelQuantumLayer(execution=Execution(noise=spec))


def test_noise_needs_a_mixed_state_device() -> None:
    with pytest.raises(ConfigurationError, match=r"device='default.qubit'.*'default.mixed'"):
        ParallelQuantumLayer(execution=Execution(backend="pennylane", noise={"depolarizing": 0.01}))


def test_density_beyond_memory_is_refused_at_construction_with_the_estimate() -> None:
    with pytest.raises(
        ConfigurationError, match=r"needs about [\d.]+ GiB .*21-qubit.*use fewer qubits"
    ):
        ParallelQuantumLayer(
            n_qubits=21, n_circuits=1, depth=1, execution=Execution(noise={"readout": 0.01})
        )


def test_noise_model_is_a_pennylane_noise_model() -> None:
    model = parse_noise(NOISE).pennylane_model()
    assert isinstance(model, qml.NoiseModel)
    assert parse_noise(None) is None and parse_noise({}) is None


@pytest.mark.parametrize(
    "noise",
    [NOISE, {"depolarizing": 0.2}, {"amplitude_damping": 0.3}, {"readout": 0.25},
     {"depolarizing": 0.05, "readout": 0.1}],
)  # fmt: skip
@pytest.mark.parametrize("trainable", [True, False])
def test_quanv_pauli_transfer_path_equals_density_path(noise, trainable) -> None:
    torch.manual_seed(0)
    execution = Execution(noise=noise)
    if trainable:
        base = Quanv2d(execution=execution).double()
    else:
        base = RandomQuanv2d(n_random_layers=2, seed=1, execution=execution).double()
    x = torch.rand(2, 1, 6, 6, dtype=torch.float64)
    results = []
    for route in ("pauli_transfer", "density"):
        layer = base.rerouted(route)
        layer.zero_grad(set_to_none=True)
        xx = x.clone().requires_grad_()
        out = layer(xx)
        (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        grads = [xx.grad] + [p.grad for p in layer.parameters() if p.requires_grad]
        results.append([out.detach(), *grads])
    for got, expected in zip(*results, strict=True):
        torch.testing.assert_close(got, expected, atol=1e-12, rtol=0)
