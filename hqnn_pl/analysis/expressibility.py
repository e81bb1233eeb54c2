"""Expressibility of a parametrised circuit (Sim, Johnson, Aspuru-Guzik 2019).

The fidelities ``F = |<ψ(θ)|ψ(φ)>|²`` of pairs of states from independent uniform weight draws
are histogrammed (75 bins on [0, 1] by default) and compared with the fidelity distribution of
Haar-random states of dimension ``N = 2^n``, ``P(F) = (N - 1)(1 - F)^{N-2}``, by the
Kullback-Leibler divergence ``KL(P_circuit || P_Haar)``. Lower is more expressive; a circuit
that reaches Haar-like states scores near 0 (up to the histogram's sampling noise, about
``(bins - 1) / (2 * pairs)``), a circuit stuck near one state scores high. The Haar
distribution is integrated exactly over each bin (``(1 - a)^{N-1} - (1 - b)^{N-1}``), and the
divergence is :func:`scipy.stats.entropy`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats
from torch import Tensor

from hqnn_pl.analysis.specs import CircuitSpec
from hqnn_pl.analysis.statevector import circuit_states
from hqnn_pl.errors import ConfigurationError

__all__ = [
    "ExpressibilityResult",
    "check_histogram_samples",
    "expressibility",
    "fidelities",
    "haar_bin_probabilities",
    "kl_to_haar",
]

MIN_PAIRS_PER_BIN = 10
"""A histogram needs this many pairs per bin on average (750 for 75 bins)."""


@dataclass(frozen=True)
class ExpressibilityResult:
    """Expressibility of one circuit.

    Attributes:
        kl: ``KL(P_circuit || P_Haar)`` in nats.
        pairs: Number of state pairs.
        bins: Number of histogram bins.
        mean_fidelity: Mean fidelity of the pairs (Haar: ``1 / 2^n``).
        histogram: Probability of each bin for the circuit.
        haar: Probability of each bin for Haar-random states.
    """

    kl: float
    pairs: int
    bins: int
    mean_fidelity: float
    histogram: np.ndarray
    haar: np.ndarray


def check_histogram_samples(pairs: int, bins: int) -> None:
    """Refuse sample counts too small for a histogram.

    Args:
        pairs: Number of state pairs.
        bins: Number of bins.

    Raises:
        ConfigurationError: If ``bins < 2`` or ``pairs < MIN_PAIRS_PER_BIN * bins``.
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise ConfigurationError(f"expressibility bins must be an int >= 2; got {bins!r}.")
    needed = MIN_PAIRS_PER_BIN * bins
    if isinstance(pairs, bool) or not isinstance(pairs, int) or pairs < needed:
        raise ConfigurationError(
            f"expressibility pairs={pairs!r} is too few for a {bins}-bin histogram; use at least "
            f"{needed} ({MIN_PAIRS_PER_BIN} per bin; Sim et al. use 5000 pairs for 75 bins)."
        )


def haar_bin_probabilities(n_qubits: int, bins: int) -> np.ndarray:
    """Probability of each of ``bins`` equal fidelity bins on [0, 1] for Haar-random states.

    Args:
        n_qubits: Qubits ``n`` (dimension ``N = 2^n``).
        bins: Number of bins.

    Returns:
        Array ``(bins,)`` summing to 1.
    """
    edges = np.linspace(0.0, 1.0, bins + 1)
    survival = (1.0 - edges) ** (2**n_qubits - 1)  # P(F > f)
    return survival[:-1] - survival[1:]


def kl_to_haar(fidelity: np.ndarray, n_qubits: int, bins: int = 75) -> tuple[float, np.ndarray]:
    """``KL(histogram of fidelity || Haar)``.

    Args:
        fidelity: Fidelities of state pairs.
        n_qubits: Qubits of the states.
        bins: Number of equal bins on [0, 1].

    Returns:
        The divergence (nats) and the circuit's bin probabilities.
    """
    counts, _ = np.histogram(fidelity, bins=bins, range=(0.0, 1.0))
    histogram = counts / counts.sum()
    # Haar bins near F = 1 underflow to 0 for many qubits; a floor keeps KL finite (and huge
    # when the circuit puts mass there, as it should be).
    haar = np.maximum(haar_bin_probabilities(n_qubits, bins), np.finfo(np.float64).tiny)
    return float(stats.entropy(histogram, haar)), histogram


def fidelities(spec: CircuitSpec, pairs: int, generator: torch.Generator, inputs: Tensor) -> Tensor:
    """Fidelities of ``pairs`` pairs of states from independent weight draws at fixed inputs.

    Args:
        spec: The circuit.
        pairs: Number of pairs.
        generator: Seeded generator for the weights.
        inputs: The fixed inputs ``(n_inputs,)``.

    Returns:
        Float64 tensor ``(pairs,)``.
    """
    weights = spec.random_weights(2 * pairs, generator)
    batch_inputs = inputs.to(torch.float64).expand(2 * pairs, -1)
    states = circuit_states(spec.qfunc, batch_inputs, weights, spec.n_qubits, **spec.kwargs)
    first, second = states[:pairs], states[pairs:]
    return (first.conj() * second).sum(-1).abs().square()


def expressibility(
    spec: CircuitSpec, inputs: Tensor, pairs: int = 5000, bins: int = 75, seed: int = 0
) -> ExpressibilityResult:
    """Expressibility of a circuit's trainable block with its embedding at fixed inputs.

    Args:
        spec: The circuit.
        inputs: The fixed inputs ``(n_inputs,)``.
        pairs: Number of state pairs.
        bins: Number of histogram bins.
        seed: Seed of the weight draws (same seed, same value).

    Returns:
        The result.
    """
    check_histogram_samples(pairs, bins)
    generator = torch.Generator().manual_seed(seed)
    fidelity = fidelities(spec, pairs, generator, inputs).numpy()
    kl, histogram = kl_to_haar(fidelity, spec.n_qubits, bins)
    return ExpressibilityResult(
        kl=kl,
        pairs=pairs,
        bins=bins,
        mean_fidelity=float(fidelity.mean()),
        histogram=histogram,
        haar=haar_bin_probabilities(spec.n_qubits, bins),
    )
