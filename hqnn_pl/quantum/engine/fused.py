"""The ``fused`` route: a compiled circuit's gates fused into blocks, inputs as diagonal layers.

The gate-wise program (:mod:`~hqnn_pl.quantum.engine.circuit_run`) spends a few torch
operations per gate, forward and backward; below about 8 qubits their fixed cost dominates and
from 9 qubits every gate streams the state through memory a few times. This program plans a
circuit once (per structure) into far fewer, larger steps, in the spirit of qsim's and
qulacs' gate fusion:

* **Inputs become diagonal layers.** A gate ``exp(iθ G)`` whose angle depends on the inputs is
  ``V D(θ) V^†`` with ``V`` the fixed eigenbasis of its generator and ``D`` diagonal (``Rot``
  is split into its three rotations first). The fixed ``V`` and ``V^†`` join the weight-only
  gates around them; the diagonal parts of consecutive input gates commute (and pass any gate
  block-diagonal on their wires, such as a CNOT's control or a CZ), so a whole layer of them
  (an angle embedding, a re-uploading layer) is one per-sample phase vector ``exp(i Θ(x) Λ)``,
  computed on a few qubits at a time (:func:`_chunks`) and multiplied into the state once.
* **Everything else fuses into blocks** of at most ``k`` wires (greedy, qsim-style: a gate joins
  the open blocks on its wires while their wires number at most ``k``). A block's matrix is the
  product of its gates embedded in its ``2^k``-dimensional space, built per circuit (it depends
  on weights only) for all blocks at once: one gather into a padded ``(blocks, gates, d, d)``
  stack and a pairwise tree of batched matmuls, ``log2(gates)`` deep.
* **Blocks apply as one matmul without copies.** The state is ``(C, 2^n, S)`` with its qubit
  axes in a planned order, so a block on consecutive axes is one ``(d, d) @ (d, rest)`` product;
  one permute brings a block's wires together where they are not, placed so that the next
  blocks' wires stay together as well.
* **The evolution is one autograd node** with a written-out adjoint backward
  (:mod:`~hqnn_pl.quantum.engine.fused_evolve`).

Input-dependent gates with no single-parameter generator (``U3``, ``U2``) run alone as
per-sample matrices. ``k`` is chosen per circuit by a cost model
(:func:`choose_block_qubits`). Everything is exact: the tests hold this route to
``default.qubit`` at 1e-10 in float64.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pennylane as qml
import torch
from torch import Tensor

from hqnn_pl.quantum.engine.circuit_run import CircuitProgram
from hqnn_pl.quantum.engine.circuit_tables import _bits, _const_tensor
from hqnn_pl.quantum.engine.compile import CompiledCircuit
from hqnn_pl.quantum.engine.fused_evolve import evolve

__all__ = ["FusedProgram", "choose_block_qubits"]

_RZ = (np.array([-0.5, 0.5]), np.eye(2, dtype=complex))
_Y = np.array([[0, -1j], [1j, 0]])
_RY = np.linalg.eigh(-0.5 * _Y)
_ROT_PARTS = [(0, *_RZ), (1, _RY[0], _RY[1].astype(complex)), (2, *_RZ)]
"""``Rot(φ, θ, ω) = RZ(ω) RY(θ) RZ(φ)``: (parameter, eigenvalues, eigenvectors) in time order;
a gate ``exp(iθG)`` is ``V diag(e^{iθλ}) V^†`` as :meth:`CircuitProgram.matrices` builds it."""


@dataclasses.dataclass(eq=False)
class _Gate:
    """One gate of the fused program: a fixed or per-circuit matrix, a diagonal or a sample op.

    Attributes:
        kind: ``"mat"`` (fixed or per-circuit matrix), ``"diag"`` (per-sample phases
            ``e^{iθλ}``) or ``"sample"`` (a per-sample matrix that runs alone).
        wires: Its wires, in the order of its matrix's tensor factors.
        op: Index into ``cc.ops`` (``"mat"`` gates with a per-circuit matrix, ``"sample"``).
        matrix: The fixed matrix of a ``"mat"`` gate (None when it is per-circuit).
        entry: Index of a ``"diag"`` gate's angle in the inputs' parameter vector.
        eigvals: A ``"diag"`` gate's ``λ``.
        keeps: Wires on which the gate is block-diagonal (it commutes with any diagonal there).
    """

    kind: str
    wires: tuple[int, ...]
    op: int = -1
    matrix: np.ndarray | None = None
    entry: int = -1
    eigvals: np.ndarray | None = None
    keeps: frozenset[int] = frozenset()


def _keeps(matrix: np.ndarray, wires: tuple[int, ...]) -> frozenset[int]:
    """The wires of ``wires`` whose basis states ``matrix`` never mixes."""
    bits = _bits(len(wires))
    nonzero = np.abs(matrix) > 1e-12
    return frozenset(
        w for p, w in enumerate(wires)
        if not np.any(nonzero & (bits[:, None, p] != bits[None, :, p]))
    )  # fmt: skip


def _split(cc: CompiledCircuit) -> list[_Gate]:
    """The circuit's ops as fused-program gates (input generator gates split into V, D, V^†)."""
    gates: list[_Gate] = []
    for index, op in enumerate(cc.ops):
        if op.kind == "channel":
            raise ValueError("the fused route runs state vectors only")
        if op.kind != "inputs":
            if op.matrix is not None:
                keeps = _keeps(op.matrix, op.wires)
            elif op.mode[0] == "generator":  # exp(iθG) keeps what G keeps
                basis = np.asarray(op.mode[2], complex)
                generator = (basis * np.asarray(op.mode[1])) @ basis.conj().T
                keeps = _keeps(generator, op.wires)
            else:
                keeps = frozenset()
            gates.append(_Gate("mat", op.wires, op=index, matrix=op.matrix, keeps=keeps))
            continue
        if op.mode[0] == "generator":
            parts = [(0, np.asarray(op.mode[1], float), np.asarray(op.mode[2], complex))]
        elif op.op_type is qml.Rot:
            parts = _ROT_PARTS
        else:
            gates.append(_Gate("sample", op.wires, op=index))
            continue
        for param, eigvals, basis in parts:
            identity = np.allclose(basis, np.eye(len(basis)), atol=1e-14)
            if not identity:
                adjoint = basis.conj().T
                gates.append(_Gate("mat", op.wires, matrix=adjoint,
                                   keeps=_keeps(adjoint, op.wires)))  # fmt: skip
            gates.append(_Gate("diag", op.wires, entry=op.entries[param][0], eigvals=eigvals))
            if not identity:
                gates.append(_Gate("mat", op.wires, matrix=basis, keeps=_keeps(basis, op.wires)))
    return gates


@dataclasses.dataclass(eq=False)
class _Block:
    wires: set[int]
    gates: list[_Gate]
    after_layer: bool = False  # holds a gate that must follow the pending phase layer


def _fuse(gates: list[_Gate], n: int, k: int) -> list[Any]:
    """Greedy fusion into blocks of at most ``k`` wires, diagonal layers and sample gates.

    Diagonal gates collect in a pending layer until one of them cannot join it. A gate joins
    the open blocks on its wires while their wires, with its own, number at most ``k`` (else
    those blocks close and it opens one); a block holding a gate that mixes a wire of the
    pending layer (a gate block-diagonal there commutes with it) is marked to follow the
    layer, so closing it, or a diagonal gate on its wires, emits the layer first. Blocks
    without the mark close before the layer.

    Returns:
        ``_Block``, ``("diag", gates)`` and ``("sample", gate)`` items in an order equivalent
        to the circuit's.
    """
    out: list[Any] = []
    open_blocks: dict[int, _Block] = {}  # wire -> its open block
    layer: list[_Gate] = []
    layer_wires: set[int] = set()

    def touching(wires: Any) -> list[_Block]:
        return list({id(open_blocks[w]): open_blocks[w] for w in wires if w in open_blocks}
                    .values())  # fmt: skip

    def flush() -> None:
        nonlocal layer, layer_wires
        if layer:
            out.append(("diag", layer))
            layer, layer_wires = [], set()
            for block in open_blocks.values():
                block.after_layer = False

    def close(blocks: list[_Block]) -> None:
        if any(b.after_layer for b in blocks):
            flush()
        for block in blocks:
            out.append(block)
            for w in block.wires:
                del open_blocks[w]

    for gate in gates:
        blocks = touching(gate.wires)
        if gate.kind == "diag":
            if any(b.after_layer for b in blocks):
                flush()
            close(blocks)
            layer.append(gate)
            layer_wires.update(gate.wires)
            continue
        after = bool(layer_wires.intersection(gate.wires) - gate.keeps)
        if gate.kind == "sample":
            if after:
                flush()
            close(blocks)
            out.append(("sample", gate))
            continue
        union = set(gate.wires).union(*(b.wires for b in blocks))
        if blocks and len(union) <= k:
            block = _Block(union, [g for b in blocks for g in b.gates] + [gate],
                           after or any(b.after_layer for b in blocks))  # fmt: skip
        else:
            close(blocks)
            block = _Block(set(gate.wires), [gate], after)
        for w in block.wires:
            open_blocks[w] = block
    flush()
    close(touching(range(n)))
    return out


def _embed(gate_wires: tuple[int, ...], order: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Where a gate's ``(dg, dg)`` entries land in its block's ``(d, d)`` matrix.

    Returns:
        ``(local, mask)``: for every block entry ``(i, j)`` the flat index into the gate's
        matrix, and whether it is non-zero (the other wires' bits of ``i`` and ``j`` agree).
    """
    kb = len(order)
    bits = _bits(kb)  # (d, kb), most significant first
    pos = [order.index(w) for w in gate_wires]
    others = [p for p in range(kb) if p not in pos]
    weights = 1 << np.arange(len(pos) - 1, -1, -1)
    local = (bits[:, pos] * weights).sum(1)
    flat = local[:, None] * 2 ** len(pos) + local[None, :]
    mask = np.all(bits[:, None, others] == bits[None, :, others], axis=-1)
    return flat, mask


@dataclasses.dataclass
class _Chunk:
    """Consecutive qubit axes ``[start, stop)`` of a diagonal layer and its gates' phases."""

    start: int
    stop: int
    entries: np.ndarray  # angles' indices in the inputs vector (G,)
    table: np.ndarray  # Λ^T (2^(stop-start), G): eigenvalue of each gate at each basis state


def _chunks(layer: list[_Gate], layout: list[int], span: int) -> list[_Chunk]:
    """Split a diagonal layer into chunks of consecutive axes, each at most ``span`` wide.

    Gates whose axes overlap share a chunk (which may then be wider); chunks are small enough
    that ``e^{iΘλ}`` is computed on ``2^span`` entries per sample, not on the whole state.
    """
    axis = {w: a for a, w in enumerate(layout)}
    spans = sorted(((min(axis[w] for w in g.wires), max(axis[w] for w in g.wires) + 1, g)
                    for g in layer), key=lambda t: (t[0], t[1]))  # fmt: skip
    groups: list[list[Any]] = []
    for start, stop, gate in spans:
        if groups and (start < groups[-1][1] or max(stop, groups[-1][1]) - groups[-1][0] <= span):
            groups[-1][1] = max(groups[-1][1], stop)
            groups[-1][2].append(gate)
        else:
            groups.append([start, stop, [gate]])
    chunks = []
    for start, stop, gates in groups:
        bits = _bits(stop - start)
        rows = []
        for g in gates:
            cols = [axis[w] - start for w in g.wires]
            weights = 1 << np.arange(len(cols) - 1, -1, -1)
            rows.append(g.eigvals[(bits[:, cols] * weights).sum(1)])
        entries = np.array([g.entry for g in gates], dtype=np.int64)
        chunks.append(_Chunk(start, stop, entries, np.ascontiguousarray(np.stack(rows).T)))
    return chunks


_LOOKAHEAD = 6
"""Blocks ahead that the placement of a permuted block keeps consecutive where it can."""


def _contiguity(layout: list[int], upcoming: list[set[int]]) -> float:
    """How many of the ``upcoming`` wire sets lie on consecutive axes, the nearest weighing most."""
    axis = {w: a for a, w in enumerate(layout)}
    score = 0.0
    for distance, wires in enumerate(upcoming):
        positions = [axis[w] for w in wires]
        if max(positions) - min(positions) == len(wires) - 1:
            score += 0.8**distance
        else:
            break  # that block will permute anyway; what follows depends on how
    return score


@dataclasses.dataclass
class _Step:
    """One step of the run: a permute of the qubit axes, a block, a sample gate or a layer."""

    kind: str  # "permute", "block", "sample", "diag"
    axes: tuple[int, ...] = ()  # permute: the new order of the qubit axes
    start: int = 0  # block/sample: its first qubit axis
    size: int = 0  # block: d
    index: int = 0  # block: index among blocks of its size; diag: layer; sample: op index


class FusedProgram:
    """A compiled circuit planned for the ``fused`` route (see the module docstring).

    The state is ``(C, 2^n, S)``: circuits, the qubit axes in the planned order, samples last,
    so that a block on any consecutive qubit axes is one ``(d, d) @ (d, rest)`` product.

    Args:
        cc: The compiled circuit (state vector: no channels).
        block_qubits: ``k``, the most wires a fused block spans (None: the cost model's).
    """

    def __init__(self, cc: CompiledCircuit, block_qubits: int | None = None) -> None:
        self.cc = cc
        self.n = cc.n_qubits
        gates = _split(cc)
        self.block_qubits = block_qubits or choose_block_qubits(gates, self.n)
        self.phase_span = self.n if self.n <= 6 else (self.n + 1) // 2
        self._plan(_fuse(gates, self.n, self.block_qubits))
        self._pool_plan()

    # -- planning ---------------------------------------------------------------------------
    def _plan(self, items: list[Any]) -> None:
        layout = list(range(self.n))
        self.steps: list[_Step] = []
        self._blocks: dict[int, list[tuple[list[int], list[_Gate]]]] = {}  # d -> (order, gates)
        self.layers: list[list[_Chunk]] = []
        upcoming = [set(i.wires) if isinstance(i, _Block) else set(i[1].wires)
                    for i in items if isinstance(i, _Block) or i[0] == "sample"]  # fmt: skip
        for item in items:
            if isinstance(item, _Block) or item[0] == "sample":
                upcoming.pop(0)
            if isinstance(item, _Block):
                layout, start = self._place(layout, item.wires, None, upcoming)
                order = layout[start : start + len(item.wires)]
                group = self._blocks.setdefault(2 ** len(order), [])
                group.append((order, item.gates))
                self.steps.append(_Step("block", start=start, size=2 ** len(order),
                                        index=len(group) - 1))  # fmt: skip
            elif item[0] == "diag":
                self.layers.append(_chunks(item[1], layout, self.phase_span))
                self.steps.append(_Step("diag", index=len(self.layers) - 1))
            else:  # ("sample", gate): its wires consecutive, in its matrix's order
                gate = item[1]
                layout, start = self._place(layout, set(gate.wires), gate.wires, upcoming)
                self.steps.append(_Step("sample", start=start, index=gate.op))
        self.final_axes = tuple(layout.index(w) for w in range(self.n))
        self.n_blocks = sum(len(g) for g in self._blocks.values())
        self.n_permutes = sum(s.kind == "permute" for s in self.steps)

    def _place(self, layout: list[int], wires: set[int], order: tuple[int, ...] | None,
               upcoming: list[set[int]]) -> tuple[list[int], int]:  # fmt: skip
        """Make ``wires`` consecutive axes (in ``order`` if given); returns layout and start.

        Where they are not, one permute moves them together, to the position (of all
        ``n - k + 1``) that leaves the most of the next few blocks consecutive as well.
        """
        positions = sorted(layout.index(w) for w in wires)
        start = positions[0]
        if positions[-1] - start == len(wires) - 1 and (
            order is None or tuple(layout[start : start + len(order)]) == order
        ):
            return layout, start
        moved = list(order) if order is not None else [layout[p] for p in positions]
        rest = [w for w in layout if w not in wires]
        best, best_score = None, -1.0
        for at in range(len(rest) + 1):
            new = rest[:at] + moved + rest[at:]
            score = _contiguity(new, upcoming[:_LOOKAHEAD]) - 1e-3 * abs(at - start)
            if score > best_score:
                best, best_score = (new, at), score
        new, at = best
        self.steps.append(_Step("permute", axes=tuple(layout.index(w) for w in new)))
        return new, at

    def _pool_plan(self) -> None:
        """Lay out the per-circuit matrix pool and each block size's gather table."""
        ops = self.cc.ops
        fixed: list[np.ndarray] = [np.array([0.0, 1.0], complex)]  # pool[0] = 0, pool[1] = 1
        at: dict[Any, int] = {}
        offset = 2
        used: set[int] = set()
        for group in self._blocks.values():
            for _, gates in group:
                for g in gates:
                    if g.matrix is None:
                        used.add(g.op)
                    elif id(g) not in at:
                        at[id(g)] = offset
                        fixed.append(np.asarray(g.matrix, complex).reshape(-1))
                        offset += g.matrix.size
        self._fixed_pool = np.concatenate(fixed)
        self._weight_groups = [  # per-circuit matrices, grouped as CircuitProgram groups them
            [i for i in members if i in used]
            for (_, _, kind, *_), members in CircuitProgram.parameter_groups(ops).items()
            if kind == "weights" and used.intersection(members)
        ]
        for members in self._weight_groups:
            for i in members:
                at[("op", i)] = offset
                offset += 4 ** len(ops[i].wires)
        self.pool_size = offset
        self._tables: dict[int, np.ndarray] = {}
        for d, group in self._blocks.items():
            longest = max(len(gates) for _, gates in group)
            depth = 1 << (longest - 1).bit_length()  # padded to a power of two with identities
            table = np.zeros((len(group), depth, d, d), dtype=np.int64)
            table[:, :, np.arange(d), np.arange(d)] = 1
            for b, (order, gates) in enumerate(group):
                for m, g in enumerate(gates):
                    start = at[id(g)] if g.matrix is not None else at[("op", g.op)]
                    flat, mask = _embed(g.wires, order)
                    table[b, m] = np.where(mask, start + flat, 0)
            self._tables[d] = table

    # -- running ----------------------------------------------------------------------------
    def _pool(self, program: CircuitProgram, params: dict[str, Tensor], cplx: torch.dtype
              ) -> Tensor:  # fmt: skip
        """``(C, pool_size)``: the fixed entries, then every per-circuit gate matrix."""
        vec = params["weights"]
        circuits = vec.shape[0]
        fixed = _const_tensor(id(self._fixed_pool), self._fixed_pool, vec.device, cplx)
        parts = [fixed.expand(circuits, -1)]
        for members in self._weight_groups:
            mats = program.group_matrices(members, params, cplx)  # (G, C, 1, dg, dg)
            parts.append(mats.movedim(0, 1).reshape(circuits, -1))
        return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]

    def block_matrices(self, program: CircuitProgram, params: dict[str, Tensor],
                       cplx: torch.dtype) -> dict[int, Tensor]:  # fmt: skip
        """Every block's matrix, ``{d: (C, blocks, d, d)}``: a gather and a tree of products."""
        pool = self._pool(program, params, cplx)
        out = {}
        for d, table in self._tables.items():
            idx = _const_tensor(id(table), table, pool.device, torch.long)
            stack = pool[:, idx]  # (C, blocks, depth, d, d)
            while stack.shape[2] > 1:
                stack = stack[:, :, 1::2] @ stack[:, :, 0::2]
            out[d] = stack[:, :, 0]
        return out

    def run(self, program: CircuitProgram, params: dict[str, Tensor], cplx: torch.dtype,
            batch: int) -> Tensor:  # fmt: skip
        """The final state ``(C, B, 2^n)`` in wire order (as :meth:`CircuitProgram.run`)."""
        n = self.n
        angles = params["inputs"].transpose(1, 2)  # (C, P, S)
        blocks = self.block_matrices(program, params, cplx)
        samples = {s.index: program.op_matrix(s.index, params, cplx)
                   for s in self.steps if s.kind == "sample"}  # fmt: skip
        circuits = params["weights"].shape[0]
        initial = torch.zeros(circuits, 2**n, 1, dtype=cplx, device=angles.device)
        initial[:, 0] = 1.0
        state = evolve(self, angles, blocks, samples, initial)
        c, s = state.shape[0], state.shape[-1]
        view = state.view(c, *([2] * n), s)
        state = view.permute(0, n + 1, *(1 + a for a in self.final_axes)).reshape(c, s, 2**n)
        return state.expand(c, batch, -1) if s == 1 else state


def choose_block_qubits(gates: list[_Gate], n: int) -> int:
    """The block size ``k`` (1 to 6) with the least modelled cost of a call.

    The model, roughly in microseconds at batch 256 on one CPU thread: every step has a fixed
    cost (60 for a block, 80 for a phase layer or per-sample gate, forward and backward); a
    block's product streams the state with work growing with ``d = 2^k``; building a block
    costs ``d^3`` per gate. Larger blocks mean fewer steps but more arithmetic per step.
    """
    best, best_cost = 1, float("inf")
    for k in range(1, min(n, 6) + 1):
        cost = 0.0
        for item in _fuse(gates, n, k):
            if isinstance(item, _Block):
                d = 2 ** len(item.wires)
                cost += 60 + 2**n * (4 + d) * 0.01 + len(item.gates) * d**3 * 0.001
            else:
                cost += 80 + 2**n * 6 * 0.01
        if cost < best_cost:
            best, best_cost = k, cost
    return best
