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
* Small circuits on ``RY``-encoded product states (quanvolution patches of up to 4 qubits) skip
  amplitudes altogether and run in the Heisenberg picture: ``<Z_j>`` is a sum over the few Pauli
  strings on which ``U^† Z_j U`` has a non-zero coefficient (:func:`z_transfer`), each a product
  of ``cos``/``sin`` of the pixels (:func:`patch_pauli_expvals`). When every weight enters one
  Pauli rotation (the HQNN-Quanv block), those coefficients are a trigonometric polynomial of
  the weights, tabulated exactly once from the circuit (:func:`fit_trig_polynomial`) and
  differentiated with the parameter-shift rule (:func:`trig_polynomial`).

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
    "fit_trig_polynomial",
    "kron_layer",
    "patch_pauli_expvals",
    "pauli_basis_change",
    "pauli_transfer_table",
    "permutation_from_cnots",
    "probabilities",
    "product_state",
    "rot_matrices",
    "squared_amplitudes",
    "stacked_real",
    "strongly_entangling_cnots",
    "strongly_entangling_permutations",
    "trig_factor_rows",
    "trig_monomials",
    "trig_polynomial",
    "trig_products",
    "z_sign_table",
    "z_transfer",
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


def z_transfer(unitaries: np.ndarray) -> np.ndarray:
    """Pauli-string coefficients of ``<Z_j>`` after ``U``, for RY-encoded product states.

    The Heisenberg-picture observable ``U^† Z_j U`` meets a real state, so only its real part
    matters; with :func:`pauli_transfer_table`, ``<Z_j> = Σ_s Φ_s(x) T_{js}`` for the state
    ``U ⊗_k RY(x_k)|0>``. This returns ``T``. Meant for a few qubits (the Pauli table has
    ``4^n x 3^n`` entries).

    Args:
        unitaries: Complex array of shape ``(..., 2^n, 2^n)``.

    Returns:
        Float array of shape ``(..., n, 3^n)``.
    """
    dim = unitaries.shape[-1]
    n_qubits = dim.bit_length() - 1
    signs = z_sign_table(n_qubits).T  # (n, N)
    # Re(U^† diag(z_j) U) = Re(U)^T diag(z_j) Re(U) + Im(U)^T diag(z_j) Im(U)
    observables = sum(
        np.einsum("...ba,jb,...bc->...jac", part, signs, part)
        for part in (unitaries.real, unitaries.imag)
    )
    flat = observables.reshape(*observables.shape[:-2], dim * dim)
    return flat @ pauli_transfer_table(n_qubits)


def trig_monomials(angles: np.ndarray) -> np.ndarray:
    """``⊗_i (1, cos θ_i, sin θ_i)``: every product of one such factor per angle.

    Monomial ``t`` has digits ``t_i`` in base 3 (first angle most significant), ``0`` for the
    constant, ``1`` for ``cos θ_i``, ``2`` for ``sin θ_i``: the order of the Pauli strings of
    :func:`pauli_transfer_table` under ``(I, Z, X) -> (1, cos, sin)``.

    Args:
        angles: Float array of shape ``(..., k)``.

    Returns:
        Float array of shape ``(..., 3^k)``.
    """
    angles = np.asarray(angles, dtype=np.float64)
    batch = angles.shape[:-1]
    out = np.ones((*batch, 1))
    for i in range(angles.shape[-1]):
        angle = angles[..., i : i + 1]
        factors = np.concatenate([np.ones_like(angle), np.cos(angle), np.sin(angle)], axis=-1)
        out = (out[..., :, None] * factors[..., None, :]).reshape(*batch, -1)
    return out


def fit_trig_polynomial(
    function: Callable[[np.ndarray], np.ndarray], n_angles: int, n_checks: int = 8
) -> np.ndarray:
    """Coefficients of a function that is affine in ``(cos θ_i, sin θ_i)`` for every angle.

    If every angle ``θ_i`` of a circuit enters exactly one gate ``exp(-i θ_i G / 2)`` with
    ``G^2 = I`` (RX, RY, RZ, ...), its Heisenberg-picture observables, hence its expectation
    values and their Pauli coefficients, are such functions: ``f(θ) = Σ_t m_t(θ) C_t`` over the
    ``3^k`` monomials of :func:`trig_monomials`. ``C`` is fixed by the values on the grid
    ``{0, 2π/3, 4π/3}^k``, whose monomial matrix is a Kronecker power of an invertible ``3 x 3``
    matrix; the fit is then verified at random angles.

    Args:
        function: Maps angles of shape ``(batch, k)`` to float values of shape
            ``(batch, ...)``.
        n_angles: Number of angles ``k``.
        n_checks: Number of random angle vectors the fit is verified on.

    Returns:
        Float array ``C`` of shape ``(3^k, d)`` (values flattened to ``d``), exact up to rounding:
        ``function(θ).reshape(-1) == trig_monomials(θ) @ C``.

    Raises:
        ValueError: If ``function`` is not of that form (an angle enters several gates, or a
            gate is not a Pauli rotation).
    """
    grid = np.arange(3) * (2.0 * math.pi / 3.0)
    points = np.stack(np.meshgrid(*[grid] * n_angles, indexing="ij"), axis=-1)
    points = points.reshape(-1, n_angles)
    values = np.asarray(function(points), dtype=np.float64).reshape(len(points), -1)
    coefficients = np.linalg.solve(trig_monomials(points), values)
    probes = np.random.default_rng(0).uniform(-math.pi, math.pi, size=(n_checks, n_angles))
    expected = np.asarray(function(probes), dtype=np.float64).reshape(n_checks, -1)
    error = np.abs(trig_monomials(probes) @ coefficients - expected).max(initial=0.0)
    if error > 1e-9:
        raise ValueError(
            f"The function is not affine in (cos θ_i, sin θ_i) of each of its {n_angles} angles "
            f"(fit error {error:.2e}): every angle must enter exactly one Pauli rotation."
        )
    return coefficients


def trig_factor_rows(indices: np.ndarray, n_angles: int) -> np.ndarray:
    """The factors of some monomials of :func:`trig_monomials`, as rows for :func:`trig_products`.

    Rows of :func:`trig_products`' factor table: ``0`` is the constant 1, ``1 + i`` is
    ``cos θ_i`` and ``1 + k + i`` is ``sin θ_i``. Each monomial lists its non-constant factors,
    padded with row 0 to the longest.

    Args:
        indices: Monomial indices of shape ``(r,)`` in ``[0, 3^k)`` (equivalently Pauli strings
            over ``{I, Z, X}``).
        n_angles: Number of angles ``k``.

    Returns:
        Integer array of shape ``(r, m)`` with ``m >= 1`` the largest number of non-constant
        factors.
    """
    indices = np.asarray(indices, dtype=np.int64)
    wire = np.arange(n_angles)
    digits = (indices[:, None] // 3 ** (n_angles - 1 - wire)) % 3  # (r, k)
    rows = np.where(digits == 1, 1 + wire, 1 + n_angles + wire) * (digits > 0)
    order = np.argsort(digits == 0, axis=1, kind="stable")  # non-constant factors first
    n_factors = max(1, int((digits > 0).sum(axis=1).max(initial=0)))
    return np.take_along_axis(rows, order, axis=1)[:, :n_factors]


def _normal_tensors() -> torch.inference_mode:
    """Context in which cached constants are created as normal tensors.

    A constant first built during ``torch.inference_mode()`` (``trainer.validate``, Lightning's
    evaluation loops) would otherwise be an inference tensor, which autograd refuses to save
    when the same layer is trained afterwards.
    """
    return torch.inference_mode(False)


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
        with _normal_tensors():
            for name, array in self._numpy.items():
                if array is None:
                    tables[name] = None
                    continue
                tensor = torch.tensor(np.asarray(array))  # a copy: the arrays may be shared
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
    with _normal_tensors():
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


def trig_products(angles: Tensor, rows: Tensor) -> Tensor:
    """Products of cosines and sines of ``angles``, one per row of ``rows``.

    The runtime side of :func:`trig_factor_rows`: the factor table
    ``[1, cos θ_0, ..., cos θ_{k-1}, sin θ_0, ..., sin θ_{k-1}]`` is built with one cos and one
    sin over all angles, and every product is one gather and one reduction. Differentiable
    (to any order) w.r.t. ``angles``.

    Args:
        angles: Tensor of shape ``(k, ...)``: angle ``i`` along the first dimension, any batch
            dimensions after it (batch last, see :func:`product_state`).
        rows: Long tensor of shape ``(r, m)`` from :func:`trig_factor_rows`.

    Returns:
        Tensor of shape ``(r, ...)``.
    """
    factors = torch.cat([torch.ones_like(angles[:1]), torch.cos(angles), torch.sin(angles)])
    picked = factors.index_select(0, rows.flatten())
    return picked.view(*rows.shape, *angles.shape[1:]).prod(dim=1)


@functools.lru_cache(maxsize=16)
def _parameter_shift_tables(
    n_angles: int, device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, Tensor, Tensor]:
    """Constants that evaluate a trigonometric polynomial at ``θ`` and ``θ ± π/2 e_i`` at once.

    Returns ``(select, bias, combine)``: the factor table ``[1, cos θ', sin θ']`` of all
    ``1 + 2k`` points ``θ'`` is ``sin(θ select + bias)`` (``cos x = sin(x + π/2)`` and
    ``1 = sin(π/2)``), of shape ``(1 + 2k, 1 + 2k)``; ``combine @ values`` turns the values at
    the points into the value and the ``k`` derivatives (parameter-shift rule).
    """
    k = n_angles
    shifts = np.concatenate([np.zeros((1, k)), np.eye(k), -np.eye(k)]) * (math.pi / 2)
    select = np.concatenate([np.zeros((k, 1)), np.eye(k), np.eye(k)], axis=1)  # (k, 1 + 2k)
    phase = np.concatenate([[math.pi / 2], np.full(k, math.pi / 2), np.zeros(k)])
    combine = np.zeros((1 + k, 1 + 2 * k))
    combine[0, 0] = 1.0
    combine[1 + np.arange(k), 1 + np.arange(k)] = 0.5
    combine[1 + np.arange(k), 1 + k + np.arange(k)] = -0.5
    with _normal_tensors():
        select_t, bias_t, combine_t = (
            torch.as_tensor(table, dtype=dtype, device=device)
            for table in (select, shifts @ select + phase, combine)
        )
    return select_t, bias_t, combine_t


def _shifted_values(angles: Tensor, rows: Tensor, coefficients: Tensor) -> Tensor:
    """Value and Jacobian ``(1 + k, d)`` of a trigonometric polynomial, by parameter shift."""
    select, bias, combine = _parameter_shift_tables(len(angles), angles.device, angles.dtype)
    factors = torch.sin(torch.addmm(bias, angles.expand(len(bias), -1), select))
    picked = factors.index_select(1, rows.flatten()).view(len(bias), *rows.shape)
    return combine @ (picked.prod(dim=-1) @ coefficients)


class _TrigPolynomialFunction(torch.autograd.Function):
    """Value and exact Jacobian of a trigonometric polynomial from one batched evaluation."""

    @staticmethod
    def forward(ctx: Any, angles: Tensor, rows: Tensor, coefficients: Tensor) -> Tensor:
        values = _shifted_values(angles, rows, coefficients)
        ctx.save_for_backward(angles, rows, coefficients, values[1:])
        return values[0]

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        angles, rows, coefficients, jacobian = ctx.saved_tensors  # jacobian: (k, d)
        if torch.is_grad_enabled():  # create_graph: a differentiable Jacobian, for higher orders
            jacobian = _shifted_values(angles, rows, coefficients)[1:]
        return jacobian @ grad, None, None


def trig_polynomial(angles: Tensor, rows: Tensor, coefficients: Tensor) -> Tensor:
    """``Σ_t m_t(θ) C_t`` over the monomials ``m_t`` of :func:`trig_products`.

    For a function fitted by :func:`fit_trig_polynomial` (restricted to the monomials it uses).
    Such a polynomial is affine in ``(cos θ_i, sin θ_i)`` for every angle, so the parameter-shift
    rule ``∂f/∂θ_i = (f(θ + π/2 e_i) - f(θ - π/2 e_i)) / 2`` is exact: the value and the whole
    Jacobian come from one batched evaluation at ``1 + 2k`` points, and the backward pass is a
    single matrix-vector product instead of a chain of small autograd nodes. With
    ``create_graph=True`` the Jacobian is re-evaluated differentiably, so higher derivatives are
    exact too.

    Args:
        angles: Tensor of shape ``(k,)``.
        rows: Long tensor of shape ``(r, m)`` from :func:`trig_factor_rows`.
        coefficients: Tensor of shape ``(r, d)``.

    Returns:
        Tensor of shape ``(d,)``.
    """
    if torch.is_grad_enabled() and angles.requires_grad:
        return _TrigPolynomialFunction.apply(angles, rows, coefficients)
    return trig_products(angles, rows) @ coefficients


class _PatchPauliExpvalsFunction(torch.autograd.Function):
    """:func:`patch_pauli_expvals` for patches needing no gradient: few passes, one backward op."""

    @staticmethod
    def forward(ctx: Any, patches: Tensor, rows: Tensor, transfer: Tensor) -> Tensor:
        groups, out_h, out_w, k, _ = patches.shape
        n_pixels = k * k
        angles = transfer.new_empty(k, k, groups, out_h, out_w)
        torch.mul(patches.permute(3, 4, 0, 1, 2), math.pi, out=angles)  # one strided pass
        angles = angles.view(n_pixels, groups * out_h * out_w)
        factors = angles.new_empty(1 + 2 * n_pixels, angles.shape[1])
        factors[0] = 1.0
        torch.cos(angles, out=factors[1 : 1 + n_pixels])
        torch.sin(angles, out=factors[1 + n_pixels :])
        picked = factors.index_select(0, rows.flatten())
        features = picked.view(*rows.shape, angles.shape[1]).prod(dim=1)
        ctx.save_for_backward(features)  # (S, P)
        out = (transfer @ features).view(len(transfer), groups, out_h, out_w)
        return out.transpose(0, 1).contiguous()

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[None, None, Tensor]:
        (features,) = ctx.saved_tensors  # linear in grad: differentiable as it stands
        grad = grad.transpose(0, 1).reshape(grad.shape[1], features.shape[1])  # (n_out, P)
        return None, None, (features @ grad.T).T  # the faster of the two layouts on CPU


def patch_pauli_expvals(patches: Tensor, rows: Tensor, transfer: Tensor) -> Tensor:
    """``<Z_j>`` of a circuit on ``RY(π x)``-encoded image patches, in the Heisenberg picture.

    An ``RY(π x_q)``-encoded product state is ``2^{-n} Σ_s Φ_s P_s`` over Pauli strings ``s`` in
    ``{I, Z, X}^n`` with ``Φ_s = Π_q v_q[s_q]`` and ``v_q = (1, cos π x_q, sin π x_q)`` (see
    :func:`pauli_transfer_table`), so ``<Z_j> = Σ_s T_{js} Φ_s`` with the Pauli coefficients
    ``T`` of ``U^† Z_j U`` (:func:`z_transfer`), restricted to the strings ``rows`` selects
    (:func:`trig_factor_rows`). When ``patches`` need no gradient (the first layer of a
    network) the features are written in place from the strided view and the backward pass is
    one matrix product; otherwise autograd records every step. Either way gradients of any
    order are exact (given a ``transfer`` that is, e.g. from :func:`trig_polynomial`).

    Args:
        patches: Tensor of shape ``(N, H', W', k, k)`` (any strides, e.g. ``Tensor.unfold``
            views): pixel ``(a, b)`` of a patch is qubit ``a * k + b``.
        rows: Long tensor of shape ``(S, m)`` from :func:`trig_factor_rows` over ``k * k``
            angles.
        transfer: Tensor of shape ``(n_out, S)``: the coefficient of string ``s`` in
            ``<Z_j>``.

    Returns:
        Tensor of shape ``(N, n_out, H', W')``.
    """
    if not (torch.is_grad_enabled() and patches.requires_grad):
        return _PatchPauliExpvalsFunction.apply(patches, rows, transfer)
    groups, out_h, out_w, k, _ = patches.shape
    angles = patches.permute(3, 4, 0, 1, 2).reshape(k * k, groups * out_h * out_w) * math.pi
    features = trig_products(angles, rows)  # (S, P)
    return (transfer @ features).view(len(transfer), groups, out_h, out_w).transpose(0, 1)


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
