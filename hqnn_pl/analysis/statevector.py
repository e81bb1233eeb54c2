"""Batched torch state vectors of any PennyLane quantum function, for the diagnostics.

The diagnostics need the states or outputs of one circuit for thousands of weight draws at once
(expressibility, entangling capability, gradient variance, Fourier coefficients). Rather than
re-implement each circuit, this module records the circuit's own PennyLane definition (from
:mod:`hqnn_pl.quantum.circuits`) as a tape with *broadcast* torch parameters, decomposes its
templates into gates, and applies every gate's (batched) matrix to a batch of state vectors in
plain torch: one tensor contraction per gate for the whole batch, differentiable by autograd.
The PennyLane circuit stays the single source of truth; the layers' own engine
(:mod:`hqnn_pl.quantum.engine`) is tuned for training and not used here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pennylane as qml
import torch
from torch import Tensor

__all__ = [
    "STATE_PREPARATIONS",
    "apply_matrix",
    "batched_states",
    "broadcast_tape",
    "circuit_outputs",
    "circuit_states",
    "decompose_gates",
    "expectation",
    "record_tape",
]

STATE_PREPARATIONS = ("StatePrep", "AmplitudeEmbedding", "MottonenStatePreparation")
"""Operations that prepare the initial state from the inputs (amplitude embedding)."""


def record_tape(qfunc: Callable[..., Any], *args: Any, **kwargs: Any) -> qml.tape.QuantumScript:
    """Record ``qfunc(*args, **kwargs)`` as a tape without executing it.

    Args:
        qfunc: A quantum function.
        *args: Its arguments (torch tensors, possibly with a leading broadcast dimension).
        **kwargs: Its keyword arguments.

    Returns:
        The recorded quantum script.
    """
    return qml.tape.make_qscript(qfunc)(*args, **kwargs)


def decompose_gates(op: qml.operation.Operator) -> list[qml.operation.Operator]:
    """``op`` itself if it is a gate of at most 2 wires with a matrix, else its decomposition."""
    if op.name in STATE_PREPARATIONS or (op.has_matrix and len(op.wires) <= 2):
        return [op]
    return [gate for sub in op.decomposition() for gate in decompose_gates(sub)]


def _apply_general(state: Tensor, matrix: Tensor, wires: list[int]) -> Tensor:
    k = len(wires)
    axes = [w + 1 for w in wires]
    moved = state.movedim(axes, list(range(state.ndim - k, state.ndim)))
    shape = moved.shape
    flat = moved.reshape(shape[0], -1, 2**k)
    out = flat @ matrix.transpose(-1, -2)
    return out.reshape(shape).movedim(list(range(state.ndim - k, state.ndim)), axes)


def _apply_single(state: Tensor, matrix: Tensor, wire: int) -> Tensor:
    """One-qubit gate as elementwise products: no copies to move axes, no tiny matmuls."""
    batch, n_qubits = state.shape[0], state.ndim - 1
    view = state.reshape(batch, 2**wire, 2, 2 ** (n_qubits - wire - 1))
    low, high = view[:, :, 0], view[:, :, 1]
    m = matrix.reshape(-1, 4, 1, 1)
    new_low = m[:, 0] * low + m[:, 1] * high
    new_high = m[:, 2] * low + m[:, 3] * high
    return torch.stack([new_low, new_high], dim=2).reshape(state.shape)


def _permutation(matrix: Tensor) -> Tensor | None:
    """The row-gather index of a constant permutation matrix (CNOT, SWAP, X), else None."""
    if matrix.ndim != 2 or matrix.requires_grad:
        return None
    ones = matrix == 1
    if not bool((ones | (matrix == 0)).all()) or not bool((ones.sum(1) == 1).all()):
        return None
    return ones.to(torch.int64).argmax(1)


def apply_matrix(state: Tensor, matrix: Tensor, wires: list[int]) -> Tensor:
    """Apply a (batched) gate matrix to a batch of state vectors.

    One-qubit gates are applied as elementwise products, constant permutation gates (CNOT) as
    one gather, anything else by moving its wires last and one batched matmul.

    Args:
        state: Complex tensor of shape ``(B, 2, ..., 2)`` (one axis per wire after the batch).
        matrix: Complex tensor ``(2^k, 2^k)`` or ``(B, 2^k, 2^k)``.
        wires: The ``k`` wires the gate acts on, in the matrix's order.

    Returns:
        The new states, same shape as ``state``.
    """
    if len(wires) == 1:
        return _apply_single(state, matrix, wires[0])
    perm = _permutation(matrix)
    if perm is None:
        return _apply_general(state, matrix, wires)
    k = len(wires)
    axes = [w + 1 for w in wires]
    moved = state.movedim(axes, list(range(state.ndim - k, state.ndim)))
    shape = moved.shape
    out = moved.reshape(shape[0], -1, 2**k).index_select(-1, perm)
    return out.reshape(shape).movedim(list(range(state.ndim - k, state.ndim)), axes)


def _initial_state(
    op: qml.operation.Operator | None, batch: int, n_qubits: int, dtype: torch.dtype
) -> Tensor:
    if op is None:
        state = torch.zeros(batch, 2**n_qubits, dtype=dtype)
        state[:, 0] = 1.0
    else:
        vector = op.state_vector(wire_order=range(n_qubits))
        state = torch.as_tensor(vector).to(dtype).reshape(-1, 2**n_qubits).expand(batch, -1)
    return state.reshape(batch, *([2] * n_qubits))


def batched_states(
    tape: qml.tape.QuantumScript, n_qubits: int, batch: int, dtype: torch.dtype = torch.complex128
) -> Tensor:
    """Final states of a recorded (broadcast) circuit, one per batch entry.

    Args:
        tape: Recorded circuit on wires ``0..n_qubits-1``; broadcast parameters have a leading
            dimension of size ``batch``.
        n_qubits: Number of wires.
        batch: Broadcast size (1 if nothing is broadcast).
        dtype: Complex dtype of the simulation.

    Returns:
        Complex tensor of shape ``(batch, 2^n_qubits)``, PennyLane's basis order.
    """
    gates = [gate for op in tape.operations for gate in decompose_gates(op)]
    prep = None
    if gates and gates[0].name in STATE_PREPARATIONS:
        prep, gates = gates[0], gates[1:]
    state = _initial_state(prep, batch, n_qubits, dtype)
    for gate in gates:
        matrix = torch.as_tensor(gate.matrix()).to(dtype)
        state = apply_matrix(state, matrix, [int(w) for w in gate.wires])
    return state.reshape(batch, 2**n_qubits)


def expectation(state: Tensor, observable: qml.operation.Operator, n_qubits: int) -> Tensor:
    """``<ψ|O|ψ>`` for a batch of states.

    Args:
        state: Complex tensor ``(B, 2^n)``.
        observable: A PennyLane observable on some of the ``n`` wires.
        n_qubits: Number of wires ``n``.

    Returns:
        Real tensor ``(B,)``.
    """
    batch = state.shape[0]
    shaped = state.reshape(batch, *([2] * n_qubits))
    matrix = torch.as_tensor(observable.matrix()).to(state.dtype)
    applied = apply_matrix(shaped, matrix, [int(w) for w in observable.wires])
    return (state.conj() * applied.reshape(batch, -1)).sum(-1).real


_PROBE_OFFSET = 1000.0
"""Probe weights are ``1000 + k``: angles no circuit computes from its inputs."""


def broadcast_tape(
    qfunc: Callable[..., Any], inputs: Tensor, weights: Tensor, **kwargs: Any
) -> qml.tape.QuantumScript:
    """Record ``qfunc(inputs, weights)`` with a leading batch dimension on both.

    Templates that refuse broadcast weights (``qml.RandomLayers``) are recorded with one probe
    weight tensor whose entries are ``1000 + k``; every decomposed gate whose angle is a probe
    value then gets the batch of weight ``k`` instead.

    Args:
        qfunc: Quantum function ``qfunc(inputs, weights, **kwargs)``.
        inputs: Tensor ``(B, n_in)``.
        weights: Tensor ``(B, *weight_shape)``.
        **kwargs: Static keyword arguments of ``qfunc``.

    Returns:
        A tape of gates (templates decomposed) whose parameters carry the batch dimension.
    """
    try:
        tape = record_tape(qfunc, inputs, weights, **kwargs)
        return tape.copy(operations=[g for op in tape.operations for g in decompose_gates(op)])
    except ValueError:  # a template that refuses broadcast weights: record with probe weights
        pass
    flat = weights.reshape(weights.shape[0], -1)
    probe = (torch.arange(flat.shape[1], dtype=weights.dtype) + _PROBE_OFFSET).reshape(
        weights.shape[1:]
    )
    tape = record_tape(qfunc, inputs, probe, **kwargs)
    gates = []
    for gate in (g for op in tape.operations for g in decompose_gates(op)):
        params = list(gate.parameters)
        if len(params) == 1 and torch.as_tensor(params[0]).ndim == 0:
            index = float(params[0]) - _PROBE_OFFSET
            if index >= 0 and index == round(index) and int(index) < flat.shape[1]:
                gate = type(gate)(flat[:, int(index)], wires=gate.wires)
        gates.append(gate)
    return tape.copy(operations=gates)


def circuit_states(
    qfunc: Callable[..., Any], inputs: Tensor, weights: Tensor, n_qubits: int, **kwargs: Any
) -> Tensor:
    """Final states of a circuit for a batch of ``(inputs, weights)`` pairs.

    Args:
        qfunc: Quantum function ``qfunc(inputs, weights, **kwargs)``.
        inputs: Tensor ``(B, n_in)``.
        weights: Tensor ``(B, *weight_shape)``.
        n_qubits: Number of wires.
        **kwargs: Static keyword arguments of ``qfunc``.

    Returns:
        Complex tensor ``(B, 2^n_qubits)``.
    """
    tape = broadcast_tape(qfunc, inputs, weights, **kwargs)
    return batched_states(tape, n_qubits, inputs.shape[0])


def circuit_outputs(
    qfunc: Callable[..., Any],
    inputs: Tensor,
    weights: Tensor,
    n_qubits: int,
    dtype: torch.dtype = torch.complex128,
    **kwargs: Any,
) -> Tensor:
    """Expectation values of a circuit for a batch of ``(inputs, weights)`` pairs.

    Args:
        qfunc: Quantum function ``qfunc(inputs, weights, **kwargs)`` returning expvals.
        inputs: Tensor ``(B, n_in)``.
        weights: Tensor ``(B, *weight_shape)``.
        n_qubits: Number of wires.
        dtype: Complex dtype of the simulation (complex64 halves time and memory).
        **kwargs: Static keyword arguments of ``qfunc``.

    Returns:
        Real tensor ``(B, n_outputs)``.
    """
    tape = broadcast_tape(qfunc, inputs, weights, **kwargs)
    state = batched_states(tape, n_qubits, inputs.shape[0], dtype)
    return torch.stack([expectation(state, m.obs, n_qubits) for m in tape.measurements], dim=-1)
