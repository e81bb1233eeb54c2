"""Exact noisy execution: quantum channels in the Heisenberg picture, batched in torch.

Every circuit of the project is ``embedding -> gates -> measurement``, and the noise model of
:mod:`hqnn_pl.quantum.noise` puts a single-qubit channel after each gate on the wires it touches
and a bit flip before measurement. Rather than evolving one ``2^n x 2^n`` density matrix per
sample, this module evolves the *measured observables* backwards through the channels
(Heisenberg picture, ``E^†(O) = Σ_m K_m^† O K_m``):

* the observables (``K`` of them: one Pauli per wire, or the ``2^n`` projectors of a ``probs``
  or sampled measurement) start as ``(C, K, 2^n, 2^n)`` matrices, ``C`` circuits side by side;
* the readout channel's adjoint is applied on every wire, then, gate by gate from the last, the
  adjoint of ``noise ∘ gate`` (a ``4 x 4`` superoperator on one wire's row and column index for
  single-qubit gates; an index permutation plus two superoperators for a CNOT), and finally the
  adjoint of the noise that follows each embedding rotation;
* what is left, ``O'``, does not depend on the inputs: each output is ``<ψ(x)|O'_k|ψ(x)>`` for the
  noise-free embedded state ``ψ(x)`` (a product state for angle encodings, the normalised vector
  for amplitude embedding), one batched matmul for the whole batch.

This is exact (the same channel as a density-matrix simulation, to rounding), differentiable by
autograd w.r.t. the gate angles (which build the superoperators) and the inputs (through
``ψ``), and costs ``O(G K 4^n)`` per circuit for ``G`` gates, independent of the batch, plus
``O(K 4^n)`` per sample.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from hqnn_pl.errors import ConfigurationError

__all__ = [
    "NoisyProgram",
    "adjoint_superop",
    "check_density_memory",
    "density_bytes",
    "evolve_observables",
    "expectations",
    "pauli_observables",
    "projector_observables",
    "rotation_matrices",
    "unitary_adjoint_superop",
]

_PAULI = {
    "X": np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.complex128),
    "Y": np.array([[0.0, -1.0j], [1.0j, 0.0]], dtype=np.complex128),
    "Z": np.array([[1.0, 0.0], [0.0, -1.0]], dtype=np.complex128),
}
_DIAG = {  # V with V^† Z V = P: PennyLane's diagonalising gates (H for X, H S^† for Y)
    "X": np.array([[1.0, 1.0], [1.0, -1.0]], dtype=np.complex128) / math.sqrt(2.0),
    "Y": np.array([[1.0, 1.0], [1.0, -1.0]], dtype=np.complex128)
    @ np.diag([1.0, -1.0j])
    / math.sqrt(2.0),
    "Z": np.eye(2, dtype=np.complex128),
}


@dataclasses.dataclass(frozen=True)
class NoisyProgram:
    """The gate sequence of one circuit after its embedding, as the noise model sees it.

    Attributes:
        n_qubits: Wires ``0..n-1`` (wire 0 most significant).
        ops: In circuit order: ``("gate", wire, index)`` for a single-qubit gate whose matrix is
            ``matrices[:, index]`` of :func:`evolve_observables`, or ``("cnot", control, target)``.
        embedding_noise: Whether a noisy embedding rotation acts on every wire before ``ops``
            (angle encodings: yes; amplitude embedding, a state preparation: no).
    """

    n_qubits: int
    ops: tuple[tuple[str, int, int], ...]
    embedding_noise: bool = True


def adjoint_superop(kraus: Sequence[np.ndarray]) -> np.ndarray:
    """Heisenberg-picture superoperator of a single-qubit channel.

    Args:
        kraus: The channel's ``2 x 2`` Kraus matrices ``K_m``.

    Returns:
        Complex ``(4, 4)`` array ``A`` with
        ``(Σ_m K_m^† O K_m)_{ij} = Σ_{kl} A[2i+j, 2k+l] O_{kl}``.
    """
    return sum(np.einsum("ki,lj->ijkl", k.conj(), k).reshape(4, 4) for k in kraus)


def unitary_adjoint_superop(matrices: Tensor) -> Tensor:
    """:func:`adjoint_superop` of unitaries ``U`` (``O -> U^† O U``), batched and differentiable.

    Args:
        matrices: Complex tensor ``(..., 2, 2)``.

    Returns:
        Complex tensor ``(..., 4, 4)``.
    """
    return (
        torch.einsum("...ki,...lj->...ijkl", matrices.conj(), matrices)
        .flatten(-4, -3)
        .flatten(-2, -1)
    )


def rotation_matrices(axis: str, angles: Tensor, complex_dtype: torch.dtype) -> Tensor:
    """Matrices of ``RX``/``RY``/``RZ(angle)``, batched and differentiable.

    Args:
        axis: ``"X"``, ``"Y"`` or ``"Z"``.
        angles: Real tensor of any shape.
        complex_dtype: complex64 or complex128.

    Returns:
        Complex tensor ``angles.shape + (2, 2)``.
    """
    half = angles / 2
    cos = torch.cos(half).to(complex_dtype)
    sin = torch.sin(half).to(complex_dtype)
    zero = torch.zeros_like(cos)
    if axis == "X":
        rows = [[cos, -1j * sin], [-1j * sin, cos]]
    elif axis == "Y":
        rows = [[cos, -sin], [sin, cos]]
    else:
        rows = [[cos - 1j * sin, zero], [zero, cos + 1j * sin]]
    return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)


def _embed(single: np.ndarray, wire: int, n_qubits: int) -> np.ndarray:
    return np.kron(np.kron(np.eye(2**wire), single), np.eye(2 ** (n_qubits - wire - 1)))


def pauli_observables(observable: str, n_qubits: int) -> np.ndarray:
    """``P_j`` on every wire ``j`` as full matrices.

    Args:
        observable: ``"X"``, ``"Y"`` or ``"Z"``.
        n_qubits: Number of qubits ``n``.

    Returns:
        Complex array ``(n, 2^n, 2^n)``.
    """
    return np.stack([_embed(_PAULI[observable], j, n_qubits) for j in range(n_qubits)])


def projector_observables(observable: str, n_qubits: int) -> np.ndarray:
    """Projectors onto the joint eigenbasis of ``P`` on every wire (the measured outcomes).

    Outcome ``b`` (wire 0 most significant; bit 0 means eigenvalue +1) is ``V^† |b><b| V`` with
    ``V`` the diagonalising gate of ``P`` on every wire, so its expectation is the probability of
    measuring ``b`` after the basis change, as a device does.

    Args:
        observable: ``"X"``, ``"Y"`` or ``"Z"``.
        n_qubits: Number of qubits ``n``.

    Returns:
        Complex array ``(2^n, 2^n, 2^n)``.
    """
    basis = np.ones((1, 1), dtype=np.complex128)
    for _ in range(n_qubits):
        basis = np.kron(basis, _DIAG[observable])
    rows = basis  # row b of V is <b|V
    return np.einsum("bi,bj->bij", rows.conj(), rows)


def _apply_on_wire(ops: Tensor, superop: Tensor, wire: int, n_qubits: int) -> Tensor:
    """Apply a ``(4, 4)`` or ``(C, 4, 4)`` superoperator on one wire of ``(C, K, N, N)``."""
    c, k = ops.shape[:2]
    left, right = 2**wire, 2 ** (n_qubits - wire - 1)
    view = ops.reshape(c, k, left, 2, right, left, 2, right)
    if superop.ndim == 2:
        out = torch.einsum("PQpq,ckxpyzqw->ckxPyzQw", superop.view(2, 2, 2, 2), view)
    else:
        out = torch.einsum("cPQpq,ckxpyzqw->ckxPyzQw", superop.view(-1, 2, 2, 2, 2), view)
    return out.reshape(ops.shape)


def _cnot_index(n_qubits: int, control: int, target: int, device: torch.device) -> Tensor:
    image = np.arange(2**n_qubits, dtype=np.int64)
    image ^= ((image >> (n_qubits - 1 - control)) & 1) << (n_qubits - 1 - target)
    return torch.from_numpy(image).to(device)


def evolve_observables(
    program: NoisyProgram,
    matrices: Tensor,
    observables: Tensor,
    gate_noise: Tensor | None,
    readout: Tensor | None,
) -> Tensor:
    """Heisenberg images ``O'`` of the observables through the noisy circuit (see module doc).

    Args:
        program: The circuit's gates.
        matrices: Complex ``(C, G, 2, 2)`` matrices of its single-qubit gates.
        observables: Complex ``(K, N, N)`` measured observables (before the readout channel).
        gate_noise: Complex ``(4, 4)`` adjoint superoperator of the per-wire channel after each
            gate (and each embedding rotation), or None.
        readout: Complex ``(4, 4)`` adjoint superoperator of the readout channel, or None.

    Returns:
        Complex ``(C, K, N, N)``.
    """
    n = program.n_qubits
    ops = observables.expand(matrices.shape[0], *observables.shape)
    if readout is not None:
        for wire in range(n):
            ops = _apply_on_wire(ops, readout, wire, n)
    gates = unitary_adjoint_superop(matrices)  # (C, G, 4, 4)
    if gate_noise is not None:
        gates = gates @ gate_noise  # O -> U^† N^†(O) U
    for kind, a, b in reversed(program.ops):
        if kind == "gate":
            ops = _apply_on_wire(ops, gates[:, b], a, n)
            continue
        if gate_noise is not None:
            ops = _apply_on_wire(ops, gate_noise, a, n)
            ops = _apply_on_wire(ops, gate_noise, b, n)
        index = _cnot_index(n, a, b, ops.device)
        ops = ops.index_select(-2, index).index_select(-1, index)  # CNOT O CNOT
    if program.embedding_noise and gate_noise is not None:
        for wire in range(n):
            ops = _apply_on_wire(ops, gate_noise, wire, n)
    return ops


def expectations(ops: Tensor, states: Tensor) -> Tensor:
    """``<ψ_p|O_k|ψ_p>`` for every circuit, observable and sample.

    Args:
        ops: Complex ``(C, K, N, N)`` Hermitian observables.
        states: ``(C, N, P)`` or ``(N, P)`` state vectors (real or complex), batch last.

    Returns:
        Real ``(C, K, P)``.
    """
    c, k, n_states, _ = ops.shape
    if states.ndim == 2:
        states = states.expand(c, *states.shape)
    if not states.is_complex():  # real ψ: only the symmetric real part of O contributes
        applied = ops.real.reshape(c, k * n_states, n_states) @ states
        return (applied.view(c, k, n_states, -1) * states[:, None]).sum(dim=2)
    applied = ops.reshape(c, k * n_states, n_states) @ states
    product = applied.view(c, k, n_states, -1) * states.conj()[:, None]
    return product.real.sum(dim=2)


def density_bytes(
    n_qubits: int, circuits: int, observables: int, batch: int, real_bytes: int
) -> int:
    """Estimated peak memory of a noisy forward and backward pass.

    The Heisenberg images of ``K`` observables (``C K 4^n`` complex entries) are kept for about
    six gates' worth of autograd buffers at a time per wire sweep (a generous factor of
    ``3 n + 8``), plus the ``(C, K, N, P)`` products with the batch.

    Args:
        n_qubits: Qubits ``n``.
        circuits: Circuits ``C``.
        observables: Observables ``K``.
        batch: Samples ``P`` per circuit.
        real_bytes: 4 (float32) or 8 (float64).

    Returns:
        Bytes.
    """
    n_states = 2**n_qubits
    cplx = 2 * real_bytes
    evolve = circuits * observables * n_states * n_states * cplx * (3 * n_qubits + 8)
    contract = 3 * circuits * observables * n_states * batch * cplx
    return evolve + contract


def check_density_memory(
    what: str,
    n_qubits: int,
    circuits: int,
    observables: int,
    batch: int,
    real_bytes: int,
    available: int,
) -> None:
    """Refuse a noisy call that would not fit in memory, stating the estimate.

    Args:
        what: The layer, for the message.
        n_qubits: Qubits.
        circuits: Circuits side by side.
        observables: Observables evolved.
        batch: Samples per circuit.
        real_bytes: 4 or 8.
        available: Bytes available.

    Raises:
        ConfigurationError: If :func:`density_bytes` exceeds ``available``.
    """
    need = density_bytes(n_qubits, circuits, observables, batch, real_bytes)
    if need > available:
        raise ConfigurationError(
            f"{what} with noise needs about {need / 2**30:.1f} GiB for its {n_qubits}-qubit "
            f"density-matrix (Heisenberg) simulation but only {available / 2**30:.1f} GiB is "
            f"available; use fewer qubits (each one less divides this by about 4) or a smaller "
            f"batch."
        )
