"""The dense-unitary method: ``U(θ)`` built as a ``2^n x 2^n`` matrix, applied in one matmul.

``U(θ)`` is built once per forward pass (one per circuit, circuits stacked along a leading
dimension): every layer of single-qubit gates is one Kronecker product of batched ``2x2``
matrices, and every fixed pattern of CNOTs is a permutation of the computational basis, applied
by indexing rows. The basis change that diagonalises the measured Pauli and the embedding's
fixed phases are folded into that matrix, so every measurement is in the Z basis. The whole
batch of encoded (real) states is multiplied by ``[Re U; Im U]`` in one real batched matmul;
probabilities are the squared amplitudes and ``<Z_j>`` is a contraction with a ``±1`` sign
table. The batch is the *last* dimension throughout (see :func:`~.gates.product_state`).
Costs ``O(L 8^n)`` per circuit to build, ``O(4^n P)`` to apply: the method of choice for few
qubits and large batches (see :mod:`hqnn_pl.quantum.engine.cost`).
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from hqnn_pl.quantum.engine.tables import _normal_tensors

__all__ = [
    "build_unitary",
    "expvals_z",
    "kron_layer",
    "probabilities",
    "squared_amplitudes",
    "stacked_real",
]


def kron_layer(mats: Tensor) -> Tensor:
    """Kronecker product of one ``2x2`` matrix per qubit, batched over leading dimensions.

    Args:
        mats: Tensor of shape ``(..., n, 2, 2)``; ``mats[..., j, :, :]`` acts on wire ``j``.

    Returns:
        Tensor of shape ``(..., 2^n, 2^n)`` equal to ``mats[0] ⊗ mats[1] ⊗ ... ⊗ mats[n-1]``.
    """
    batch = mats.shape[:-3]
    first, *rest = mats.unbind(-3)  # one autograd node for all wires, not one per select
    out = first
    for mat in rest:
        size = out.shape[-1]
        out = (out[..., :, None, :, None] * mat[..., None, :, None, :]).reshape(
            *batch, 2 * size, 2 * size
        )
    return out


@functools.lru_cache(maxsize=32)
def _layer_index(n_layers: int, device: torch.device) -> Tensor:
    """``[[0], [1], ..., [L-1]]``: pairs each layer with its row of permutation indices."""
    with _normal_tensors():
        return torch.arange(n_layers, device=device)[:, None]


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
    if perms is not None:
        layers = layers[..., _layer_index(layers.shape[-3], layers.device), perms, :]
    first, *rest = layers.unbind(-3)
    unitary = first
    for layer in rest:
        unitary = layer @ unitary
    return unitary


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
