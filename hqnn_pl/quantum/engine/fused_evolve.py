"""The state evolution of the ``fused`` route, one autograd node with a written-out backward.

:class:`~hqnn_pl.quantum.engine.fused.FusedProgram` plans a circuit into permutes of the qubit
axes, fused blocks, per-sample gates and diagonal phase layers; :func:`evolve` runs those steps
on a ``(C, 2^n, S)`` state without recording them (no view or product node per step) and keeps
each step's input state. Its backward walks the steps in reverse with the standard rules (torch
passes ``g = ∂L/∂ψ^*``): a block ``ψ' = Mψ`` gives ``∂M += g ψ^†`` and ``g ← M^† g``; a
per-sample gate the same per sample; a phase layer ``ψ' = ψ e^{iΘλ}`` gives ``∂θ_g = Σ_i
λ_g(i) Im(g_i ψ'^*_i)`` and ``g ← g e^{-iΘλ}``; a permute permutes ``g`` back. It carries
``h = g^*`` instead (``h ← M^T h``, ``∂M = (h ψ^T)^*``), so no state-sized tensor is ever
conjugated (a conjugate operand costs torch an extra pass). Where a step's input does not
depend on the sample yet (``S = 1``), ``g`` is first summed over samples. Under
``create_graph`` (higher derivatives) the backward pass re-runs the steps under autograd and
differentiates them instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from hqnn_pl.quantum.engine.circuit_tables import _const_tensor

if TYPE_CHECKING:
    from hqnn_pl.quantum.engine.fused import FusedProgram, _Chunk

__all__ = ["evolve"]


def evolve(program: FusedProgram, angles: Tensor, blocks: dict[int, Tensor],
           samples: dict[int, Tensor], initial: Tensor) -> Tensor:  # fmt: skip
    """Run ``program``'s steps from ``initial`` ``(C, 2^n, 1)``; returns ``(C, 2^n, S)``.

    Args:
        program: The plan.
        angles: The inputs' parameter vectors, ``(C, P, S)`` (real).
        blocks: Every block's matrix, ``{d: (C, blocks, d, d)}``.
        samples: Each per-sample gate's matrices, ``{op index: (C, S, d, d)}``.
        initial: The initial state (no gradient).
    """
    sizes, ops = sorted(blocks), sorted(samples)
    mats = (*(blocks[d] for d in sizes), *(samples[i] for i in ops))
    if not (torch.is_grad_enabled() and any(t.requires_grad for t in (angles, *mats))):
        return _run(program, sizes, ops, angles, initial, mats, _Discard(), {})  # inference
    return _Evolve.apply(program, sizes, ops, angles, initial, *mats)


class _Evolve(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, program: FusedProgram, sizes: list[int], ops: list[int],
                angles: Tensor, initial: Tensor, *mats: Tensor) -> Tensor:  # fmt: skip
        states: list[Tensor] = []
        phases: dict[int, Tensor] = {}
        state = _run(program, sizes, ops, angles, initial, mats, states, phases)
        if state is initial:
            state = initial.clone()
        ctx.program, ctx.sizes, ctx.ops = program, sizes, ops
        ctx.states, ctx.phases = states, phases  # intermediates: the output is saved below
        ctx.save_for_backward(angles, initial, state, *mats)
        return state

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        program, sizes, ops = ctx.program, ctx.sizes, ctx.ops
        angles, initial, output, *mats = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: differentiate the recorded computation
            needs = (ctx.needs_input_grad[3], *ctx.needs_input_grad[5:])
            wanted = [t for t, need in zip((angles, *mats), needs, strict=True) if need]
            out = _run(program, sizes, ops, angles, initial, mats, [], {})
            found = iter(
                torch.autograd.grad(
                    out, wanted, grad, create_graph=True, allow_unused=True, materialize_grads=True
                )
            )
            got = [next(found) if need else None for need in needs]
            return None, None, None, got[0], None, *got[1:]
        blocks = dict(zip(sizes, mats[: len(sizes)], strict=True))
        samples = dict(zip(ops, mats[len(sizes) :], strict=True))
        n, states = program.n, [*ctx.states, output]
        # The conjugate h = g^* runs backward without conjugating any state-sized tensor:
        # h <- M^T h, ∂M = (h ψ^T)^*, h <- h e^{iΘλ}, ∂θ = -Σ λ Im(h ψ').
        adj = grad.conj().resolve_conj()
        grad_blocks = {d: torch.zeros_like(m) for d, m in blocks.items()}
        grad_samples: dict[int, Tensor] = {}
        grad_angles = torch.zeros_like(angles) if ctx.needs_input_grad[3] else None
        for index in range(len(program.steps) - 1, -1, -1):
            step = program.steps[index]
            before, after = states[index], states[index + 1]
            if step.kind == "permute":
                adj = _permute(adj, _inverse(step.axes), n)
                continue
            if step.kind == "diag":
                chunks = program.layers[step.index]
                if grad_angles is not None:
                    _phase_grad(adj, after, chunks, grad_angles, n)
                adj = _times_phase(adj, ctx.phases[index], chunks, n)
            elif step.kind == "block":
                matrix = blocks[step.size][:, step.index]
                adj = _sum_samples(adj, before)
                c, d = adj.shape[0], step.size
                h = adj.reshape(c, 2**step.start, d, -1)
                psi = before.view(c, 2**step.start, d, -1)
                grad_blocks[step.size][:, step.index] += (h @ psi.mT).sum(1).conj()
                adj = (matrix.mT.unsqueeze(1) @ h).reshape(adj.shape)
            else:
                matrix = samples[step.index]
                adj = _sum_samples(adj, before)
                c, size, s = adj.shape
                d = matrix.shape[-1]
                h = adj.reshape(c, 2**step.start, d, size // (d * 2**step.start), s)
                psi = before.view(c, 2**step.start, d, size // (d * 2**step.start), s)
                part = torch.einsum("cairs,cajrs->csij", h, psi).conj()
                grad_samples[step.index] = grad_samples.get(step.index, 0) + part
                adj = torch.einsum("csji,cajrs->cairs", matrix, h).reshape(c, size, s)
        return (None, None, None, grad_angles, None,
                *(grad_blocks[d] for d in sizes), *(grad_samples[i] for i in ops))  # fmt: skip


class _Discard(list):
    """A list that keeps nothing: inference does not hold every step's state."""

    def append(self, item: Any) -> None:
        """Drop ``item``."""


def _run(program: FusedProgram, sizes: list[int], ops: list[int], angles: Tensor,
         initial: Tensor, mats: tuple[Tensor, ...], states: list[Tensor],
         phases: dict[int, Tensor]) -> Tensor:  # fmt: skip
    """The steps from ``initial``, keeping each step's input and each layer's phases."""
    blocks = dict(zip(sizes, mats[: len(sizes)], strict=True))
    samples = dict(zip(ops, mats[len(sizes) :], strict=True))
    state = initial
    for index, step in enumerate(program.steps):
        states.append(state)
        if step.kind == "permute":
            state = _permute(state, step.axes, program.n)
        elif step.kind == "diag":
            phase = phases[index] = _phase(program.layers[step.index], angles)
            state = _times_phase(state, phase, program.layers[step.index], program.n)
        elif step.kind == "block":
            state = _apply(state, blocks[step.size][:, step.index, None], step.start)
        else:
            state = _apply_sample(state, samples[step.index], step.start)
    return state


def _inverse(axes: tuple[int, ...]) -> tuple[int, ...]:
    out = [0] * len(axes)
    for position, axis in enumerate(axes):
        out[axis] = position
    return tuple(out)


def _sum_samples(grad: Tensor, before: Tensor) -> Tensor:
    """``grad`` summed over samples where the step's input does not depend on them yet."""
    if before.shape[-1] == 1 and grad.shape[-1] > 1:
        return grad.sum(-1, keepdim=True)
    return grad


def _permute(state: Tensor, axes: tuple[int, ...], n: int) -> Tensor:
    """The qubit axes of ``(C, 2^n, S)`` in the order ``axes``."""
    c, s = state.shape[0], state.shape[-1]
    view = state.reshape(c, *([2] * n), s)
    return view.permute(0, *(1 + a for a in axes), n + 1).reshape(c, 2**n, s)


def _phase(chunks: list[_Chunk], angles: Tensor) -> Tensor:
    """A layer's phases ``e^{iΘλ}`` over the axes its chunks span, ``(C, 2^span, S)``."""
    device, real = angles.device, angles.dtype
    phase, stop = None, chunks[0].start
    for chunk in chunks:
        idx = _const_tensor(id(chunk.entries), chunk.entries, device, torch.long)
        lam = _const_tensor(id(chunk.table), chunk.table, device, real)
        theta = lam @ angles.index_select(1, idx)  # (C, 2^width, S)
        part = torch.polar(torch.ones_like(theta), theta)
        if phase is None:
            phase = part
        else:  # the chunks so far, the free axes between, this chunk
            c, s = part.shape[0], part.shape[-1]
            gap = 2 ** (chunk.start - stop)
            phase = (phase.view(c, -1, 1, 1, s) * part.view(c, 1, 1, -1, s)).expand(
                -1, -1, gap, -1, -1).reshape(c, -1, s)  # fmt: skip
        stop = chunk.stop
    return phase


def _times_phase(state: Tensor, phase: Tensor, chunks: list[_Chunk], n: int) -> Tensor:
    """``state`` ``(C, 2^n, S)`` times a layer's phases ``(C, 2^span, S)`` on its axes."""
    first, last = chunks[0].start, chunks[-1].stop
    c, s = state.shape[0], state.shape[-1]
    view = state.reshape(c, 2**first, 2 ** (last - first), 2 ** (n - last), s)
    out = view * phase.unsqueeze(1).unsqueeze(-2)
    return out.reshape(out.shape[0], 2**n, out.shape[-1])


def _phase_grad(adj: Tensor, after: Tensor, chunks: list[_Chunk], out: Tensor, n: int) -> None:
    """Add ``∂θ_g = -Σ_i λ_g(i) Im(h_i ψ'_i)`` (``h = g^*``) into ``out`` ``(C, P, S)``."""
    first, last = chunks[0].start, chunks[-1].stop
    weight = -(adj * after).imag  # (C, 2^n, S)
    c, s = weight.shape[0], weight.shape[-1]
    span = weight.reshape(c, 2**first, 2 ** (last - first), 2 ** (n - last), s).sum((1, 3))
    for chunk in chunks:
        local = span.view(c, 2 ** (chunk.start - first), 2 ** (chunk.stop - chunk.start),
                          2 ** (last - chunk.stop), s).sum((1, 3))  # fmt: skip
        lam = _const_tensor(id(chunk.table), chunk.table, adj.device, out.dtype)
        part = lam.T @ local  # (C, G, S)
        idx = _const_tensor(id(chunk.entries), chunk.entries, adj.device, torch.long)
        if part.shape[-1] != out.shape[-1]:
            part = part.expand(-1, -1, out.shape[-1])
        out.index_add_(1, idx, part)


def _apply(state: Tensor, matrix: Tensor, start: int) -> Tensor:
    """``matrix`` ``(C, 1, d, d)`` on the qubit axes ``[start, start + log2 d)``."""
    c, size, s = state.shape
    d = matrix.shape[-1]
    out = matrix @ state.view(c, 2**start, d, size // (d * 2**start) * s)
    return out.view(c, size, s)


def _apply_sample(state: Tensor, matrix: Tensor, start: int) -> Tensor:
    """A per-sample ``matrix`` ``(C, S, d, d)`` on the axes ``[start, start + log2 d)``."""
    c, size, s = state.shape
    d = matrix.shape[-1]
    view = state.view(c, 2**start, d, size // (d * 2**start), s)
    out = torch.einsum("csij,cajrs->cairs", matrix, view)
    return out.reshape(c, size, out.shape[-1])
