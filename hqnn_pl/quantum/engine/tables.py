"""Static tables of the engine (numpy, exact) and their per-device, per-dtype tensor cache.

Basis-state bits, ``Z`` sign tables, CNOT patterns as basis permutations, Pauli basis changes:
computed once in float64/int64 numpy and converted by :class:`ConstantCache` for each device and
compute dtype. Qubit ordering follows PennyLane: wire 0 is the most significant bit of a
basis-state index.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "ConstantCache",
    "basis_bits",
    "compute_dtypes",
    "pauli_basis_change",
    "permutation_from_cnots",
    "strongly_entangling_cnots",
    "strongly_entangling_permutations",
    "z_sign_table",
]


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
    image = np.arange(2**n_qubits, dtype=np.int64)  # bit ops on the index: no (2^n, n) table
    for control, target in pairs:
        image ^= ((image >> (n_qubits - 1 - control)) & 1) << (n_qubits - 1 - target)
    return np.argsort(image)  # basis state b is mapped to image[b]


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
