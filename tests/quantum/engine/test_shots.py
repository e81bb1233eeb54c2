"""Finite shots on the torch backend: statistics of the estimates and of their gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from hqnn_pl.quantum import ParallelQuantumLayer, QuantumPointwiseConv2d, Quanv2d
from hqnn_pl.quantum.engine import shots as shot_engine
from hqnn_pl.quantum.execution import Execution

REPEATS = 4000


def _pair(shots: int, noise=None, **kwargs):
    torch.manual_seed(0)
    exact = ParallelQuantumLayer(2, 1, 2, execution=Execution(noise=noise)).double()
    sampled = ParallelQuantumLayer(
        2, 1, 2, **kwargs, execution=Execution(noise=noise, shots=shots)
    ).double()
    sampled.load_state_dict(exact.state_dict())
    return exact, sampled


@pytest.mark.parametrize("noise", [None, {"depolarizing": 0.05, "readout": 0.1}])
def test_means_and_variances_match_the_exact_distribution(noise) -> None:
    shots = 50
    exact, sampled = _pair(shots, noise)
    x = torch.tensor([[0.3, 1.1]], dtype=torch.float64).expand(REPEATS, 2)
    mean = exact(x[:1])[0].detach()  # <Y_0>, <Y_1>
    draws = sampled(x).detach()  # every row is an independent estimate from 50 shots
    se = draws.std(dim=0) / REPEATS**0.5
    assert ((draws.mean(dim=0) - mean).abs() < 5 * se).all()
    expected_var = (1 - mean**2) / shots
    ratio = draws.var(dim=0) / expected_var
    assert ((ratio - 1).abs() < 5 * (2 / REPEATS) ** 0.5).all(), ratio
    # estimates are whole numbers of shots: multiples of 2/shots
    counts = ((draws + 1) * shots / 2).numpy()
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-9)


def test_qubits_are_sampled_jointly() -> None:
    """Per-qubit estimates are correlated as on a device: Cov = (<Z0 Z1> - <Z0><Z1>) / N."""
    shots = 40
    torch.manual_seed(1)
    layer = QuantumPointwiseConv2d(4, depth=1, measurement="probs").double()
    sampled = QuantumPointwiseConv2d(4, depth=1, execution=Execution(shots=shots)).double()
    with torch.no_grad():
        layer.weights[..., 1] = 0.3  # near-identity Rot: |00> + |01> becomes ~|00> + |11>
    sampled.load_state_dict(layer.state_dict())
    x = torch.tensor([1.0, 0.9, 0.0, 0.0], dtype=torch.float64).view(1, 4, 1, 1)
    probs = layer(x).detach().flatten()  # P(00), P(01), P(10), P(11)
    signs = torch.tensor([[1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=torch.float64)
    z = probs @ signs
    zz = probs @ (signs[:, 0] * signs[:, 1])
    draws = sampled(x.expand(REPEATS, 4, 1, 1)).detach().view(REPEATS, 2)
    cov = torch.cov(draws.T)[0, 1]
    expected = (zz - z[0] * z[1]) / shots
    assert abs(expected) > 1e-3  # the test is meaningful: the qubits are correlated
    assert abs(cov - expected) < 5 * (draws.var(dim=0).prod() / REPEATS) ** 0.5


def test_same_seed_same_numbers_and_batches_and_ranks_differ(monkeypatch) -> None:
    x = torch.rand(8, 2, dtype=torch.float64)
    outs = []
    for _ in range(2):
        _, sampled = _pair(30)
        outs.append((sampled(x), sampled(x)))
    torch.testing.assert_close(outs[0][0], outs[1][0], atol=0, rtol=0)
    assert not torch.equal(outs[0][0], outs[0][1])  # successive batches draw differently
    _, sampled = _pair(30)
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda: 1)
    assert not torch.equal(sampled(x), outs[0][0])  # another DDP rank draws differently


@pytest.mark.parametrize("noise", [None, {"amplitude_damping": 0.1}])
def test_parameter_shift_gradients_are_unbiased(noise) -> None:
    """R identical circuits side by side: R independent gradient estimates in one backward."""
    repeats = 400
    exact, _ = _pair(30, noise)
    sampled = ParallelQuantumLayer(
        2, repeats, 2, execution=Execution(noise=noise, shots=30, shot_gradients="parameter-shift")
    ).double()
    with torch.no_grad():
        sampled.weights.copy_(exact.weights.expand_as(sampled.weights))
    x = torch.tensor([[0.4, -0.7]], dtype=torch.float64, requires_grad=True)
    cot = torch.tensor([[1.0, -0.5]], dtype=torch.float64)
    (exact(x) * cot).sum().backward()
    target = torch.cat([x.grad.flatten(), exact.weights.grad.flatten()])
    xs = x.detach().repeat(1, repeats).requires_grad_()
    (sampled(xs) * cot.repeat(1, repeats)).sum().backward()
    grads = torch.cat([xs.grad.view(repeats, -1), sampled.weights.grad.view(repeats, -1)], 1)
    se = grads.std(dim=0) / repeats**0.5
    assert ((grads.mean(dim=0) - target).abs() < 5 * se + 1e-12).all()
    assert (grads.std(dim=0) > 0).all()  # genuinely sampled


def test_exact_shot_gradients_are_those_of_the_expectation() -> None:
    exact, sampled = _pair(30)
    x = torch.rand(3, 2, dtype=torch.float64)
    (exact(x).sum()).backward()
    sampled(x).sum().backward()
    torch.testing.assert_close(sampled.weights.grad, exact.weights.grad, atol=1e-12, rtol=0)


def test_quanv_parameter_shift_gradients_are_unbiased() -> None:
    torch.manual_seed(0)
    exact = Quanv2d().double()
    sampled = Quanv2d(execution=Execution(shots=40, shot_gradients="parameter-shift")).double()
    sampled.load_state_dict(exact.state_dict())
    patch = torch.rand(1, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    exact(patch).sum().backward()
    # 300 identical patches side by side: 300 independent input-gradient estimates.
    x = patch.detach().repeat(1, 1, 1, 300).requires_grad_()
    sampled(x).sum().backward()
    grads = x.grad.view(2, 300, 2).permute(1, 0, 2).reshape(300, 4)
    se = grads.std(dim=0) / 300**0.5
    assert ((grads.mean(dim=0) - patch.grad.flatten()).abs() < 5 * se).all()
    weight_grads = []
    for _ in range(40):
        sampled.weights.grad = None
        sampled(patch.detach()).sum().backward()
        weight_grads.append(sampled.weights.grad.clone())
    weight_grads = torch.stack(weight_grads)
    se = weight_grads.std(dim=0) / 40**0.5
    assert ((weight_grads.mean(dim=0) - exact.weights.grad).abs() < 5 * se).all()


def test_pennylane_backend_with_the_same_shots_agrees_statistically() -> None:
    torch.manual_seed(0)
    fast = ParallelQuantumLayer(2, 1, 1, execution=Execution(shots=100)).double()
    oracle = ParallelQuantumLayer(
        2, 1, 1, execution=Execution(backend="pennylane", shots=100, diff_method="parameter-shift")
    ).double()
    oracle.load_state_dict(fast.state_dict())
    x = torch.tensor([[0.5, 1.3]], dtype=torch.float64).expand(300, 2)
    with torch.no_grad():
        a, b = fast(x), oracle(x)
    for j in range(2):
        assert stats.ttest_ind(a[:, j], b[:, j]).pvalue > 1e-4
        assert stats.levene(a[:, j], b[:, j]).pvalue > 1e-4


def test_sample_counts_sum_to_shots() -> None:
    probs = torch.softmax(torch.randn(3, 8, 5, dtype=torch.float64), dim=1)
    counts = shot_engine.sample_counts(probs, 17, torch.Generator().manual_seed(0))
    torch.testing.assert_close(counts.sum(dim=1), torch.full((3, 5), 17.0, dtype=torch.float64))
    assert (counts >= 0).all()


def test_second_derivatives_of_sampled_shift_gradients_are_refused() -> None:
    """A Hessian through sampled gradients would silently miss the circuit: say so instead."""
    sampled = ParallelQuantumLayer(
        2, 1, 1, execution=Execution(shots=30, shot_gradients="parameter-shift")
    ).double()
    x = torch.rand(2, 2, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(sampled(x).sum(), x)  # first order works
    assert grad.shape == x.shape
    with pytest.raises(RuntimeError, match="shot_gradients='exact'"):
        torch.autograd.grad(sampled(x).sum(), x, create_graph=True)
