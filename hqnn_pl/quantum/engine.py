"""Exact batched state-vector execution of the project's circuits in plain PyTorch.

The circuits in :mod:`hqnn_pl.quantum.circuits` all have the same structure: an input-dependent
*embedding* that prepares a state with real amplitudes (up to a fixed, input-independent phase per
basis state), an input-independent trainable block ``U(θ)``, and a measurement of Pauli
observables. This module exploits that structure:

* ``U(θ)`` is built once per forward pass as a dense ``2^n x 2^n`` complex matrix (one per
  circuit, circuits stacked along a leading dimension): every layer of single-qubit gates is one
  Kronecker product of batched ``2x2`` matrices, and every fixed pattern of CNOTs is a permutation
  of the computational basis, applied by indexing rows.
* The basis change that diagonalises the measured Pauli (``H`` for X, ``H S^†`` for Y) and the
  embedding's fixed phases are folded into that matrix, so every measurement is in the Z basis.
* The whole batch of encoded (real) states is multiplied by ``[Re U; Im U]`` in one real batched
  matmul; probabilities are the squared amplitudes and ``<Z_j>`` is a contraction with a ``±1``
  sign table. The batch is the *last* dimension throughout (see :func:`product_state`).
* Blocks with a handful of rotation angles (the HQNN-Quanv block) get their gradient from the
  parameter-shift rule on the unitary (:func:`parameter_shift_value`) instead of autograd, and
  RY-encoded product states can skip amplitudes altogether (:func:`pauli_transfer_table`).

Qubit ordering follows PennyLane: wire 0 is the most significant bit of a basis-state index.
Everything here works on CPU and CUDA, in float32 (complex64) and float64 (complex128).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hqnn_pl.errors import ConfigurationError

__all__ = [
    "MAX_QUBITS",
    "ConstantCache",
    "basis_bits",
    "build_unitary",
    "check_engine_qubits",
    "compute_dtypes",
    "expvals_z",
    "kron_layer",
    "parameter_shift_value",
    "pauli_basis_change",
    "pauli_transfer_table",
    "permutation_from_cnots",
    "probabilities",
    "product_state",
    "rot_matrices",
    "rx_matrices",
    "ry_matrices",
    "squared_amplitudes",
    "stacked_real",
    "strongly_entangling_cnots",
    "strongly_entangling_permutations",
    "z_sign_table",
]

MAX_QUBITS = 12
"""Largest register the exact torch engine accepts.

The engine holds dense ``2^n x 2^n`` complex unitaries (one per circuit and per layer while it
builds them): at 12 qubits that is 16.7 M entries (128 MiB in complex64) per matrix and ``O(8^n)``
work per layer. Beyond that, use ``backend="pennylane"`` (e.g. with ``device="lightning.qubit"``).
"""


def check_engine_qubits(n_qubits: int, what: str) -> None:
    """Raise a ValueError if ``n_qubits`` is outside what the exact torch engine supports.

    Args:
        n_qubits: Number of qubits of one circuit.
        what: Human-readable description of where the qubit count comes from, used in the
            message (e.g. ``"n_qubits=13"``).

    Raises:
        ConfigurationError: If ``n_qubits`` is below 1 or above :data:`MAX_QUBITS`.
    """
    if n_qubits < 1:
        raise ConfigurationError(f"{what}: a circuit needs at least 1 qubit, got {n_qubits}.")
    if n_qubits > MAX_QUBITS:
        raise ConfigurationError(
            f"{what} needs {n_qubits} qubits, but the exact torch engine supports at most "
            f"{MAX_QUBITS} (it holds dense 2^n x 2^n unitaries). Use fewer qubits, or "
            f'backend="pennylane" (e.g. device="lightning.qubit") for larger circuits.'
        )


def compute_dtypes(dtype: torch.dtype) -> tuple[torch.dtype, torch.dtype]:
    """Return the (real, complex) dtypes the engine computes in for inputs of ``dtype``.

    float64 inputs are computed in float64/complex128; everything else (float32, half
    precision, integers) in float32/complex64.

    Args:
        dtype: The dtype of the layer input.

    Returns:
        The real and the complex compute dtype.
    """
    if dtype == torch.float64:
        return torch.float64, torch.complex128
    return torch.float32, torch.complex64


# --------------------------------------------------------------------------------------------
# Static tables (numpy, float64 / int64; converted and cached per device and dtype by callers)
# --------------------------------------------------------------------------------------------


def basis_bits(n_qubits: int) -> np.ndarray:
    """Bits of every computational basis state, wire 0 being the most significant bit.

    Args:
        n_qubits: Number of qubits ``n``.

    Returns:
        Integer array of shape ``(2^n, n)``; entry ``[b, j]`` is the bit of wire ``j`` in basis
        state ``b``.
    """
    index = np.arange(2**n_qubits)[:, None]
    shifts = np.arange(n_qubits - 1, -1, -1)[None, :]
    return (index >> shifts) & 1


def z_sign_table(n_qubits: int) -> np.ndarray:
    """Eigenvalues of ``Z_j`` on every basis state.

    Args:
        n_qubits: Number of qubits ``n``.

    Returns:
        Float array of shape ``(2^n, n)`` with entries ``+1`` (bit 0) or ``-1`` (bit 1), so that
        ``probs @ table`` gives ``<Z_j>`` for every wire ``j``.
    """
    return 1.0 - 2.0 * basis_bits(n_qubits).astype(np.float64)


def permutation_from_cnots(n_qubits: int, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """Row-gather index of the permutation matrix of a sequence of CNOT gates.

    Args:
        n_qubits: Number of qubits ``n``.
        pairs: ``(control, target)`` wire pairs, in the order the gates are applied.

    Returns:
        Integer array ``idx`` of shape ``(2^n,)`` such that ``(P @ A) == A[idx]`` for the
        permutation matrix ``P`` of the whole CNOT sequence and any matrix ``A`` with ``2^n`` rows.
    """
    bits = basis_bits(n_qubits).copy()
    for control, target in pairs:
        bits[:, target] ^= bits[:, control]
    weights = 2 ** np.arange(n_qubits - 1, -1, -1)
    image = bits @ weights  # basis state b is mapped to image[b]
    return np.argsort(image)


def strongly_entangling_cnots(n_qubits: int, depth: int) -> list[list[tuple[int, int]]]:
    """CNOT pairs of ``qml.StronglyEntanglingLayers`` with its default ``ranges``.

    Mirrors PennyLane's implementation: for ``n > 1`` the range of layer ``l`` is
    ``r = l % (n - 1) + 1`` and the layer applies ``CNOT(i, (i + r) % n)`` for ``i = 0..n-1`` in
    order; a single qubit gets no CNOTs.

    Args:
        n_qubits: Number of qubits ``n``.
        depth: Number of layers.

    Returns:
        One list of ``(control, target)`` pairs per layer.
    """
    if n_qubits == 1:
        return [[] for _ in range(depth)]
    layers = []
    for layer in range(depth):
        r = layer % (n_qubits - 1) + 1
        layers.append([(i, (i + r) % n_qubits) for i in range(n_qubits)])
    return layers


def strongly_entangling_permutations(n_qubits: int, depth: int) -> np.ndarray:
    """Row-gather indices of the CNOT block of every StronglyEntanglingLayers layer.

    Args:
        n_qubits: Number of qubits ``n``.
        depth: Number of layers.

    Returns:
        Integer array of shape ``(depth, 2^n)``, see :func:`permutation_from_cnots`.
    """
    return np.stack(
        [
            permutation_from_cnots(n_qubits, pairs)
            for pairs in strongly_entangling_cnots(n_qubits, depth)
        ]
    )


def pauli_basis_change(observable: str, n_qubits: int) -> np.ndarray | None:
    """Unitary ``V`` with ``V^† Z V = P`` on every qubit, for the measured Pauli ``P``.

    ``<ψ|P_j|ψ> = <Vψ|Z_j|Vψ>``, so folding ``V`` into the circuit's unitary turns the measurement
    into a Z-basis one. ``V = H`` for X and ``V = H S^†`` for Y (PennyLane's diagonalising gates).

    Args:
        observable: ``"X"``, ``"Y"`` or ``"Z"``.
        n_qubits: Number of qubits ``n``.

    Returns:
        Complex array of shape ``(2^n, 2^n)`` (``V`` on every qubit), or None for Z.
    """
    if observable == "Z":
        return None
    hadamard = np.array([[1.0, 1.0], [1.0, -1.0]], dtype=np.complex128) / math.sqrt(2.0)
    single = hadamard if observable == "X" else hadamard @ np.diag([1.0, -1.0j])
    full = np.ones((1, 1), dtype=np.complex128)
    for _ in range(n_qubits):
        full = np.kron(full, single)
    return full


def pauli_transfer_table(n_qubits: int) -> np.ndarray:
    """Pauli strings over ``{I, Z, X}`` as rows of a linear map, for real product-state inputs.

    ``RY(x)|0><0|RY(x)^† = (I + cos(x) Z + sin(x) X) / 2``, so a product of such states is
    ``2^{-n} Σ_s Φ_s P_s`` with ``Φ_s = Π_k v_k[s_k]``, ``v_k = (1, cos x_k, sin x_k)`` and
    ``P_s = P_{s_0} ⊗ ... ⊗ P_{s_{n-1}}``, ``P ∈ (I, Z, X)``. Hence
    ``<O> = Σ_s Φ_s T_s`` with ``T_s = 2^{-n} Tr(P_s O)``: the returned table maps a real
    symmetric ``O`` (flattened, ``O[r, c]`` at ``r * 2^n + c``) to ``T``.

    Args:
        n_qubits: Number of qubits ``n`` (the table has ``4^n x 3^n`` entries).

    Returns:
        Float array of shape ``(4^n, 3^n)``, ``s`` in row-major order (wire 0 most significant).
    """
    singles = [np.eye(2), np.diag([1.0, -1.0]), np.array([[0.0, 1.0], [1.0, 0.0]])]
    strings = [np.ones((1, 1))]
    for _ in range(n_qubits):
        strings = [np.kron(string, single) for string in strings for single in singles]
    return np.stack([string.reshape(-1) for string in strings], axis=1) / 2**n_qubits


class ConstantCache:
    """Per-(device, dtype) cache of constant tensors built from exact numpy tables.

    Constant tables (sign tables, permutations, basis changes) are plain attributes rather than
    buffers: complex buffers would be silently truncated by ``module.to(torch.float64)``, and
    real buffers would lose precision after ``module.float()``. The cache keeps each table in its
    exact float64/complex128 numpy form and converts it once per device and dtype.

    Args:
        tables: Named numpy arrays (or None placeholders). Complex arrays become tensors of the
            complex dtype paired with the requested real dtype, floating arrays of the real
            dtype, integer arrays int64.
    """

    def __init__(self, tables: dict[str, np.ndarray | None]) -> None:
        self._numpy = dict(tables)
        self._tensors: dict[tuple[torch.device, torch.dtype], dict[str, Tensor | None]] = {}

    def update(self, **tables: np.ndarray | None) -> None:
        """Replace or add tables; drops every converted copy.

        Args:
            **tables: Named numpy arrays.
        """
        self._numpy.update(tables)
        self._tensors = {}

    def get(self, device: torch.device, real_dtype: torch.dtype) -> dict[str, Tensor | None]:
        """Return the tables on ``device`` for computations in ``real_dtype``.

        Args:
            device: Target device.
            real_dtype: float32 or float64.

        Returns:
            Dict of tensors (None entries stay None).
        """
        key = (device, real_dtype)
        cached = self._tensors.get(key)
        if cached is not None:
            return cached
        complex_dtype = compute_dtypes(real_dtype)[1]
        tables: dict[str, Tensor | None] = {}
        for name, array in self._numpy.items():
            if array is None:
                tables[name] = None
                continue
            tensor = torch.from_numpy(np.ascontiguousarray(array))
            if tensor.is_complex():
                tensor = tensor.to(device=device, dtype=complex_dtype)
            elif tensor.is_floating_point():
                tensor = tensor.to(device=device, dtype=real_dtype)
            else:
                tensor = tensor.to(device=device, dtype=torch.long)
            tables[name] = tensor
        self._tensors[key] = tables
        return tables


# --------------------------------------------------------------------------------------------
# Differentiable building blocks
# --------------------------------------------------------------------------------------------


# (φ, θ, ω) -> (θ/2, (φ+ω)/2, (φ-ω)/2): the three half-angles a Rot matrix depends on.
_ROT_HALF_ANGLES = np.array([[0.0, 0.5, 0.5], [0.5, 0.0, 0.0], [0.0, 0.5, -0.5]])
# Products needed, from g = [cos(θ/2), cos(p), cos(m), sin(θ/2), sin(p), sin(m)]:
# (c cos p, s cos m, c sin p, s sin m).
_ROT_LEFT = (0, 3, 0, 3)
_ROT_RIGHT = (1, 2, 4, 5)
# Entries (row-major, each as (re, im)) as signed picks from those four products:
# [[c e^{-ip}, -s e^{im}], [s e^{-im}, c e^{ip}]] with p = (φ+ω)/2, m = (φ-ω)/2.
_ROT_PICK = (0, 2, 1, 3, 1, 3, 0, 2)
_ROT_SIGN = (1.0, -1.0, -1.0, -1.0, 1.0, -1.0, 1.0, 1.0)


@functools.lru_cache(maxsize=16)
def _rot_constants(
    device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    return (
        torch.as_tensor(_ROT_HALF_ANGLES, dtype=dtype, device=device),
        torch.as_tensor(_ROT_LEFT, device=device),
        torch.as_tensor(_ROT_RIGHT, device=device),
        torch.as_tensor(_ROT_PICK, device=device),
        torch.as_tensor(_ROT_SIGN, dtype=dtype, device=device),
    )


def rot_matrices(angles: Tensor, complex_dtype: torch.dtype) -> Tensor:
    """Matrices of ``qml.Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ)``, batched.

    ``[[c e^{-i(φ+ω)/2}, -s e^{i(φ-ω)/2}], [s e^{-i(φ-ω)/2}, c e^{i(φ+ω)/2}]]`` with
    ``c = cos(θ/2)``, ``s = sin(θ/2)``, computed with a handful of vectorised ops (one cos and one
    sin for all angles).

    Args:
        angles: Real tensor of shape ``(..., 3)`` holding ``(φ, θ, ω)``.
        complex_dtype: complex64 or complex128 (must pair with ``angles``' real dtype).

    Returns:
        Complex tensor of shape ``(..., 2, 2)``.
    """
    to_half, left, right, pick, sign = _rot_constants(angles.device, angles.dtype)
    half = angles @ to_half
    trig = torch.cat([torch.cos(half), torch.sin(half)], dim=-1)
    products = trig.index_select(-1, left) * trig.index_select(-1, right)
    entries = products.index_select(-1, pick) * sign  # (..., 8): (re, im) of 4 entries
    matrices = torch.view_as_complex(entries.unflatten(-1, (2, 2, 2)).contiguous())
    return matrices.to(complex_dtype)


def rx_matrices(angles: Tensor, complex_dtype: torch.dtype) -> Tensor:
    """Matrices of ``qml.RX``, batched.

    Args:
        angles: Real tensor of any shape ``(...)``.
        complex_dtype: complex64 or complex128.

    Returns:
        Complex tensor of shape ``(..., 2, 2)``.
    """
    c = torch.cos(angles / 2)
    s = torch.sin(angles / 2)
    zero = torch.zeros_like(c)
    real = torch.stack([c, zero, zero, c], dim=-1)
    imag = torch.stack([zero, -s, -s, zero], dim=-1)
    return torch.complex(real, imag).to(complex_dtype).unflatten(-1, (2, 2))


def ry_matrices(angles: Tensor, complex_dtype: torch.dtype) -> Tensor:
    """Matrices of ``qml.RY``, batched.

    Args:
        angles: Real tensor of any shape ``(...)``.
        complex_dtype: complex64 or complex128.

    Returns:
        Complex tensor of shape ``(..., 2, 2)``.
    """
    c = torch.cos(angles / 2)
    s = torch.sin(angles / 2)
    real = torch.stack([c, -s, s, c], dim=-1)
    return torch.complex(real, torch.zeros_like(real)).to(complex_dtype).unflatten(-1, (2, 2))


def kron_layer(mats: Tensor) -> Tensor:
    """Kronecker product of one ``2x2`` matrix per qubit, batched over leading dimensions.

    Args:
        mats: Tensor of shape ``(..., n, 2, 2)``; ``mats[..., j, :, :]`` acts on wire ``j``.

    Returns:
        Tensor of shape ``(..., 2^n, 2^n)`` equal to ``mats[0] ⊗ mats[1] ⊗ ... ⊗ mats[n-1]``.
    """
    n_qubits = mats.shape[-3]
    batch = mats.shape[:-3]
    out = mats[..., 0, :, :]
    for j in range(1, n_qubits):
        size = out.shape[-1]
        out = (out[..., :, None, :, None] * mats[..., j, None, :, None, :]).reshape(
            *batch, 2 * size, 2 * size
        )
    return out


def build_unitary(mats: Tensor, perms: Tensor | None) -> Tensor:
    """Unitary of a layered circuit ``P_{L-1} K_{L-1} ... P_0 K_0``.

    Each layer ``l`` applies one single-qubit gate per wire (``K_l``, a Kronecker product) and
    then a fixed basis permutation ``P_l`` (e.g. a block of CNOTs).

    Args:
        mats: Complex tensor of shape ``(..., L, n, 2, 2)``: the single-qubit gates of every layer.
        perms: Long tensor of shape ``(L, 2^n)`` of row-gather indices (see
            :func:`permutation_from_cnots`), or None for no permutations.

    Returns:
        Complex tensor of shape ``(..., 2^n, 2^n)``.
    """
    layers = kron_layer(mats)  # (..., L, N, N)
    n_layers = layers.shape[-3]
    if perms is not None:
        layer_index = torch.arange(n_layers, device=layers.device)[:, None]
        layers = layers[..., layer_index, perms, :]
    unitary = layers[..., 0, :, :]
    for layer in range(1, n_layers):
        unitary = layers[..., layer, :, :] @ unitary
    return unitary


def product_state(factors: Tensor) -> Tensor:
    """Real product states ``⊗_j (a_j |0> + b_j |1>)``, batch dimension last.

    The batch is the last (contiguous) dimension throughout the engine: every elementwise op
    then runs over long contiguous rows, and the reductions in the backward pass are over outer
    dimensions, which is several times faster on CPU than a batch-first layout.

    Args:
        factors: Tensor of shape ``(..., n, 2, P)``; ``factors[..., j, :, p]`` is
            ``(a_j, b_j)`` of sample ``p``.

    Returns:
        Tensor of shape ``(..., 2^n, P)`` in PennyLane's basis order (wire 0 most significant).
    """
    state = factors[..., 0, :, :]
    for j in range(1, factors.shape[-3]):
        state = (state.unsqueeze(-2) * factors[..., j, :, :].unsqueeze(-3)).flatten(-3, -2)
    return state


def stacked_real(unitary: Tensor) -> Tensor:
    """``[Re U; Im U]``: applying it to a real state gives the real and imaginary amplitudes.

    Args:
        unitary: Complex tensor of shape ``(..., N, N)``.

    Returns:
        Real tensor of shape ``(..., 2N, N)``.
    """
    return torch.cat([unitary.real, unitary.imag], dim=-2)


def squared_amplitudes(stacked: Tensor, states: Tensor) -> Tensor:
    """Squared real and imaginary parts of ``U ψ`` for a batch of real states ``ψ``.

    One real (batched) matmul instead of a complex one.

    Args:
        stacked: ``[Re U; Im U]`` of shape ``(..., 2N, N)`` (see :func:`stacked_real`).
        states: Real states of shape ``(..., N, P)``, batch dimension last.

    Returns:
        Tensor of shape ``(..., 2N, P)``; rows ``b`` and ``N + b`` sum to the probability of
        basis state ``b``.
    """
    return (stacked @ states).square()


def probabilities(squared: Tensor) -> Tensor:
    """Basis-state probabilities from :func:`squared_amplitudes`.

    Args:
        squared: Tensor of shape ``(..., 2N, P)``.

    Returns:
        Tensor of shape ``(..., N, P)``.
    """
    n = squared.shape[-2] // 2
    return squared[..., :n, :] + squared[..., n:, :]


def expvals_z(squared: Tensor, signs2_t: Tensor) -> Tensor:
    """``<Z_j>`` of every wire from :func:`squared_amplitudes`.

    Args:
        squared: Tensor of shape ``(..., 2N, P)``.
        signs2_t: Doubled, transposed sign table of shape ``(n, 2N)``:
            ``[S; S]^T`` with ``S`` from :func:`z_sign_table`.

    Returns:
        Tensor of shape ``(..., n, P)``.
    """
    return signs2_t @ squared


class _ShiftRuleFunction(torch.autograd.Function):
    """Value at ``w`` and parameter-shift Jacobian from one batched no-grad evaluation."""

    @staticmethod
    def forward(ctx: Any, weights: Tensor, build: Callable[[Tensor], Tensor]) -> Tensor:
        n_params = weights.shape[-1]
        shifts = torch.eye(n_params, dtype=weights.dtype, device=weights.device) * math.pi
        points = torch.cat([weights[None, :], weights[None, :] + shifts])  # (1 + k, k)
        values = build(points)  # (1 + k, ...)
        ctx.save_for_backward(values[1:])
        return values[0]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (shifted,) = ctx.saved_tensors
        return 0.5 * (shifted * grad).flatten(1).sum(dim=1), None


def parameter_shift_value(weights: Tensor, build: Callable[[Tensor], Tensor]) -> Tensor:
    """``build(weights)`` with its gradient from the parameter-shift rule instead of autograd.

    Valid when ``build`` is linear in every gate that depends on a weight and every weight
    ``w_i`` enters exactly one gate of the form ``exp(-i w_i G / 2)`` with ``G^2 = I`` (e.g.
    RX, RY, RZ): then ``d build / d w_i = build(w + π e_i) / 2`` exactly. All ``1 + k``
    evaluations run as one batched call without autograd, which for a handful of weights is much
    cheaper than recording the complex-valued construction for backpropagation.

    Args:
        weights: Real tensor of shape ``(k,)``.
        build: Function mapping weights of shape ``(batch, k)`` to real values of shape
            ``(batch, ...)``.

    Returns:
        ``build(weights[None])[0]``, differentiable w.r.t. ``weights`` (first order).
    """
    if not (torch.is_grad_enabled() and weights.requires_grad):
        return build(weights[None, :])[0]
    return _ShiftRuleFunction.apply(weights, build)
