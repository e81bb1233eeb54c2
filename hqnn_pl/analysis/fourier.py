"""Fourier coefficients of a circuit's output as a function of its first two inputs.

Schuld, Sweke and Meyer (2021): with each input ``x_i`` encoded ``d_i`` times by a Pauli rotation,
a circuit's expectation value is the truncated Fourier series
``f(x) = Σ_ω c_ω e^{i ω·x}``, ``ω_i ∈ {-d_i, ..., d_i}``. As in Senokosov et al.'s Fig. 10, the
output is viewed as a function of the first two *embedding angles* (the other inputs fixed), and
its coefficients ``c_{ωx,ωy}`` are computed exactly, like ``qml.fourier.coefficients``, from
``(2d+1)²`` equidistant samples and a 2-D FFT, for many random weight draws and for the layer's
actual weights; all samples of all draws are one batched simulation. For pixel inputs
(``RY(π x)``) the angle is ``π x``. Amplitude embedding is not a rotation of the inputs and has
no such series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from hqnn_pl.analysis.specs import CircuitSpec
from hqnn_pl.analysis.statevector import circuit_outputs
from hqnn_pl.errors import ConfigurationError

__all__ = ["FourierResult", "coefficient_labels", "fourier_coefficients", "fourier_of_weights"]


@dataclass(frozen=True)
class FourierResult:
    """Fourier coefficients over the first two inputs of one output of a circuit.

    Attributes:
        degree: Largest frequency ``d`` per input; coefficients are indexed ``-d..d``.
        output: Index of the analysed output (measured qubit).
        fixed_inputs: Values of the other inputs (embedding angles).
        random: Complex array ``(draws, 2d+1, 2d+1)``: ``[k, a, b]`` is ``c_{a-d, b-d}`` of draw k.
        actual: Complex array ``(n_circuits, 2d+1, 2d+1)`` for the layer's own weights.
        covariance_rank: Rank of the covariance over draws of the real vector of all real and
            imaginary parts (an ``(2 (2d+1)²)``-vector).
        free_parameters: The number of real degrees of freedom of a real trigonometric
            polynomial of this degree, ``(2d+1)²``: the most that rank can be, because
            ``c_{-ω} = conj(c_ω)`` for a real output.
        max_conjugate_asymmetry: ``max |c_{-ω} - conj(c_ω)|`` over all draws (0 up to rounding).
    """

    degree: int
    output: int
    fixed_inputs: list[float]
    random: np.ndarray
    actual: np.ndarray
    covariance_rank: int
    free_parameters: int
    max_conjugate_asymmetry: float


def coefficient_labels(degree: int) -> list[str]:
    """Labels ``"c(-1,-1)"``, ... in the order of a flattened ``(2d+1, 2d+1)`` array."""
    freqs = range(-degree, degree + 1)
    return [f"c({a},{b})" for a in freqs for b in freqs]


def fourier_of_weights(
    spec: CircuitSpec, weights: Tensor, fixed_inputs: Tensor, degree: int = 1, output: int = -1
) -> np.ndarray:
    """Exact Fourier coefficients of one output over the first two embedding angles.

    Args:
        spec: The circuit (angle or pixel embedding).
        weights: Weight draws ``(K, *weight_shape)``.
        fixed_inputs: All inputs ``(n_inputs,)``; entries 0 and 1 are replaced by the grid.
        degree: Largest frequency per input (the number of times each input is encoded).
        output: Output index (negative counts from the end).

    Returns:
        Complex array ``(K, 2d+1, 2d+1)``; ``[k, a, b]`` is ``c_{a-d, b-d}`` with
        ``f(x, y) = Σ c_{ωx, ωy} e^{i(ωx x + ωy y)}`` (PennyLane's convention).
    """
    points = 2 * degree + 1
    angles = torch.arange(points, dtype=torch.float64) * (2 * np.pi / points)
    grid_x, grid_y = torch.meshgrid(angles, angles, indexing="ij")
    count = weights.shape[0]
    inputs = fixed_inputs.to(torch.float64).repeat(count * points * points, 1)
    inputs[:, 0] = grid_x.flatten().repeat(count) * spec.input_scale
    inputs[:, 1] = grid_y.flatten().repeat(count) * spec.input_scale
    batch_weights = weights.to(torch.float64).repeat_interleave(points * points, dim=0)
    outputs = circuit_outputs(spec.qfunc, inputs, batch_weights, spec.n_qubits, **spec.kwargs)
    values = outputs[:, output].reshape(count, points, points).numpy()
    coefficients = np.fft.fftn(values, axes=(1, 2)) / (points * points)
    return np.fft.fftshift(coefficients, axes=(1, 2))


def fourier_coefficients(
    spec: CircuitSpec,
    draws: int = 100,
    degree: int = 1,
    output: int = -1,
    seed: int = 0,
) -> FourierResult:
    """Fourier coefficients for ``draws`` random weight draws and for the actual weights.

    Args:
        spec: The circuit.
        draws: Number of random weight draws (at least 2, for a distribution).
        degree: Largest frequency per input.
        output: Output index (the paper's Fig. 10 uses the last one).
        seed: Seed of the weight draws and of the fixed inputs.

    Returns:
        The result.

    Raises:
        ConfigurationError: For an amplitude-embedded circuit, fewer than 2 inputs, fewer than
            2 draws, or a degree below 1.
    """
    if spec.input_kind == "amplitude":
        raise ConfigurationError(
            f"Fourier analysis needs inputs encoded as rotation angles; {spec.name} uses "
            "amplitude embedding (its output is not a Fourier series of the inputs)."
        )
    if spec.n_inputs < 2:
        raise ConfigurationError(f"Fourier analysis needs 2 inputs; {spec.name} has 1.")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 2:
        raise ConfigurationError(f"Fourier draws must be an int >= 2; got {draws!r}.")
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 1:
        raise ConfigurationError(f"Fourier degree must be an int >= 1; got {degree!r}.")
    generator = torch.Generator().manual_seed(seed)
    fixed = spec.random_inputs(1, generator)[0]
    random = fourier_of_weights(spec, spec.random_weights(draws, generator), fixed, degree, output)
    points = 2 * degree + 1
    actual = (
        fourier_of_weights(spec, spec.circuit_weights, fixed, degree, output)
        if len(spec.circuit_weights)
        else np.zeros((0, points, points), dtype=np.complex128)
    )
    flat = random.reshape(draws, -1)
    real_vector = np.concatenate([flat.real, flat.imag], axis=1)
    rank = int(np.linalg.matrix_rank(np.cov(real_vector, rowvar=False), tol=1e-9))
    mirrored = np.conj(random[:, ::-1, ::-1])
    return FourierResult(
        degree=degree,
        output=output if output >= 0 else spec.n_qubits + output,
        fixed_inputs=[float(v) / spec.input_scale for v in fixed],
        random=random,
        actual=actual,
        covariance_rank=rank,
        free_parameters=(2 * degree + 1) ** 2,
        max_conjugate_asymmetry=float(np.abs(random - mirrored).max()),
    )
