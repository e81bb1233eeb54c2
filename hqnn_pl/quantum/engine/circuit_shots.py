"""Finite shots for compiled circuits: each qubit-wise commuting group sampled jointly."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from hqnn_pl.quantum.engine.circuit_tables import _DIAG, _word
from hqnn_pl.quantum.engine.shots import ShotSampler, sample_counts

__all__ = ["ShotsMixin"]


class ShotsMixin:
    """Sampled outputs of :class:`~hqnn_pl.quantum.engine.circuit_run.CircuitProgram`.

    The measured words are grouped qubit-wise (a probs measurement is Z on its wires); each group
    is rotated to the Z basis with PennyLane's diagonalising gates and sampled jointly, so
    estimates in one group are correlated as on a device. With readout noise every measurement
    is its own tape (as ``qml.add_noise`` makes it) and is sampled on its own.
    """

    cc: Any
    n: int
    density: bool
    readout: float

    def sampled(self, state: Tensor, sampler: ShotSampler) -> Tensor:
        """Outputs estimated from ``sampler.shots`` samples, with the exact gradient."""
        exact = self.measure(state)
        est: dict[Any, Tensor] = {}
        readout = bool(self.readout and self.density)
        batches = (
            [(self._read(state, m), self._shot_groups([k])) for k, m in
             enumerate(self.cc.measurements)] if readout
            else [(state, self._shot_groups(range(len(self.cc.measurements))))]
        )  # fmt: skip
        for base, groups in batches:
            self._sample_groups(base, groups, sampler, est)
        outs = []
        for k, m in enumerate(self.cc.measurements):
            if m.kind == "probs":
                outs.append(est[("probs", k)])
            else:
                value = sum(c * est[("word", w, ws)] for c, w, ws in m.words)
                outs.append(torch.as_tensor(value).expand(state.shape[:2])[..., None])
        sampled = torch.cat(outs, dim=-1).to(exact.dtype)
        return exact + (sampled - exact).detach()

    def _sample_groups(
        self, state: Tensor, groups: list[Any], sampler: ShotSampler, est: dict[Any, Tensor]
    ) -> None:
        """Sample every group of ``groups`` from ``state`` into ``est``."""
        for basis, members in groups:
            rotated = state
            for wire, letter in basis.items():
                if letter != "Z":
                    mat = self._const(_DIAG[letter], state.device, state.dtype)[None, None]
                    rotated = self._gate(rotated, mat, (wire,))
            probs = self.probabilities(rotated).detach().clamp_min(0.0)
            counts = sample_counts(probs.transpose(1, 2), sampler.shots,
                                   sampler.generator(probs.device))  # fmt: skip
            freq = (counts / sampler.shots).transpose(1, 2)
            for member in members:
                est[member] = self._from_freq(freq, member)

    def _from_freq(self, freq: Tensor, member: tuple[Any, ...]) -> Tensor:
        if member[0] == "probs":
            return self._marginal(freq, self.cc.measurements[member[1]].wires)
        _, word, wires = member
        signs = _word("".join("Z" if c != "I" else "I" for c in word), wires, self.n)[1].real
        return freq @ torch.as_tensor(signs, dtype=freq.dtype, device=freq.device)

    def measurement_bases(self) -> int:
        """Bases the measurements need: their qubit-wise commuting groups (at least one)."""
        return max(1, len(self._shot_groups(range(len(self.cc.measurements)))))

    def _shot_groups(self, which: Any) -> list[tuple[dict[int, str], list[tuple[Any, ...]]]]:
        """Qubit-wise commuting groups of measurements ``which`` (probs: Z on their wires)."""
        groups: list[tuple[dict[int, str], list[tuple[Any, ...]]]] = []

        def place(basis: dict[int, str], member: tuple[Any, ...]) -> None:
            for g_basis, members in groups:
                if all(g_basis.get(w, b) == b for w, b in basis.items()):
                    g_basis.update(basis)
                    members.append(member)
                    return
            groups.append((dict(basis), [member]))

        for k in which:
            m = self.cc.measurements[k]
            if m.kind == "probs":
                place({w: "Z" for w in m.wires}, ("probs", k))
            for _, word, wires in m.words:
                basis = {w: c for w, c in zip(wires, word, strict=True) if c != "I"}
                place(basis, ("word", word, wires))
        return groups
