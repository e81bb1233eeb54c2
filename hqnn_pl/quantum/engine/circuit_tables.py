"""Constant tables of compiled circuits: Pauli words and monomial gates, cached as tensors."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

_DIAG = {  # V with V^† Z V = P (PennyLane's diagonalising gates)
    "X": np.array([[1, 1], [1, -1]], complex) / np.sqrt(2),
    "Y": np.array([[1, -1j], [1, 1j]], complex) / np.sqrt(2),
    "Z": np.eye(2, dtype=complex),
}
_PAULI = {
    "I": np.eye(2, dtype=complex),
    "X": np.array([[0, 1], [1, 0]], complex),
    "Y": np.array([[0, -1j], [1j, 0]], complex),
    "Z": np.diag([1, -1]).astype(complex),
}


def _bits(n: int) -> np.ndarray:
    return (np.arange(2**n)[:, None] >> np.arange(n - 1, -1, -1)[None, :]) & 1


def _monomial(matrix: np.ndarray, wires: tuple[int, ...], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Full-space gather ``π`` and phase ``φ`` of a monomial gate: ``(Uψ)_i = φ_i ψ_{π(i)}``."""
    bits = _bits(n)
    k = len(wires)
    local = (bits[:, list(wires)] * (1 << np.arange(k - 1, -1, -1))).sum(1)
    cols = np.argmax(np.abs(matrix) > 1e-12, axis=1)
    phase = matrix[local, cols[local]]
    new = bits.copy()
    new[:, list(wires)] = (cols[local][:, None] >> np.arange(k - 1, -1, -1)[None, :]) & 1
    perm = (new * (1 << np.arange(n - 1, -1, -1))).sum(1)
    return perm, phase


def _is_monomial(matrix: np.ndarray) -> bool:
    nonzero = np.abs(matrix) > 1e-12
    return bool(np.all(nonzero.sum(1) == 1) and np.all(nonzero.sum(0) == 1))


def _word(word: str, wires: tuple[int, ...], n: int) -> tuple[np.ndarray, np.ndarray]:
    matrix = np.ones((1, 1), complex)
    for letter in word:
        matrix = np.kron(matrix, _PAULI[letter])
    return _monomial(matrix, wires, n) if wires else (np.arange(2**n), np.ones(2**n, complex))


_TENSORS: dict[tuple[int, torch.device, torch.dtype], tuple[np.ndarray, Tensor]] = {}


def _const_tensor(key: int, value: np.ndarray, device: torch.device, dtype: torch.dtype) -> Tensor:
    """``value`` as a tensor on ``device`` in ``dtype``, converted once (keyed by identity)."""
    entry = _TENSORS.get((key, device, dtype))
    if entry is None or entry[0] is not value:
        tensor = torch.as_tensor(np.asarray(value))
        if not dtype.is_complex and tensor.is_complex():
            tensor = tensor.real
        entry = (value, tensor.to(device=device, dtype=dtype))
        _TENSORS[(key, device, dtype)] = entry
    return entry[1]
