"""The Heisenberg (Pauli) picture for small circuits on ``RY``-encoded product states.

Quanvolution patches of up to 4 qubits skip amplitudes altogether: ``<Z_j>`` is a sum over the
few Pauli strings on which ``U^† Z_j U`` has a non-zero coefficient (:func:`z_transfer`), each a
product of ``cos``/``sin`` of the pixels (:func:`patch_pauli_expvals`). When every weight enters
one Pauli rotation (the HQNN-Quanv block), those coefficients are a trigonometric polynomial of
the weights, tabulated exactly once from the circuit (:func:`fit_trig_polynomial`) and
differentiated with the parameter-shift rule (:func:`trig_polynomial`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hqnn_pl.quantum.engine.tables import _normal_tensors, z_sign_table

__all__ = [
    "fit_trig_polynomial",
    "patch_pauli_expvals",
    "pauli_transfer_table",
    "trig_factor_rows",
    "trig_monomials",
    "trig_polynomial",
    "trig_products",
    "z_transfer",
]


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
        if torch.compiler.is_compiling():
            # Out= arguments on strided views do not survive tracing (the traced out= tensor
            # takes the input's strides); the compiler fuses these passes anyway.
            angles = patches.permute(3, 4, 0, 1, 2).reshape(n_pixels, groups * out_h * out_w)
            angles = angles * math.pi
            factors = torch.cat([torch.ones_like(angles[:1]), angles.cos(), angles.sin()])
        else:
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
