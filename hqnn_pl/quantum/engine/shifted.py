"""The dense method for few qubits: the weights' gradient from shifted unitaries, not autograd.

Every trainable angle ``a`` of a circuit enters through one gate ``exp(-i a G / 2)`` with
``G^2 = I`` (the ``RZ RY RZ`` of a ``Rot``), and the circuit's unitary is linear in that gate, so

    dU/da = U(a + π) / 2        exactly.

For a circuit of ``P`` angles the forward pass therefore builds ``P + 1`` unitaries in one batched,
autograd-free call (``U`` and ``U`` with each angle shifted by π), and the backward pass gets
every weight's gradient from one contraction of the output gradient with those unitaries. For
few qubits this replaces the ~200 small PyTorch calls that autograd records through the gate
matrices, Kronecker products and layer chain (the cost that made one 2-qubit circuit slower than
an XLA-compiled peer) by a few dozen; its arithmetic grows as ``P 8^n``, so
:func:`use_shifted` keeps it to small circuits. Outputs and gradients are the dense method's to
rounding; under ``create_graph`` (higher derivatives) the backward pass re-runs the plain
autograd computation instead. On CPU the NumPy paths (:mod:`~.host_readout`,
:mod:`~.host_unitary`) are faster still and take these sizes; this method serves other devices
and ``torch.compile``, which cannot trace them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import Tensor

from hqnn_pl.quantum.engine.dense import squared_amplitudes, stacked_real
from hqnn_pl.quantum.engine.tables import _normal_tensors

__all__ = ["SHIFTED_MAX_WORK", "shifted_readout", "use_shifted"]

SHIFTED_MAX_WORK = 2**14
"""Largest ``(P + 1) x 2^(2n)`` (unitaries times entries) built per circuit by this method."""

UnitaryBuilder = Callable[[Tensor], Tensor]
"""Weights ``(K, C, *W)`` -> unitaries ``(K, C, N, N)`` (a layer's own gate layout)."""


def use_shifted(n_qubits: int, weights_per_circuit: int) -> bool:
    """Whether :func:`shifted_readout` is the cheaper dense computation for this circuit size.

    Args:
        n_qubits: Qubits per circuit.
        weights_per_circuit: Trainable angles per circuit.

    Returns:
        True when the ``P + 1`` shifted unitaries hold at most :data:`SHIFTED_MAX_WORK`
        entries: 2 to 4 qubits at StronglyEntanglingLayers' depths (measured on a 2-core CPU,
        1 thread, batch 256: 30% faster at 2 qubits, 8% at 4, slower from 5).
    """
    return (weights_per_circuit + 1) * 4**n_qubits <= SHIFTED_MAX_WORK


@functools.lru_cache(maxsize=32)
def _shifts(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(P + 1, 1, *shape)``: no shift, then π on each of the ``P`` angles in turn."""
    n_params = math.prod(shape)
    with _normal_tensors():
        eye = torch.eye(n_params, dtype=dtype, device=device) * math.pi
        return torch.cat([torch.zeros_like(eye[:1]), eye]).reshape(n_params + 1, 1, *shape)


def _readout(build: UnitaryBuilder, states: Tensor, weights: Tensor, readout: Tensor) -> Tensor:
    """The plain (autograd) computation: ``readout @ ([Re U; Im U] ψ)^2``."""
    unitary = build(weights[None])[0]
    return readout @ squared_amplitudes(stacked_real(unitary), states)


class _ShiftedReadout(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx,
        states: Tensor,
        weights: Tensor,
        build: UnitaryBuilder,
        readout: Tensor,
    ) -> Tensor:
        shifts = _shifts(tuple(weights.shape[1:]), weights.dtype, weights.device)
        stacked = stacked_real(build(weights[None] + shifts))  # (P + 1, C, 2N, N)
        amplitudes = stacked[0] @ states  # (C, 2N, B)
        ctx.build = build
        ctx.save_for_backward(states, weights, readout, stacked, amplitudes)
        return readout @ amplitudes.square()

    @staticmethod
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor | None, Tensor | None, None, None]:
        states, weights, readout, stacked, amplitudes = ctx.saved_tensors
        need_states, need_weights = ctx.needs_input_grad[:2]
        if torch.is_grad_enabled():  # create_graph: differentiate the plain computation
            wanted = [t for t, need in ((states, need_states), (weights, need_weights)) if need]
            out = _readout(ctx.build, states, weights, readout)
            found = iter(torch.autograd.grad(out, wanted, grad, create_graph=True))
            return (
                next(found) if need_states else None,
                next(found) if need_weights else None,
                None,
                None,
            )
        grad_amplitudes = 2 * amplitudes * (readout.mT @ grad)  # (C, 2N, B)
        grad_states = stacked[0].mT @ grad_amplitudes if need_states else None
        grad_weights = None
        if need_weights:
            grad_stacked = grad_amplitudes @ states.mT  # (C, 2N, N)
            # dL/da_k = <grad_stacked, d stacked / d a_k> = <grad_stacked, stacked[1 + k]> / 2
            shifted = stacked[1:].flatten(-2).transpose(0, 1)  # (C, P, 2N N)
            per_angle = shifted @ grad_stacked.flatten(-2).unsqueeze(-1)  # (C, P, 1)
            grad_weights = (per_angle / 2).reshape(weights.shape)
        return grad_states, grad_weights, None, None


def shifted_readout(
    build: UnitaryBuilder, states: Tensor, weights: Tensor, readout: Tensor
) -> Tensor:
    """``readout @ ([Re U; Im U] ψ)^2`` with ``U = build(weights)``, differentiated by shifts.

    Args:
        build: Maps weights ``(K, C, *W)`` to the circuits' unitaries ``(K, C, N, N)``; every
            weight must enter through one gate ``exp(-i a G / 2)`` with ``G^2 = I``.
        states: Real states ``(C, N, B)`` (batch last), differentiable.
        weights: Real weights ``(C, *W)``, one set per circuit.
        readout: Real matrix ``(M, 2N)``: ``[S; S]^T`` for ``<Z_j>`` of every wire.

    Returns:
        Real tensor ``(C, M, B)``.
    """
    return _ShiftedReadout.apply(states, weights, build, readout)
