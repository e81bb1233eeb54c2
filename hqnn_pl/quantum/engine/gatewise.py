"""The gate-wise method: a batched state vector, gate by gate, with an adjoint backward pass.

The state of every sample is kept as a ``2^n`` complex vector, batch last: ``(C, 2^n, P)`` for
``C`` circuits (or one circuit shared by all samples, ``C = 1``). A circuit is a
:class:`GateProgram`: a sequence of

* **gates** on a block of adjacent wires ``[w, w + b)``: a ``2^b x 2^b`` matrix per circuit,
  applied as one batched matmul on the state viewed as ``(C, 2^w, 2^b, 2^{n-w-b} P)``. A layer
  of single-qubit gates is fused into blocks of up to :data:`FUSE_WIRES` wires (Kronecker
  products of the ``2x2`` gates), which halves the passes over the state for a few more flops;
* **permutations** of the computational basis (any run of CNOTs), applied as one gather.

The measurement is in the Z basis (Pauli basis changes are gates of the program): ``<Z_j>`` of
every wire, or the ``2^n`` probabilities. Work is ``O(G 2^n P)`` for ``G`` gates instead of the
``O(L 8^n)`` of a dense unitary (:mod:`~hqnn_pl.quantum.engine.dense`), and memory is a few
state vectors whatever the depth.

**Adjoint differentiation** (Jones & Gacon, arXiv:2009.02823). The forward pass keeps only the
final state ``ψ_L``. With ``L = Σ_j g_j <Z_j>`` (``g`` the incoming gradient), ``λ_L = M ψ_L`` for
the diagonal ``M = Σ_j g_j Z_j``; the backward pass walks the program in reverse, undoing each
gate on ``ψ`` (``ψ_{k-1} = U_k^† ψ_k``), reading the gradient of the gate's matrix
``∂L/∂U_k* = λ_k ψ_{k-1}^†`` (summed over the batch and the other wires) and moving
``λ_{k-1} = U_k^† λ_k``. The gate matrices' gradients then flow into the angles by ordinary
autograd (the ``2x2`` rotation matrices are tiny), and ``2 λ_0`` is the gradient of the input
state. Memory is ``O(1)`` states in the depth. Under ``create_graph`` (higher derivatives,
e.g. ``torch.autograd.functional.hessian`` or a gradient penalty) the backward pass instead
re-runs the program op by op under autograd and differentiates that: exact to any order, at the
memory cost of one state per gate.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from hqnn_pl.quantum.engine.dense import kron_layer
from hqnn_pl.quantum.engine.tables import _normal_tensors

__all__ = [
    "FUSE_WIRES",
    "GateProgram",
    "layer_blocks",
    "layer_matrices",
    "layered_program",
    "run_program",
    "z_signs",
]

FUSE_WIRES = 2
"""Largest block of adjacent wires whose single-qubit gates are fused into one matrix."""


@dataclasses.dataclass(frozen=True, eq=False)
class GateProgram:
    """The static structure of a circuit for :func:`run_program`.

    Attributes:
        n_qubits: Number of qubits ``n``.
        ops: ``("gate", first_wire, n_wires, matrix_index)`` or ``("perm", perm_index)`` in
            the order they are applied. Matrix ``i`` is the ``i``-th tensor passed to
            :func:`run_program`; permutation ``i`` is ``perms[i]``.
        perms: Row-gather indices ``idx`` (``P ψ == ψ[idx]``, see
            :func:`~hqnn_pl.quantum.engine.tables.permutation_from_cnots`).
    """

    n_qubits: int
    ops: tuple[tuple[Any, ...], ...]
    perms: tuple[np.ndarray, ...] = ()

    def perm_tensors(self, device: torch.device) -> tuple[list[Tensor], list[Tensor]]:
        """Forward and inverse permutations as long tensors on ``device`` (cached)."""
        return _perm_tensors(self, device)


@functools.lru_cache(maxsize=32)
def _perm_tensors(program: GateProgram, device: torch.device) -> tuple[list[Tensor], list[Tensor]]:
    with _normal_tensors():
        forward = [torch.as_tensor(p, dtype=torch.long, device=device) for p in program.perms]
        inverse = [
            torch.as_tensor(np.argsort(p), dtype=torch.long, device=device) for p in program.perms
        ]
    return forward, inverse


def layer_blocks(n_qubits: int, fuse: int = FUSE_WIRES) -> list[tuple[int, int]]:
    """Blocks ``(first_wire, n_wires)`` a layer of single-qubit gates is fused into.

    Args:
        n_qubits: Number of qubits ``n``.
        fuse: Largest block size.

    Returns:
        Consecutive blocks covering wires ``0..n-1``.
    """
    return [(w, min(fuse, n_qubits - w)) for w in range(0, n_qubits, fuse)]


def layered_program(
    n_qubits: int, perms: Sequence[np.ndarray | None], fuse: int = FUSE_WIRES
) -> GateProgram:
    """Program of ``P_{L-1} K_{L-1} ... P_0 K_0``: layers of single-qubit gates and permutations.

    The layout :func:`~hqnn_pl.quantum.engine.dense.build_unitary` builds densely; feed it the
    matrices of :func:`layer_matrices` of the same ``(L, n, 2, 2)`` gates.

    Args:
        n_qubits: Number of qubits ``n``.
        perms: One row-gather index per layer, or None for a layer without permutation.
        fuse: Largest block of fused wires.

    Returns:
        The program.
    """
    ops: list[tuple[Any, ...]] = []
    kept: list[np.ndarray] = []
    index = 0
    for perm in perms:
        for first, width in layer_blocks(n_qubits, fuse):
            ops.append(("gate", first, width, index))
            index += 1
        if perm is not None and not np.array_equal(perm, np.arange(len(perm))):
            ops.append(("perm", len(kept)))
            kept.append(np.asarray(perm, dtype=np.int64))
    return GateProgram(n_qubits, tuple(ops), tuple(kept))


def layer_matrices(mats: Tensor, fuse: int = FUSE_WIRES) -> list[Tensor]:
    """Fused block matrices of layers of single-qubit gates, in :func:`layered_program` order.

    Args:
        mats: Complex tensor of shape ``(C, L, n, 2, 2)``.
        fuse: Largest block of fused wires.

    Returns:
        ``L * ceil(n / fuse)`` tensors of shape ``(C, 2^b, 2^b)``.
    """
    n_qubits = mats.shape[-3]
    out = []
    for layer in range(mats.shape[1]):
        for first, width in layer_blocks(n_qubits, fuse):
            out.append(kron_layer(mats[:, layer, first : first + width]))
    return out


@functools.lru_cache(maxsize=32)
def z_signs(n_qubits: int, device: torch.device, dtype: torch.dtype) -> Tensor:
    """``(n, 2^n)`` table of the eigenvalues of ``Z_j`` (wire 0 most significant), in torch."""
    with _normal_tensors():
        index = torch.arange(2**n_qubits, device=device)
        shifts = torch.arange(n_qubits - 1, -1, -1, device=device)
        bits = (index[None, :] >> shifts[:, None]) & 1
        return (1 - 2 * bits).to(dtype)


def _blocks(state: Tensor, first: int, width: int, n_qubits: int) -> Tensor:
    """``state`` (C, N, P) viewed as (C, 2^first, 2^width, rest): the block's axis in the middle."""
    circuits, _, batch = state.shape
    return state.view(circuits, 2**first, 2**width, 2 ** (n_qubits - first - width) * batch)


def _apply(
    matrix: Tensor, state: Tensor, out: Tensor, first: int, width: int, n_qubits: int
) -> Tensor:
    """Write ``matrix`` (C, d, d) on wires ``[first, first + width)`` of ``state`` into ``out``.

    Into a preallocated buffer: a fresh state-sized tensor per gate costs more in page faults
    than the arithmetic on CPU.
    """
    view = _blocks(state, first, width, n_qubits)
    torch.matmul(matrix.unsqueeze(1), view, out=_blocks(out, first, width, n_qubits))
    return out


def _matrix_grad(lam: Tensor, psi: Tensor, first: int, width: int, n_qubits: int) -> Tensor:
    """``2 Σ λ ψ^†`` over the other wires and the batch: (C, d, d), PyTorch's complex gradient."""
    lam_v = _blocks(lam, first, width, n_qubits)
    psi_v = _blocks(psi, first, width, n_qubits)
    return 2.0 * (lam_v @ psi_v.mH).sum(1)


def _run_recorded(
    program: GateProgram, probs: bool, state: Tensor, matrices: Sequence[Tensor]
) -> Tensor:
    """The forward pass op by op, without buffers, so that autograd records it (double backward)."""
    n = program.n_qubits
    forward_perms, _ = program.perm_tensors(state.device)
    cplx = matrices[0].dtype if matrices else torch.complex64
    circuits = max([state.shape[0], *(m.shape[0] for m in matrices)])
    psi = state.to(cplx).expand(circuits, -1, -1)
    for op in program.ops:
        if op[0] == "gate":
            _, first, width, index = op
            blocks = psi.reshape(circuits, 2**first, 2**width, -1)
            psi = (matrices[index].unsqueeze(1) @ blocks).reshape(psi.shape)
        else:
            psi = psi.index_select(1, forward_perms[op[1]])
    squared = psi.real.square() + psi.imag.square()  # (C, N, P)
    return squared if probs else z_signs(n, state.device, squared.dtype) @ squared


class _ProgramFunction(torch.autograd.Function):
    """Run a :class:`GateProgram` and measure in the Z basis; adjoint backward."""

    @staticmethod
    def forward(
        ctx: Any, program: GateProgram, probs: bool, state: Tensor, *matrices: Tensor
    ) -> Tensor:
        n = program.n_qubits
        forward_perms, _ = program.perm_tensors(state.device)
        cplx = matrices[0].dtype if matrices else torch.complex64
        circuits = max([state.shape[0], *(m.shape[0] for m in matrices)])
        psi = state.to(cplx).expand(circuits, -1, -1).contiguous()
        spare = torch.empty_like(psi)
        for op in program.ops:
            if op[0] == "gate":
                _, first, width, index = op
                psi, spare = _apply(matrices[index], psi, spare, first, width, n), psi
            else:
                torch.index_select(psi, 1, forward_perms[op[1]], out=spare)
                psi, spare = spare, psi
        del spare
        squared = psi.real.square() + psi.imag.square()  # (C, N, P)
        ctx.program = program
        ctx.probs = probs
        ctx.state_is_complex = state.is_complex()
        ctx.state_circuits = state.shape[0]
        ctx.save_for_backward(psi, state, *matrices)
        if probs:
            return squared
        return z_signs(n, state.device, squared.dtype) @ squared  # (C, n, P)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        program: GateProgram = ctx.program
        n = program.n_qubits
        psi, state, *matrices = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: differentiate the recorded computation
            inputs = (state, *matrices)
            needs = ctx.needs_input_grad[2:]
            wanted = [t for t, need in zip(inputs, needs, strict=True) if need]
            out = _run_recorded(program, ctx.probs, state, matrices)
            found = iter(
                torch.autograd.grad(
                    out, wanted, grad, create_graph=True, allow_unused=True, materialize_grads=True
                )
            )
            return None, None, *(next(found) if need else None for need in needs)
        _, inverse_perms = program.perm_tensors(psi.device)
        # The diagonal observable Σ_j g_j Z_j (or diag(g) for probabilities): (C, N, P).
        diagonal = grad if ctx.probs else z_signs(n, grad.device, grad.dtype).T @ grad
        lam = psi * diagonal
        del diagonal
        psi = psi.clone()  # the saved final state stays intact (backward may run again)
        spare = torch.empty_like(psi)
        needs = ctx.needs_input_grad[3:]
        grads: list[Tensor | None] = [None] * len(matrices)
        for op in reversed(program.ops):
            if op[0] == "perm":
                inverse = inverse_perms[op[1]]
                torch.index_select(psi, 1, inverse, out=spare)
                psi, spare = spare, psi
                torch.index_select(lam, 1, inverse, out=spare)
                lam, spare = spare, lam
                continue
            _, first, width, index = op
            adjoint = matrices[index].mH
            psi, spare = _apply(adjoint, psi, spare, first, width, n), psi
            if needs[index]:
                grad_m = _matrix_grad(lam, psi, first, width, n)
                if matrices[index].shape[0] == 1 and grad_m.shape[0] > 1:
                    grad_m = grad_m.sum(0, keepdim=True)
                grads[index] = grad_m if grads[index] is None else grads[index] + grad_m
            lam, spare = _apply(adjoint, lam, spare, first, width, n), lam
        grad_state = None
        if ctx.needs_input_grad[2]:
            grad_state = 2.0 * lam
            if not ctx.state_is_complex:
                grad_state = grad_state.real
            if ctx.state_circuits == 1 and grad_state.shape[0] > 1:
                grad_state = grad_state.sum(0, keepdim=True)
        return None, None, grad_state, *grads


def run_program(
    program: GateProgram, state: Tensor, matrices: Sequence[Tensor], probs: bool = False
) -> Tensor:
    """Run ``program`` on a batch of states; ``<Z_j>`` of every wire or the probabilities.

    Differentiable w.r.t. ``state`` and ``matrices`` by the adjoint method (higher orders by
    re-running the program under autograd).

    Args:
        program: The circuit's structure.
        state: Initial states ``(C or 1, 2^n, P)``, real or complex, batch last.
        matrices: Gate matrices, ``(C or 1, 2^b, 2^b)`` complex each, as ``program`` indexes them.
        probs: Return the ``2^n`` probabilities instead of ``<Z_j>``.

    Returns:
        Real tensor ``(C, n, P)`` (or ``(C, 2^n, P)`` with ``probs``).
    """
    return _ProgramFunction.apply(program, probs, state, *matrices)
