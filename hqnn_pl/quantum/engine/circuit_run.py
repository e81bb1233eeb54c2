"""Run a :class:`~hqnn_pl.quantum.engine.compile.CompiledCircuit`: state vector or density matrix.

The state of ``C`` circuits on ``S`` samples is a ``(C, S, 2^n)`` complex tensor (``C`` or ``S`` is
1 while nothing depends on them yet: the gates before the first input-dependent one run once per
circuit). Each call

* computes every gate parameter from the affine tables (one matmul per kind) and, for the rare
  entries that are not affine, the traced map under ``vmap``;
* builds each group of same-type gates' matrices in one call of PennyLane's ``compute_matrix``
  (broadcast over gates, circuits and samples);
* fuses runs of single-qubit gates on a wire into one ``2 x 2`` matrix, runs of fixed monomial
  gates (CNOT, CZ, SWAP, Toffoli, S, T, Paulis...) into one gather and phase, and applies every
  other gate with one ``einsum`` on its wires (any wires, adjacent or not);
* on the ``dense`` route, multiplies each input-independent run of the program into one
  ``2^n x 2^n`` unitary (applied to the batch in one matmul) where that is cheaper than applying
  its gates to every sample;
* reads ``<w>`` of every Pauli word ``w`` as ``Re Σ_i ψ_i^* φ_i ψ_{π(i)}`` (``w`` is a phase ``φ``
  times a permutation ``π``) or marginal probabilities.

With noise the state is the density matrix, a vector of ``2n`` qubits (row wires, then column
wires): a gate ``U`` is ``U`` on the row wires and ``U^*`` on the column wires, a channel is
``Σ K ⊗ K^*`` on (row, column) of its wire. Shots sample each qubit-wise commuting group of
measured words jointly from the rotated state (:func:`~hqnn_pl.quantum.engine.shots.
sample_counts`), with the gradient of the exact expectation.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np
import pennylane as qml
import torch
from torch import Tensor

from hqnn_pl.quantum.engine.circuit_shots import ShotsMixin
from hqnn_pl.quantum.engine.circuit_tables import (
    _const_tensor,
    _is_monomial,
    _monomial,
    _word,
)
from hqnn_pl.quantum.engine.compile import CompiledCircuit, CompiledOp

__all__ = ["CircuitProgram", "gate_parameters"]

_LETTERS = string.ascii_letters


def gate_parameters(cc: CompiledCircuit, x: Tensor, weights: list[Tensor]) -> dict[str, Tensor]:
    """Parameter vectors ``{"weights": (C, 1, Pw), "inputs": (C, B, Pi)}`` of one call.

    Args:
        cc: The compiled circuit.
        x: Inputs ``(C, B, n_inputs)``.
        weights: Each weight ``(C, *shape)``, in ``cc.weight_names`` order.

    Returns:
        The vectors (real, ``x``'s dtype).
    """
    real = x.dtype
    circuits = x.shape[0]
    flat_w = (
        torch.cat([w.reshape(circuits, -1) for w in weights], dim=1)
        if weights
        else (x.new_zeros(circuits, 0))
    )
    out = {}
    graph_out = None
    for kind in ("weights", "inputs"):
        a_x, a_w, b = (_const_tensor(id(t), t, x.device, real) for t in cc.affine[kind])
        vec = (flat_w @ a_w.T + b)[:, None, :]
        if kind == "inputs":
            vec = vec + x @ a_x.T
        if cc.nonaffine[kind]:
            if graph_out is None:
                graph_out = _graph_values(cc, x, weights)
            positions = torch.tensor([p for p, _, _ in cc.nonaffine[kind]], device=x.device)
            values = torch.stack(
                [graph_out[o][..., j] for _, o, j in cc.nonaffine[kind]], dim=-1
            ).to(real)
            if kind == "weights":
                values = values[:, :1]
            vec = vec.expand(*values.shape[:2], -1).index_copy(-1, positions, values)
        out[kind] = vec
    return out


def _graph_values(cc: CompiledCircuit, x: Tensor, weights: list[Tensor]) -> list[Tensor]:
    """The traced map under vmap over circuits and samples: flat ``(C, B, size)`` per output."""
    n_w = len(weights)
    inner = torch.func.vmap(cc.graph, in_dims=(0,) + (None,) * n_w)
    outer = torch.func.vmap(inner, in_dims=(0,) + (0,) * n_w)
    outs = outer(x.unsqueeze(2), *weights)
    circuits, batch = x.shape[:2]
    return [
        (o[:, :, 0] if b else o).reshape(circuits, batch, -1)
        for o, b in zip(outs, cc.batched_outputs, strict=True)
    ]


def _rot(phi: Tensor, theta: Tensor, omega: Tensor, cplx: torch.dtype) -> Tensor:
    """``Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ)`` in closed form: ``[[a, -b], [b*, a*]]``."""
    half, plus, minus = theta / 2, -(phi + omega) / 2, (phi - omega) / 2
    c, s = torch.cos(half), torch.sin(half)
    a = torch.complex(c * torch.cos(plus), c * torch.sin(plus)).to(cplx)
    b = torch.complex(s * torch.cos(minus), s * torch.sin(minus)).to(cplx)
    return torch.stack([a, -b, b.conj(), a.conj()], dim=-1).reshape(*a.shape, 2, 2)


class CircuitProgram(ShotsMixin):
    """The static execution plan of a compiled circuit, and its runs.

    Args:
        cc: The compiled circuit.
        density: Whether to simulate the density matrix (noise channels).
        readout: ``BitFlip`` probability on every measured wire before each measurement (as
            ``qml.add_noise`` does: one tape per measurement, the flips on its wires).
    """

    def __init__(self, cc: CompiledCircuit, density: bool = False, readout: float = 0.0) -> None:
        self.cc = cc
        self.density = density
        self.readout = readout
        flip = np.array([[0, 1], [1, 0]], complex)
        kraus = [np.sqrt(1 - readout) * np.eye(2), np.sqrt(readout) * flip]
        self._flip = sum(np.kron(k, k.conj()) for k in kraus)
        self.n = cc.n_qubits
        self.steps = self._plan(cc.ops)
        self.groups = self.parameter_groups(cc.ops)
        self._indices: dict[tuple[Any, ...], Any] = {}
        self._dense_index: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._words = {}
        for m in cc.measurements:
            for _, word, wires in m.words:
                self._words.setdefault((word, wires), _word(word, wires, self.n))

    # -- planning ---------------------------------------------------------------------------
    def _plan(self, ops: list[CompiledOp]) -> list[tuple[Any, ...]]:
        """Steps: ("one", wire, [op], kind), ("gate", op), ("mono", perm, phase), ("chan", op)."""
        steps: list[tuple[Any, ...]] = []
        pending: dict[int, list[int]] = {}
        rank = {"const": 0, "weights": 1, "inputs": 2}

        def flush(wires: tuple[int, ...]) -> None:
            for wire in wires:
                run = pending.pop(wire, None)
                if run:
                    kind = max((ops[i].kind for i in run), key=rank.__getitem__)
                    steps.append(("one", wire, run, kind))

        for index, op in enumerate(ops):
            if op.kind == "channel":
                flush(op.wires)
                steps.append(("chan", index))
            elif len(op.wires) == 1:
                pending.setdefault(op.wires[0], []).append(index)
            else:
                flush(op.wires)
                if op.kind == "const" and _is_monomial(op.matrix):
                    perm, phase = _monomial(op.matrix, op.wires, self.n)
                    if steps and steps[-1][0] == "mono":
                        _, perm0, phase0 = steps.pop()
                        perm, phase = perm0[perm], phase * phase0[perm]
                    steps.append(("mono", perm, phase))
                else:
                    steps.append(("gate", index))
        flush(tuple(sorted(pending)))
        return steps

    @staticmethod
    def parameter_groups(ops: list[CompiledOp]) -> dict[Any, list[int]]:
        """Parametrised ops whose matrices one call builds: ``{(type, hyper, kind, ...): ops}``."""
        groups: dict[Any, list[int]] = {}
        for index, op in enumerate(ops):
            if op.kind in ("weights", "inputs") and op.mode[0] == "generator":
                key = (None, "", op.kind, op.shapes, len(op.wires), "generator")
                groups.setdefault(key, []).append(index)  # every such type at once
            elif op.kind in ("weights", "inputs"):
                key = (op.op_type, repr(op.hyper), op.kind, op.shapes, len(op.wires), op.mode[0])
                groups.setdefault(key, []).append(index)
        return groups

    # -- matrices ---------------------------------------------------------------------------
    def matrices(self, params: dict[str, Tensor], cplx: torch.dtype) -> dict[int, Tensor]:
        """Matrices ``(C, L, d, d)`` of every parametrised op, one compute_matrix per group."""
        out: dict[int, Tensor] = {}
        for members in self.groups.values():
            mats = self.group_matrices(members, params, cplx)
            for g, i in enumerate(members):
                out[i] = mats[g]
        return out

    def op_matrix(self, index: int, params: dict[str, Tensor], cplx: torch.dtype) -> Tensor:
        """The matrix ``(C, L, d, d)`` of one parametrised op."""
        return self.group_matrices([index], params, cplx)[0]

    def group_matrices(
        self, members: list[int], params: dict[str, Tensor], cplx: torch.dtype
    ) -> Tensor:
        """Matrices ``(G, C, L, d, d)`` of ops of one group of :meth:`parameter_groups`."""
        first = self.cc.ops[members[0]]
        op_type, shapes = first.op_type, first.shapes
        vec = params[first.kind]
        lead = vec.shape[:2]
        args = []
        for k, shape in enumerate(shapes):
            table = self._index(members, k)
            idx = _const_tensor(id(table), table, vec.device, torch.long)
            values = vec.index_select(-1, idx).reshape(*lead, len(members), -1)
            values = values.movedim(2, 0).reshape(len(members) * lead.numel(), *shape)
            args.append(values)
        if first.mode[0] == "generator":  # V_g diag(e^{iθλ_g}) V_g^† of every gate g
            eig, basis = self._generators(members)
            eigvals = _const_tensor(id(eig), eig, vec.device, vec.dtype)
            vecs = _const_tensor(id(basis), basis, vec.device, cplx)
            angles = args[0].reshape(len(members), -1, 1)
            phases = torch.polar(torch.ones_like(angles), angles * eigvals[:, None])
            mats = (vecs[:, None] * phases[..., None, :]) @ vecs[:, None].mH
        elif op_type is qml.Rot:
            mats = _rot(*args, cplx)
        else:
            mats = op_type.compute_matrix(*args, **dict(first.hyper))
            mats = torch.as_tensor(mats).to(cplx)
        return mats.reshape(len(members), *lead, *mats.shape[-2:])

    def _generators(self, members: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Stacked eigenvalues ``(G, d)`` and eigenvectors ``(G, d, d)`` of the generators."""
        key = ("generators", tuple(members))
        if key not in self._indices:
            ops = [self.cc.ops[i] for i in members]
            self._indices[key] = (
                np.stack([np.asarray(op.mode[1], dtype=float) for op in ops]),
                np.stack([np.asarray(op.mode[2], dtype=complex) for op in ops]),
            )
        return self._indices[key]

    def _index(self, members: list[int], k: int) -> np.ndarray:
        """Flat indices of parameter ``k`` of ``members`` in their kind's vector (cached)."""
        key = (tuple(members), k)
        if key not in self._indices:
            entries = [self.cc.ops[i].entries[k] for i in members]
            self._indices[key] = np.asarray(entries, dtype=np.int64).reshape(-1)
        return self._indices[key]

    def _const(self, matrix: np.ndarray, device: torch.device, cplx: torch.dtype) -> Tensor:
        return _const_tensor(id(matrix), matrix, device, cplx)

    def _step_matrix(
        self, step: tuple[Any, ...], mats: dict[int, Tensor], device: torch.device,
        cplx: torch.dtype,
    ) -> Tensor:  # fmt: skip
        indices = step[2] if step[0] == "one" else [step[1]]
        total = None
        for i in indices:
            op = self.cc.ops[i]
            m = mats[i] if i in mats else self._const(op.matrix, device, cplx)[None, None]
            total = m if total is None else m @ total
        return total

    # -- application ------------------------------------------------------------------------
    def _apply(self, state: Tensor, matrix: Tensor, wires: tuple[int, ...], width: int) -> Tensor:
        """``matrix`` ``(Cm, Lm, d, d)`` on ``wires`` of ``state`` ``(C, S, 2^width)``."""
        k = len(wires)
        circuits, samples = state.shape[:2]
        q = _LETTERS[:width]
        outs = _LETTERS[width : width + k]
        lead_m, mshape = "", []
        if matrix.shape[0] > 1:
            lead_m += "Y"
            mshape.append(matrix.shape[0])
        if matrix.shape[1] > 1:
            lead_m += "Z"
            mshape.append(matrix.shape[1])
        mat = matrix.reshape(*mshape, *([2] * (2 * k)))
        ins = "".join(q[w] for w in wires)
        target = list(q)
        for w, o in zip(wires, outs, strict=True):
            target[w] = o
        spec = f"{lead_m}{outs}{ins},YZ{q}->YZ{''.join(target)}"
        view = state.reshape(circuits, samples, *([2] * width))
        result = torch.einsum(spec, mat, view)
        return result.reshape(result.shape[0], result.shape[1], -1)

    def _gate(self, state: Tensor, matrix: Tensor, wires: tuple[int, ...]) -> Tensor:
        apply = self._apply_one if len(wires) == 1 else self._apply
        if not self.density:
            return apply(state, matrix, wires, self.n)
        state = apply(state, matrix, wires, 2 * self.n)
        return apply(state, matrix.conj(), tuple(w + self.n for w in wires), 2 * self.n)

    @staticmethod
    def _apply_one(state: Tensor, matrix: Tensor, wires: tuple[int, ...], width: int) -> Tensor:
        """A ``2 x 2`` gate ``(Cm, Lm, 2, 2)`` elementwise on the two halves of its wire.

        Elementwise on the two halves (no tiny matmuls, no copies to bring the wire's axis
        last) except where a wire near the front leaves few long rows: there one broadcast
        matmul, measured faster forward and backward on one thread at batch 256 (an einsum
        for middle wires was faster forward only).
        """
        wire = wires[0]
        circuits, samples = state.shape[:2]
        left, right = 2**wire, 2 ** (width - wire - 1)
        view = state.view(circuits, samples, left, 2, right)
        if left <= 4 and right >= 16:  # few long rows: one broadcast matmul
            out = matrix.unsqueeze(2) @ view
            return out.reshape(out.shape[0], out.shape[1], -1)
        v0, v1 = view.unbind(3)
        m00, m01, m10, m11 = matrix.reshape(*matrix.shape[:2], 4, 1, 1).unbind(2)
        out = torch.stack([m00 * v0 + m01 * v1, m10 * v0 + m11 * v1], dim=3)
        return out.reshape(out.shape[0], out.shape[1], -1)

    def _mono(self, state: Tensor, perm: np.ndarray, phase: np.ndarray) -> Tensor:
        """A monomial gate: ``(Uψ)_i = φ_i ψ_{π(i)}`` as one gather (both sides of rho)."""
        device, cplx = state.device, state.dtype
        if self.density:
            size = 2**self.n
            key = id(perm)
            if key not in self._dense_index:
                self._dense_index[key] = (
                    (perm[:, None] * size + perm[None, :]).reshape(-1),
                    (phase[:, None] * phase.conj()[None, :]).reshape(-1),
                )
            perm, phase = self._dense_index[key]
        p = _const_tensor(id(perm), perm, device, torch.long)
        ph = _const_tensor(id(phase), phase, device, cplx)
        return torch.gather(state, -1, p.expand(state.shape)) * ph

    def run(self, params: dict[str, Tensor], cplx: torch.dtype, batch: int, dense: bool) -> Tensor:
        """The final state ``(C, B, 2^n)`` (``2^{2n}`` for a density matrix).

        Args:
            params: From :func:`gate_parameters`.
            cplx: complex64 or complex128.
            batch: Samples per circuit.
            dense: Multiply input-independent runs into one unitary where that is cheaper.
        """
        device = params["inputs"].device
        mats = self.matrices(params, cplx)
        width = 2 * self.n if self.density else self.n
        state = torch.zeros(1, 1, 2**width, dtype=cplx, device=device)
        state[..., 0] = 1.0
        steps, i = self.steps, 0
        while i < len(steps):
            if dense and not self.density and state.shape[1] > 1:
                j = i
                while j < len(steps) and self._batchless(steps[j]):
                    j += 1
                size = 2**self.n
                if j - i >= 2 and size * (j - i + size) <= 2 * (j - i) * state.shape[1]:
                    eye = torch.eye(size, dtype=cplx, device=device)[None]
                    for step in steps[i:j]:
                        eye = self._step(eye, step, mats)
                    state = state @ eye  # rows of eye are U e_j: ψ U^T
                    i = j
                    continue
            state = self._step(state, steps[i], mats)
            i += 1
        return state.expand(state.shape[0], batch, -1) if state.shape[1] == 1 else state

    def _batchless(self, step: tuple[Any, ...]) -> bool:
        if step[0] == "mono":
            return True
        if step[0] == "one":
            return step[3] != "inputs"
        return step[0] == "gate" and self.cc.ops[step[1]].kind != "inputs"

    def _step(self, state: Tensor, step: tuple[Any, ...], mats: dict[int, Tensor]) -> Tensor:
        kind = step[0]
        if kind == "mono":
            return self._mono(state, step[1], step[2])
        if kind == "chan":
            op = self.cc.ops[step[1]]
            superop = self._const(op.matrix, state.device, state.dtype)[None, None]
            return self._apply(state, superop, (op.wires[0], op.wires[0] + self.n), 2 * self.n)
        matrix = self._step_matrix(step, mats, state.device, state.dtype)
        wires = (step[1],) if kind == "one" else self.cc.ops[step[1]].wires
        return self._gate(state, matrix, wires)

    # -- measurement ------------------------------------------------------------------------
    def probabilities(self, state: Tensor) -> Tensor:
        """``(C, B, 2^n)`` outcome probabilities of a state vector or density matrix."""
        if not self.density:  # (a strided sum over view_as_real's last axis is 6x slower)
            return state.real.square() + state.imag.square()
        size = 2**self.n
        return state.reshape(*state.shape[:2], size, size).diagonal(dim1=-2, dim2=-1).real

    def word_value(self, state: Tensor, word: str, wires: tuple[int, ...]) -> Tensor:
        """``<w>`` ``(C, B)`` of the Pauli word ``word`` on ``wires``."""
        perm, phase = self._words[(word, wires)]
        device = state.device
        if set(word) <= {"I", "Z"}:
            return self.probabilities(state) @ _const_tensor(
                id(phase), phase, device, state.real.dtype if state.is_complex() else state.dtype
            )
        p = _const_tensor(id(perm), perm, device, torch.long)
        ph = _const_tensor(id(phase), phase, device, state.dtype)
        if not self.density:
            gathered = torch.gather(state, -1, p.expand(state.shape))
            return (state.conj() * ph * gathered).sum(-1).real
        size = 2**self.n
        flat = p * size + torch.arange(size, device=device)
        return (state.index_select(-1, flat) * ph).sum(-1).real

    def measure(self, state: Tensor) -> Tensor:
        """Exact outputs ``(C, B, n_outputs)`` in the order the circuit returns them."""
        outs = []
        probs = None
        for m in self.cc.measurements:
            flipped = self._read(state, m)
            if m.kind == "probs":
                if flipped is state:
                    probs = self.probabilities(state) if probs is None else probs
                    outs.append(self._marginal(probs, m.wires))
                else:
                    outs.append(self._marginal(self.probabilities(flipped), m.wires))
            else:
                value = sum(c * self.word_value(flipped, w, ws) for c, w, ws in m.words)
                outs.append(torch.as_tensor(value).expand(state.shape[:2])[..., None])
        return torch.cat(outs, dim=-1)

    def _read(self, state: Tensor, m: Any) -> Tensor:
        """The state after the readout flips of measurement ``m`` (the state itself if none)."""
        if not self.readout or not self.density:
            return state
        wires = m.wires if m.kind == "probs" else sorted({w for _, _, ws in m.words for w in ws})
        superop = self._const(self._flip, state.device, state.dtype)[None, None]
        for wire in wires:
            state = self._apply(state, superop, (wire, wire + self.n), 2 * self.n)
        return state

    def _marginal(self, probs: Tensor, wires: tuple[int, ...]) -> Tensor:
        view = probs.reshape(*probs.shape[:2], *([2] * self.n))
        others = [2 + w for w in range(self.n) if w not in wires]
        view = view.sum(others) if others else view
        kept = sorted(wires)
        view = view.permute(0, 1, *[2 + kept.index(w) for w in wires])
        return view.reshape(*probs.shape[:2], -1)
