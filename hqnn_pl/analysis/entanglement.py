"""Entangling capability: the Meyer-Wallach measure (Meyer and Wallach 2002; Sim et al. 2019).

``Q(ψ) = 2 (1 - (1/n) Σ_k Tr(rho_k²))`` with ``rho_k`` the reduced state of qubit ``k``: 0 for
product states, 1 for states like GHZ whose every single-qubit marginal is maximally mixed.
A circuit's entangling capability is the mean of ``Q`` over states from random weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from hqnn_pl.analysis.specs import CircuitSpec
from hqnn_pl.analysis.statevector import circuit_states
from hqnn_pl.errors import ConfigurationError

__all__ = ["EntanglingResult", "entangling_capability", "meyer_wallach"]


@dataclass(frozen=True)
class EntanglingResult:
    """Entangling capability of one circuit.

    Attributes:
        mean: Mean Meyer-Wallach measure over the samples.
        std: Sample standard deviation.
        samples: Number of weight draws.
    """

    mean: float
    std: float
    samples: int


def meyer_wallach(states: Tensor) -> Tensor:
    """Meyer-Wallach measure of a batch of pure states.

    Args:
        states: Complex tensor ``(B, 2^n)`` of normalised states (wire 0 most significant).

    Returns:
        Real tensor ``(B,)`` in [0, 1].
    """
    batch, dim = states.shape
    n_qubits = dim.bit_length() - 1
    if n_qubits < 1 or 2**n_qubits != dim:
        raise ValueError(f"states must have 2^n amplitudes, n >= 1; got {dim}.")
    shaped = states.reshape(batch, *([2] * n_qubits))
    purity = torch.zeros(batch, dtype=states.real.dtype, device=states.device)
    for k in range(n_qubits):
        psi = shaped.movedim(k + 1, 1).reshape(batch, 2, -1)
        rho = psi @ psi.conj().transpose(1, 2)  # (B, 2, 2) reduced state of qubit k
        purity = purity + rho.abs().square().sum((1, 2))
    return 2.0 * (1.0 - purity / n_qubits)


def entangling_capability(
    spec: CircuitSpec, inputs: Tensor, samples: int = 2000, seed: int = 0
) -> EntanglingResult:
    """Mean Meyer-Wallach measure of a circuit's states over random weights at fixed inputs.

    Args:
        spec: The circuit.
        inputs: The fixed inputs ``(n_inputs,)``.
        samples: Number of weight draws (at least 2).
        seed: Seed of the weight draws.

    Returns:
        The result.

    Raises:
        ConfigurationError: For fewer than 2 samples.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ConfigurationError(
            f"entangling-capability samples must be an int >= 2; got {samples!r}."
        )
    generator = torch.Generator().manual_seed(seed)
    weights = spec.random_weights(samples, generator)
    batch_inputs = inputs.to(torch.float64).expand(samples, -1)
    states = circuit_states(spec.qfunc, batch_inputs, weights, spec.n_qubits, **spec.kwargs)
    values = meyer_wallach(states)
    return EntanglingResult(mean=float(values.mean()), std=float(values.std()), samples=samples)
