"""Exact batched execution of a compiled, noisy device circuit in torch: :class:`DeviceExecutor`.

The circuit runs on the ``k`` physical qubits it uses (untouched qubits stay in ``|0>`` and,
without idle noise, do not matter). Each gate is its unitary followed by its noise channel (a
Liouville superoperator, :mod:`~.channels`); ``rz`` gates, whose angles carry the inputs and
weights, are diagonal phases. The work is split where the inputs stop mattering:

* each qubit's leading one-qubit gates (the embedding, before the qubit's first two-qubit gate)
  act on that qubit alone: ``2 x 2`` density matrices per sample, then one Kronecker product;
* further gates up to the last one whose angle depends on inputs evolve the batch's density
  matrices (Schrödinger picture);
* the rest, which depends on weights only, evolves the measured observables backwards
  (Heisenberg picture, ``E^†(O)``), once per call and not per sample: ``<Z_j>`` with the
  readout confusion folded in (``diag(C[0,b] - C[1,b])`` on the wire's final qubit), or the
  ``2^n`` outcome probabilities (shots, ``probs``) as diagonal projectors.

An amplitude embedding's state vector is the initial state (ideal state preparation). Outputs are
``Re Tr(O rho)``; autograd differentiates everything; float32 runs in complex64, float64 in
complex128.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from hqnn_pl.quantum.devices.compile import CompiledCircuit, DeviceOp

__all__ = ["DeviceExecutor"]


def _apply_superop(ops: Tensor, superop: Tensor, qubits: tuple[int, ...], k: int) -> Tensor:
    """``vec(X) -> S vec(X)`` on ``qubits`` of operators ``(..., D, D)`` on ``k`` qubits."""
    lead = ops.shape[:-2]
    m = len(qubits)
    tensor = ops.reshape(*lead, *([2] * (2 * k)))
    nl = len(lead)
    src = [nl + q for q in qubits] + [nl + k + q for q in qubits]
    dst = list(range(nl + 2 * k - 2 * m, nl + 2 * k))
    moved = torch.movedim(tensor, src, dst)
    shape = moved.shape
    flat = moved.reshape(*shape[: nl + 2 * k - 2 * m], 4**m) @ superop.transpose(0, 1)
    return torch.movedim(flat.reshape(shape), dst, src).reshape(ops.shape)


class DeviceExecutor:
    """Runs a :class:`~.compile.CompiledCircuit` on batches (see the module docstring).

    Args:
        compiled: The compiled circuit.
        probs: Return the ``2^n`` outcome probabilities instead of ``<Z_j>``.
    """

    def __init__(self, compiled: CompiledCircuit, probs: bool) -> None:
        self.compiled = compiled
        self.probs = probs
        self.k = k = len(compiled.physical)
        ops = compiled.ops
        self.prefix: list[list[DeviceOp]] = [[] for _ in range(k)]
        rest: list[DeviceOp] = []
        closed: set[int] = set()
        for op in ops:
            q = op.qubits[0]
            if not compiled.amplitude and len(op.qubits) == 1 and q not in closed:
                self.prefix[q].append(op)
            else:
                closed.update(op.qubits)
                rest.append(op)
        last = max((i for i, op in enumerate(rest) if op.uses_inputs), default=-1)
        self.forward_ops, self.backward_ops = rest[: last + 1], rest[last + 1 :]
        self._consts: dict[tuple, dict] = {}
        self._np = self._numpy_tables()
        self._plan_heisenberg()

    def _moved_order(self, qubits: tuple[int, ...]) -> np.ndarray:
        """Flat ``vec`` indices with ``qubits``' row and column bits moved last."""
        k = self.k
        rest = [q for q in range(k) if q not in qubits]
        order = rest + [k + q for q in rest] + list(qubits) + [k + q for q in qubits]
        return np.arange(4**k).reshape([2] * (2 * k)).transpose(order).reshape(-1)

    def _chain(self, ops: list[DeviceOp]) -> list[tuple[np.ndarray, int]]:
        """One qubit's run of gates as ``(K, r)`` steps: ``S <- P(theta_r) K S``.

        ``K`` is the product of the constant superoperators since the previous ``rz`` and
        ``r`` the index of that ``rz`` among the tail's (``-1``: none, the chain's end).
        """
        steps: list[tuple[np.ndarray, int]] = []
        pending = np.eye(4, dtype=complex)
        for op in ops:
            i = self._index(op)
            if op.unitary is not None:
                pending = self._np[f"s{i}"] @ pending
                continue
            steps.append((pending, self._rz.index(i)))
            pending = op.noise if op.noise is not None else np.eye(4, dtype=complex)
        steps.append((pending, -1))
        return steps

    def _plan_heisenberg(self) -> None:
        """Fuse the weight-only tail into blocks and plan their gathers.

        Each two-qubit gate absorbs the one-qubit gates before it on its two qubits (one
        ``16 x 16`` superoperator per circuit); the one-qubit gates after a qubit's last
        two-qubit gate form ``4 x 4`` blocks. All one-qubit chains are multiplied out together,
        step by step (a few batched products, not one per gate). The observables stay flat
        (``vec``, ``4^k`` entries) in the layout of the last block: each block's gather goes
        straight from the previous layout to its qubits moved last.
        """
        self._rz = [self._index(op) for op in self.backward_ops if op.unitary is None]
        rows = [self._np[f"c{i}"] for i in self._rz]
        n_all = self.compiled.n_inputs + self.compiled.n_weights
        self._np["rz_coeffs"] = np.array(rows).reshape(-1, n_all)[:, self.compiled.n_inputs :]
        self._np["rz_offsets"] = np.array([self.compiled.ops[i].offset for i in self._rz])
        pending: dict[int, list[DeviceOp]] = {}
        blocks: list[tuple[tuple[int, ...], list[int], np.ndarray | None]] = []
        chains: list[list[tuple[np.ndarray, int]]] = []

        def chain(ops: list[DeviceOp]) -> int:
            chains.append(self._chain(ops))
            return len(chains) - 1

        for op in self.backward_ops:
            if len(op.qubits) == 1:
                pending.setdefault(op.qubits[0], []).append(op)
                continue
            a, b = op.qubits
            ids = [chain(pending.pop(a, [])), chain(pending.pop(b, []))]
            blocks.append((op.qubits, ids, self._np[f"s{self._index(op)}"]))
        for q, ops in pending.items():
            blocks.append(((q,), [chain(ops)], None))
        length = max((len(c) for c in chains), default=0)
        eye = np.eye(4, dtype=complex)
        padded = [[(eye, -1)] * (length - len(c)) + c for c in chains]
        n_rz = len(self._rz)
        # Step s: K (n_chains, 4, 4) and the rz index (n_rz: no rz, phase ones).
        self._np["chain_k"] = np.array([[c[s][0] for c in padded] for s in range(length)])
        self._np["gchain_rz"] = np.array(
            [[c[s][1] if c[s][1] >= 0 else n_rz for c in padded] for s in range(length)]
        ).reshape(length, len(padded))
        two = [blk for blk in blocks if len(blk[0]) == 2]
        self._np["two_gates"] = np.array([blk[2] for blk in two]).reshape(-1, 16, 16)
        self._np["gtwo_a"] = np.array([blk[1][0] for blk in two], dtype=int)
        self._np["gtwo_b"] = np.array([blk[1][1] for blk in two], dtype=int)
        self._blocks = []
        two_index = 0
        for qubits, ids, gate in blocks:
            if gate is not None:
                self._blocks.append((qubits, "two", two_index))
                two_index += 1
            else:
                self._blocks.append((qubits, "one", ids[0]))
        self._blocks.reverse()
        current = np.arange(4**self.k)
        for n, (qubits, _, _) in enumerate(self._blocks):
            moved = self._moved_order(qubits)
            self._np[f"gb{n}"] = np.argsort(current)[moved]
            current = moved
        self._np["g_out"] = np.argsort(current)

    def _numpy_tables(self) -> dict[str, np.ndarray]:
        k, c = self.k, self.compiled
        dim = 2**k
        bits = (np.arange(dim)[:, None] >> (k - 1 - np.arange(k))) & 1  # (D, k), MSB first
        n = len(c.final)
        if self.probs:
            outcomes = (np.arange(2**n)[:, None] >> (n - 1 - np.arange(n))) & 1  # (2^n, n)
            diag = np.ones((2**n, dim))
            for j, pos in enumerate(c.final):
                diag *= c.confusion[j][outcomes[:, j][:, None], bits[None, :, pos]]
        else:
            diag = np.stack(
                [
                    (c.confusion[j][0] - c.confusion[j][1])[bits[:, pos]]
                    for j, pos in enumerate(c.final)
                ]
            )
        delta = bits[:, None, :] - bits[None, :, :]  # (D, D, k): b_a - b_b per qubit
        tables = {"diag": diag, "delta": delta.transpose(2, 0, 1).astype(float)}
        for i, op in enumerate(self.compiled.ops):
            if op.unitary is not None:
                sup = np.kron(op.unitary, op.unitary.conj())
                tables[f"s{i}"] = op.noise @ sup if op.noise is not None else sup
                tables[f"h{i}"] = tables[f"s{i}"].conj()  # row vectors: v @ conj(S) = S^H v
            elif op.noise is not None:
                tables[f"n{i}"] = op.noise
                tables[f"h{i}"] = op.noise.conj()
            if op.coeffs is not None:
                tables[f"c{i}"] = op.coeffs
        tables["delta1"] = np.array([[0.0, -1.0], [1.0, 0.0]])
        order = [i for q in range(k) for i in (q, k + q)]
        tables["g_pairs"] = np.arange(4**k).reshape([2] * (2 * k)).transpose(order).reshape(-1)
        return tables

    def _tables(self, device: torch.device, real: torch.dtype, cplx: torch.dtype) -> dict:
        key = (device, real)
        if key not in self._consts:
            # Normal tensors even when first built under inference_mode (a validation
            # before training): inference tensors cannot be saved for backward.
            with torch.inference_mode(False):
                self._consts[key] = self._make_tables(device, real, cplx)
        return self._consts[key]

    def _make_tables(self, device: torch.device, real: torch.dtype, cplx: torch.dtype) -> dict:
        """The NumPy tables as tensors: gather indices long, superoperators complex."""

        def dtype(name: str, value: np.ndarray) -> torch.dtype:
            if name[0] == "g":
                return torch.long
            return cplx if np.iscomplexobj(value) or name[0] in "snh" else real

        return {
            name: torch.as_tensor(value, dtype=dtype(name, value), device=device)
            for name, value in self._np.items()
        }

    def _index(self, op: DeviceOp) -> int:
        return self._op_index[id(op)]

    @property
    def _op_index(self) -> dict[int, int]:
        if not hasattr(self, "_ids"):
            self._ids = {id(op): i for i, op in enumerate(self.compiled.ops)}
        return self._ids

    @staticmethod
    def _angle(coeffs: Tensor, offset: float, x: Tensor | None, w: Tensor) -> Tensor:
        """``offset + coeffs @ [x; w]``: ``(C, B)`` for inputs ``(C, B, n_in)``, else ``(C,)``."""
        n_in = x.shape[-1] if x is not None else coeffs.shape[0] - w.shape[-1]
        angle = w @ coeffs[n_in:] + offset  # (C,)
        if x is not None:
            angle = angle[:, None] + x @ coeffs[:n_in]
        return angle

    def run(self, inputs: Tensor, weights: Tensor) -> Tensor:
        """Outputs of ``C`` circuits on a batch.

        Args:
            inputs: ``(C, B, n_inputs)`` angles or pixels as the circuit takes them, or, for an
                amplitude embedding, ``(C, B, 2^n)`` normalised real state vectors.
            weights: ``(C, n_weights)`` flattened weights.

        Returns:
            Real ``(C, J, B)``: ``<Z_j>`` (J = n) or outcome probabilities (J = 2^n).
        """
        real = weights.dtype
        cplx = torch.complex64 if real == torch.float32 else torch.complex128
        t = self._tables(weights.device, real, cplx)
        x = None if self.compiled.amplitude else inputs
        n_circuits = weights.shape[0]
        obs = self._heisenberg(weights, t, cplx)  # (C, J, D * D)
        if not self.forward_ops and not self.compiled.amplitude:
            # Product state: Tr(O rho) = sum_p O[p] rho^T[p] in qubit-pair order.
            vec = self._states(inputs, x, weights, t, cplx, pairs=True)  # (C, B, 4^k)
            return (obs[..., t["g_pairs"]] @ vec.mT).real
        rho = self._states(inputs, x, weights, t, cplx)  # (C, B, D, D)
        for op in self.forward_ops:
            rho = self._forward_op(op, rho, x, weights, t)
        batch = rho.shape[1]
        out = obs @ rho.reshape(n_circuits, batch, -1).conj().mT
        return out.real

    def _heisenberg(self, weights: Tensor, t: dict, cplx: torch.dtype) -> Tensor:
        """The measured observables back through the weight-only tail: ``(C, J, 4^k)``."""
        n_circuits, dim = weights.shape[0], 2**self.k
        obs = torch.diag_embed(t["diag"].to(cplx)).reshape(1, -1, dim * dim)
        obs = obs.expand(n_circuits, -1, -1)
        if not self._blocks:
            return obs
        angles = weights @ t["rz_coeffs"].mT + t["rz_offsets"]  # (C, n_rz)
        half = torch.polar(torch.ones_like(angles), angles)  # e^{i theta}
        one = torch.ones_like(half)
        phases = torch.stack([one, half.conj(), half, one], dim=-1)  # (C, n_rz, 4)
        phases = torch.cat([phases, phases.new_ones(n_circuits, 1, 4)], dim=1)  # + "no rz"
        # Every one-qubit chain at once: S <- P(theta) K S, step by step.
        mats = None
        for step in range(t["chain_k"].shape[0]):
            k_step = t["chain_k"][step]  # (n_chains, 4, 4)
            mats = k_step if mats is None else k_step @ mats
            mats = phases[:, t["gchain_rz"][step], :, None] * mats  # (C, n_chains, 4, 4)
        two = None
        if t["two_gates"].shape[0]:
            a = mats[:, t["gtwo_a"]].reshape(n_circuits, -1, 2, 2, 2, 2)
            b = mats[:, t["gtwo_b"]].reshape(n_circuits, -1, 2, 2, 2, 2)
            kron = torch.einsum("znacAC,znbdBD->znabcdABCD", a, b)
            kron = kron.reshape(n_circuits, -1, 16, 16)
            two = (t["two_gates"] @ kron).conj()  # row vectors: v @ conj(S) = S^H v
        ones = mats.conj()
        for n, (qubits, kind, index) in enumerate(self._blocks):
            superop = two[:, index] if kind == "two" else ones[:, index]
            m = 4 ** len(qubits)
            moved = obs[..., t[f"gb{n}"]].reshape(n_circuits, -1, m)
            obs = (moved @ superop).reshape(n_circuits, -1, dim * dim)
        return obs[..., t["g_out"]]

    def _forward_op(
        self, op: DeviceOp, rho: Tensor, x: Tensor | None, w: Tensor, t: dict
    ) -> Tensor:
        i, k = self._index(op), self.k
        if op.unitary is not None:
            return _apply_superop(rho, t[f"s{i}"], op.qubits, k)
        angle = self._angle(t[f"c{i}"], op.offset, x, w)
        angle = angle if angle.ndim == 2 else angle[:, None]
        phase = torch.polar(torch.ones_like(t["delta"][0]), angle[..., None, None]
                            * t["delta"][op.qubits[0]])  # fmt: skip
        rho = rho * phase
        if op.noise is not None:
            rho = _apply_superop(rho, t[f"n{i}"], op.qubits, k)
        return rho

    def _states(
        self,
        inputs: Tensor,
        x: Tensor | None,
        w: Tensor,
        t: dict,
        cplx: torch.dtype,
        pairs: bool = False,
    ) -> Tensor:
        """The batch's density matrices ``(C, B, D, D)`` after the one-qubit prefixes.

        With ``pairs`` (product states only), ``vec`` of the transposed density matrices
        ``(C, B, 4^k)`` in qubit-pair order ``(r_0, c_0, r_1, c_1, ...)`` instead, built from
        the qubits' ``4``-vectors without forming the matrices.
        """
        c = self.compiled
        n_circuits, batch = inputs.shape[:2]
        if c.amplitude:
            n, k = len(c.initial), self.k
            psi = inputs.reshape(n_circuits, batch, *([2] * n))
            if k > n:
                zero = psi.new_zeros(*psi.shape, 2 ** (k - n))
                zero[..., 0] = psi
                psi = zero.reshape(n_circuits, batch, *([2] * k))
            spare = [p for p in range(k) if p not in c.initial]
            src = list(c.initial) + spare
            perm = [0, 1] + [2 + src.index(p) for p in range(k)]
            psi = psi.permute(perm).reshape(n_circuits, batch, 2**k).to(cplx)
            return psi[..., :, None] * psi[..., None, :].conj()
        rho = None
        for q in range(self.k):
            one = torch.zeros(n_circuits, batch, 2, 2, dtype=cplx, device=inputs.device)
            one[..., 0, 0] = 1
            for op in self.prefix[q]:
                i = self._index(op)
                if op.unitary is not None:
                    one = (one.reshape(n_circuits, batch, 4) @ t[f"s{i}"].mT).reshape(one.shape)
                    continue
                angle = self._angle(t[f"c{i}"], op.offset, x, w)
                angle = angle if angle.ndim == 2 else angle[:, None].expand(-1, batch)
                one = one * torch.polar(torch.ones_like(t["delta1"]), angle[..., None, None]
                                        * t["delta1"])  # fmt: skip
                if op.noise is not None:
                    one = (one.reshape(n_circuits, batch, 4) @ t[f"n{i}"].mT).reshape(one.shape)
            if pairs:  # vec of the transposed one-qubit state, (r, c) order
                one = one.mT.reshape(n_circuits, batch, 4)
                rho = one if rho is None else (rho[..., :, None] * one[..., None, :]).flatten(-2)
            elif rho is None:
                rho = one
            else:
                d = rho.shape[-1]
                rho = (rho[..., :, None, :, None] * one[..., None, :, None, :]).reshape(
                    n_circuits, batch, 2 * d, 2 * d
                )
        return rho
