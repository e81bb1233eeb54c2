"""Gradient variance over random initialisations: how close a circuit family is to a barren plateau.

McClean et al. (2018): for circuits deep enough to approximate a unitary 2-design, the variance
of any partial derivative of an expectation value decays exponentially with the number of
qubits. For a circuit family (the model's circuit at other qubit counts and depths), this module
draws random weights (uniform in [0, 2π), the layers' initialisation) and random inputs, and
computes the gradient of the first output w.r.t. every weight for all draws in one batched
backward pass (in complex64: variances need no more), and the variance over draws
(``scipy.stats.tvar``) is averaged over the weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats

from hqnn_pl.analysis.specs import CircuitSpec
from hqnn_pl.analysis.statevector import circuit_outputs
from hqnn_pl.errors import ConfigurationError

__all__ = ["GradientVarianceResult", "gradient_variance", "gradient_variance_scan"]


@dataclass(frozen=True)
class GradientVarianceResult:
    """Gradient variances of a circuit family.

    Attributes:
        family: Name of the circuit family (the spec at the model's own size).
        qubits: Qubit counts scanned.
        depths: Depths scanned.
        samples: Random initialisations per point.
        variance: Array ``(len(depths), len(qubits))``: variance of ``∂<O_0>/∂θ_k`` over the
            draws, averaged over the weights ``k``.
        first_weight_variance: Same shape: the variance for the first weight alone.
    """

    family: str
    qubits: list[int]
    depths: list[int]
    samples: int
    variance: np.ndarray
    first_weight_variance: np.ndarray


def gradient_variance(spec: CircuitSpec, samples: int = 100, seed: int = 0) -> np.ndarray:
    """Variance over random draws of the gradient of the first output, per weight.

    Args:
        spec: The circuit.
        samples: Random initialisations (at least 2).
        seed: Seed of the weights and inputs.

    Returns:
        Array of shape ``weight_shape``: the variance of each partial derivative.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
        raise ConfigurationError(f"gradient-variance samples must be an int >= 2; got {samples!r}.")
    generator = torch.Generator().manual_seed(seed)
    weights = spec.random_weights(samples, generator).requires_grad_(True)
    inputs = spec.random_inputs(samples, generator)
    outputs = circuit_outputs(
        spec.qfunc, inputs, weights, spec.n_qubits, dtype=torch.complex64, **spec.kwargs
    )
    (grads,) = torch.autograd.grad(outputs[:, 0].sum(), weights)  # draws are independent
    flat = grads.detach().reshape(samples, -1).numpy()
    return np.asarray(stats.tvar(flat, axis=0)).reshape(spec.weight_shape)


def gradient_variance_scan(
    spec: CircuitSpec,
    qubits: Sequence[int] = tuple(range(2, 11)),
    depths: Sequence[int] = tuple(range(1, 9)),
    samples: int = 100,
    seed: int = 0,
) -> GradientVarianceResult:
    """Gradient variance of the spec's circuit family over qubit counts and depths.

    Args:
        spec: The model's circuit; its ``family`` builds the others.
        qubits: Qubit counts.
        depths: Depths.
        samples: Random initialisations per point.
        seed: Seed (the same for every point).

    Returns:
        The result.

    Raises:
        ConfigurationError: If the circuit has no family (a fixed-size block) or the ranges are
            empty or invalid.
    """
    if spec.family is None:
        raise ConfigurationError(
            f"{spec.name} has a fixed size; there is no family of depths and qubit counts to scan."
        )
    if not qubits or not depths or min(qubits) < 1 or min(depths) < 1:
        raise ConfigurationError(
            f"gradient-variance qubits and depths must be non-empty lists of positive ints; got "
            f"qubits={list(qubits)}, depths={list(depths)}."
        )
    variance = np.zeros((len(depths), len(qubits)))
    first = np.zeros_like(variance)
    for i, depth in enumerate(depths):
        for j, n_qubits in enumerate(qubits):
            per_weight = gradient_variance(spec.family(n_qubits, depth), samples, seed)
            variance[i, j] = per_weight.mean()
            first[i, j] = per_weight.flat[0]
    return GradientVarianceResult(
        family=spec.name,
        qubits=list(qubits),
        depths=list(depths),
        samples=samples,
        variance=variance,
        first_weight_variance=first,
    )
