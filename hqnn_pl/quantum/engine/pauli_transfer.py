"""Noisy few-qubit circuits on product-state inputs, in the Pauli-transfer picture.

The measured observables are carried backwards through the circuit (Heisenberg picture) as real
coefficients on the Pauli strings, one ``4 x ... x 4`` tensor per observable: a single-qubit
gate or channel acts on one axis with its ``4 x 4`` Pauli transfer matrix (PTM), a CNOT on two
axes with its ``16 x 16`` one, and a gate and the noise that follows it are one product of
matrices. What is left at the start of the circuit is evaluated on a product state from each
wire's Bloch vector: ``<ψ|O|ψ> = Σ_a c_a ∏_w e_w[a_w]`` with ``e_w = (1, <X>, <Y>, <Z>)``.

This replaces evolving ``2^n x 2^n`` observables through superoperators and contracting them
with every sample's state vector (:mod:`hqnn_pl.quantum.engine.density`): the circuit part is
a few real tensor products per gate, independent of the batch, and each sample costs one dot
product with ``3^n`` Bloch-vector products (real embeddings have ``<Y> = 0``). It serves the
noisy quanvolution (4 qubits, one circuit, tens of thousands of patches per batch); the
density-matrix path stays the oracle-tested reference and handles shots.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from hqnn_pl.quantum.engine.tables import _normal_tensors

__all__ = ["channel_ptm", "evolve_pauli", "real_product_expectations", "unitary_ptm"]

_PAULIS = np.array(
    [[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=complex
)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def channel_ptm(kraus: Sequence[np.ndarray]) -> np.ndarray:
    """Heisenberg-picture PTM of a channel on ``k`` qubits.

    Args:
        kraus: The channel's ``2^k x 2^k`` Kraus matrices ``K_m`` (a unitary: one matrix).

    Returns:
        Real ``(4^k, 4^k)`` array ``M`` with ``Σ_m K_m^† P_b K_m = Σ_a M[a, b] P_a`` over the
        ``k``-qubit Pauli strings (first qubit most significant), so coefficients ``c`` of an
        observable become ``M @ c``.
    """
    size = kraus[0].shape[0]
    n_qubits = size.bit_length() - 1
    strings = [
        functools.reduce(np.kron, (_PAULIS[i] for i in index))
        for index in itertools.product(range(4), repeat=n_qubits)
    ]
    images = [sum(k.conj().T @ s @ k for k in kraus) for s in strings]
    ptm = np.array([[np.trace(a @ image) / size for image in images] for a in strings])
    return ptm.real


def unitary_ptm(matrices: Tensor) -> Tensor:
    """:func:`channel_ptm` of single-qubit unitaries, batched and differentiable.

    Args:
        matrices: Complex ``(..., 2, 2)``.

    Returns:
        Real ``(..., 4, 4)``: ``R[a, b] = Tr(P_a U^† P_b U) / 2`` (``P``: I, X, Y, Z).
    """
    paulis = _pauli_tensor(matrices.device, matrices.dtype)
    products = torch.einsum("aij,...kj,bkl,...li->...ab", paulis, matrices.conj(), paulis, matrices)
    return products.real / 2


@functools.lru_cache(maxsize=8)
def _pauli_tensor(device: torch.device, dtype: torch.dtype) -> Tensor:
    with _normal_tensors():
        return torch.as_tensor(_PAULIS, dtype=dtype, device=device)


def _apply(coefficients: Tensor, matrix: Tensor, wires: Sequence[int]) -> Tensor:
    """``matrix`` (``4^k x 4^k``) applied to the Pauli axes ``wires`` of ``(K, 4, ..., 4)``."""
    n_qubits = coefficients.ndim - 1
    axes = _LETTERS[:n_qubits]
    new = "".join(_LETTERS[n_qubits + i] for i in range(len(wires)))
    old = "".join(axes[w] for w in wires)
    out = list(axes)
    for i, w in enumerate(wires):
        out[w] = new[i]
    shaped = matrix.reshape((4,) * (2 * len(wires)))
    return torch.einsum(f"{new}{old},Z{axes}->Z{''.join(out)}", shaped, coefficients)


def evolve_pauli(
    n_qubits: int,
    ops: Sequence[tuple[str, int, int]],
    gate_ptms: Tensor,
    noise_ptm: Tensor | None,
    cnot_ptm: Tensor,
    readout: Tensor | None,
    embedding_noise: bool,
) -> Tensor:
    """Pauli coefficients of every ``<Z_j>`` carried back to the start of a noisy circuit.

    Args:
        n_qubits: Wires ``0..n-1``.
        ops: In circuit order: ``("gate", wire, index)`` (the gate ``gate_ptms[index]``) or
            ``("cnot", control, target)``, each followed by the gate noise on its wires.
        gate_ptms: Real ``(G, 4, 4)`` PTMs of the single-qubit gates (:func:`unitary_ptm`).
        noise_ptm: Real ``(4, 4)`` PTM of the noise after every gate, or None.
        cnot_ptm: Real ``(16, 16)`` PTM of a CNOT (control first).
        readout: Real ``(4,)`` diagonal PTM of the readout noise, or None.
        embedding_noise: Whether the embedding's rotation on every wire is followed by the noise.

    Returns:
        Real ``(n, 4, ..., 4)``: coefficients of observable ``j`` on the Pauli strings.
    """
    dtype, device = gate_ptms.dtype, gate_ptms.device
    coefficients = torch.zeros((n_qubits,) + (4,) * n_qubits, dtype=dtype, device=device)
    for j in range(n_qubits):
        coefficients[(j,) + (0,) * j + (3,) + (0,) * (n_qubits - j - 1)] = 1.0
    if readout is not None:  # the same diagonal on every wire: the Z and Y entries scale
        for wire in range(n_qubits):
            shape = [1] * (n_qubits + 1)
            shape[wire + 1] = 4
            coefficients = coefficients * readout.reshape(shape)
    if noise_ptm is not None:
        gate_ptms = gate_ptms @ noise_ptm
        cnot_ptm = cnot_ptm @ torch.kron(noise_ptm, noise_ptm)
    for kind, first, second in reversed(ops):
        if kind == "cnot":
            coefficients = _apply(coefficients, cnot_ptm, (first, second))
        else:
            coefficients = _apply(coefficients, gate_ptms[second], (first,))
    if embedding_noise and noise_ptm is not None:
        for wire in range(n_qubits):
            coefficients = _apply(coefficients, noise_ptm, (wire,))
    return coefficients


def real_product_expectations(coefficients: Tensor, bloch: Tensor) -> Tensor:
    """``Σ_a c_a ∏_w e_w[a_w]`` for product states with ``<Y> = 0`` on every wire.

    Args:
        coefficients: Real ``(K, 4, ..., 4)`` Pauli coefficients (:func:`evolve_pauli`).
        bloch: Real ``(n, 3, P)``: ``(1, <X>, <Z>)`` of every wire and sample, batch last.

    Returns:
        Real ``(K, P)``.
    """
    n_qubits = coefficients.ndim - 1
    keep = torch.tensor([0, 1, 3], device=coefficients.device)
    for wire in range(n_qubits):
        coefficients = coefficients.index_select(wire + 1, keep)
    first, *rest = bloch.unbind(0)
    features = first
    for factor in rest:
        features = (features.unsqueeze(1) * factor.unsqueeze(0)).flatten(0, 1)
    return coefficients.flatten(1) @ features
