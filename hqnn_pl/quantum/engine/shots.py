"""Finite shots: sampling the measured distribution, seeded, and the gradient it reports.

All qubits of a circuit are sampled jointly: the ``2^n`` outcome probabilities (after the
measured Pauli's basis change, see :func:`~hqnn_pl.quantum.engine.density.projector_observables`)
give multinomial counts of ``shots`` samples per circuit and input, drawn as a chain of binomials
(``n_b ~ Binomial(remaining, p_b / remaining mass)``, exact and light on memory). Per-wire
estimates ``<P_j> ≈ Σ_b n_b s_j(b) / shots`` are then correlated exactly as on a device.

Draws come from a ``torch.Generator`` seeded from the sampler's seed, the distributed rank and a
call counter (``numpy.random.SeedSequence``): the same seed gives the same numbers, while DDP
ranks and successive batches draw differently.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from hqnn_pl.errors import ConfigurationError

__all__ = ["SHOT_GRADIENTS", "ShotSampler", "check_shots", "parameter_shift", "sample_counts"]

SHOT_GRADIENTS = ("exact", "parameter-shift")
"""``exact``: differentiate the exact expectation; ``parameter-shift``: sampled shift rule."""


def check_shots(shots: object, shot_gradients: object) -> None:
    """Validate ``shots`` and ``shot_gradients`` (at construction).

    Args:
        shots: None or a positive int.
        shot_gradients: None, or one of :data:`SHOT_GRADIENTS` (needs shots).

    Raises:
        ConfigurationError: Naming the bad value.
    """
    if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 1):
        raise ConfigurationError(
            f"shots must be None (exact) or a positive int; got {shots!r}. Use e.g. shots: 1000, "
            "or null for exact expectations."
        )
    if shot_gradients is None:
        return
    if shot_gradients not in SHOT_GRADIENTS:
        raise ConfigurationError(
            f"Unknown shot_gradients {shot_gradients!r}; valid choices: "
            f"{', '.join(map(repr, SHOT_GRADIENTS))}."
        )
    if shots is None:
        raise ConfigurationError(
            f"shot_gradients={shot_gradients!r} needs shots; set shots (e.g. 1000) or drop "
            "shot_gradients."
        )


def sample_counts(probs: Tensor, shots: int, generator: torch.Generator) -> Tensor:
    """Multinomial counts of ``shots`` samples per distribution, by recursive halving.

    The count of the first half of the outcomes is ``Binomial(n, p_first / p_both)`` of the
    count ``n`` of both halves, recursively: ``log2 N`` binomial draws, exact multinomial counts.

    Args:
        probs: ``(..., N, P)`` probabilities over ``N`` outcomes (dimension -2; ``N`` a power of
            two), batch last.
        shots: Samples per distribution.
        generator: Source of randomness (on ``probs``' device).

    Returns:
        Counts of the same shape and dtype as ``probs`` (whole numbers summing to ``shots``).
    """
    probs = probs.detach().clamp_min(0.0)
    n_outcomes = probs.shape[-2]
    lead, batch = probs.shape[:-2], probs.shape[-1]
    counts = torch.full((*lead, 1, batch), float(shots), dtype=probs.dtype, device=probs.device)
    blocks = 1
    while blocks < n_outcomes:
        # probability mass of each half of every current block: (..., blocks, 2, P)
        mass = probs.reshape(*lead, blocks, 2, n_outcomes // (2 * blocks), batch).sum(dim=-2)
        total = mass.sum(dim=-2)
        first = torch.where(total > 0, mass[..., 0, :] / total.clamp_min(1e-300), 0.5)
        drawn = torch.binomial(counts, first.clamp(0.0, 1.0), generator=generator)
        counts = torch.stack([drawn, counts - drawn], dim=-2).reshape(*lead, 2 * blocks, batch)
        blocks *= 2
    return counts


class ShotSampler:
    """Seeded sampler of one layer.

    Args:
        shots: Samples per circuit execution.
        seed: Base seed (e.g. ``torch.initial_seed()`` at construction).
    """

    def __init__(self, shots: int, seed: int) -> None:
        self.shots = shots
        self.seed = int(seed)
        self.calls = 0

    def generator(self, device: torch.device) -> torch.Generator:
        """A fresh generator for the next draw (seed, rank and call counter mixed)."""
        rank = 0
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank = torch.distributed.get_rank()
        state = np.random.SeedSequence([self.seed % 2**63, rank, self.calls]).generate_state(2)
        self.calls += 1
        gen = torch.Generator(device=device)
        gen.manual_seed(int(state[0]) << 32 | int(state[1]))
        return gen

    def estimate(self, probs: Tensor, signs: Tensor, as_probs: bool, exact: Tensor) -> Tensor:
        """Sampled outputs whose gradient is that of ``exact`` (``shot_gradients="exact"``).

        Args:
            probs: ``(C, N, P)`` outcome probabilities.
            signs: ``(N, n)`` eigenvalues ``±1`` of ``Z_j`` per outcome.
            as_probs: Return estimated probabilities ``(C, N, P)`` instead of ``<P_j>``.
            exact: The exact outputs (same shape as the result), carrying the autograd graph.

        Returns:
            ``exact + (estimate - exact).detach()``.
        """
        counts = sample_counts(probs, self.shots, self.generator(probs.device))
        freq = counts / self.shots
        sampled = freq if as_probs else torch.einsum("ckp,kj->cjp", freq, signs)
        return exact + (sampled - exact).detach()


class _ShiftRule(torch.autograd.Function):
    """Sampled outputs whose backward pass is the sampled two-term parameter-shift rule."""

    @staticmethod
    def forward(ctx, run, x_scale, circuit_dim, x_out_dim, x, w):
        ctx.run, ctx.x_scale, ctx.circuit_dim, ctx.x_out_dim = run, x_scale, circuit_dim, x_out_dim
        ctx.save_for_backward(x, w)
        with torch.no_grad():
            return run(x, w)

    @staticmethod
    def backward(ctx, cotangent):
        if torch.is_grad_enabled():  # create_graph: these gradients are estimates, not functions
            raise RuntimeError(
                "Second derivatives through sampled parameter-shift gradients are not supported "
                "(create_graph=True, e.g. a Hessian or a gradient penalty); use "
                "shot_gradients='exact', or shots=None."
            )
        x, w = ctx.saved_tensors
        run, half = ctx.run, math.pi / 2
        grad_x = grad_w = None
        with torch.no_grad():
            if ctx.needs_input_grad[5]:
                lead = w.shape[:1] if ctx.circuit_dim is not None else ()
                flat = w.reshape(*lead, -1)
                grad_w = torch.zeros_like(flat)
                dims = [d for d in range(cotangent.ndim) if d != ctx.circuit_dim]
                for e in range(flat.shape[-1]):
                    plus, minus = flat.clone(), flat.clone()
                    plus[..., e] += half
                    minus[..., e] -= half
                    diff = run(x, plus.view_as(w)) - run(x, minus.view_as(w))
                    grad_w[..., e] = (cotangent * diff).sum(dim=dims) / 2
                grad_w = grad_w.view_as(w)
            if ctx.needs_input_grad[4] and ctx.x_scale is not None:
                grad_x = torch.zeros_like(x)
                step = half / ctx.x_scale  # the gate angle is x_scale * x
                for e in range(x.shape[-1]):
                    plus, minus = x.clone(), x.clone()
                    plus[..., e] += step
                    minus[..., e] -= step
                    diff = run(plus, w) - run(minus, w)
                    grad_x[..., e] = (cotangent * diff).sum(dim=ctx.x_out_dim) * ctx.x_scale / 2
        return None, None, None, None, grad_x, grad_w


def parameter_shift(
    run: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    w: Tensor,
    x_scale: float | None,
    circuit_dim: int | None,
    x_out_dim: int,
) -> Tensor:
    """``run(x, w)`` with gradients estimated by the sampled parameter-shift rule.

    Every angle enters one Pauli rotation, so ``∂f/∂θ = (f(θ + π/2) - f(θ - π/2)) / 2`` exactly
    for the expectation ``f``; each shifted circuit is sampled with fresh shots (as hardware
    does), which makes the gradient an unbiased estimate. Angles are shifted one index at a time
    for all circuits and samples together (they are independent circuits).

    Args:
        run: Sampled outputs of the layer for inputs ``x`` and weights ``w``.
        x: Inputs whose last dimension holds the embedding angles (divided by ``x_scale``).
        w: Weights; with ``circuit_dim``, their first dimension indexes the circuits.
        x_scale: Gate angle per unit of input (``π`` for ``RY(π x)``); None: no input gradient
            by parameter shift (state preparation).
        circuit_dim: Dimension of the output indexing the circuits of ``w``'s first dimension,
            or None when all outputs share ``w``.
        x_out_dim: Dimension of the output holding the per-wire outputs of one input row
            (summing over it leaves ``x.shape[:-1]``).

    Returns:
        The sampled outputs.
    """
    return _ShiftRule.apply(run, x_scale, circuit_dim, x_out_dim, x, w)
