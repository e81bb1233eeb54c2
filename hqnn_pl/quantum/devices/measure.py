"""A user's measurements on a device: one basis per wire, read from the outcome distribution.

:class:`~hqnn_pl.quantum.layers.CircuitLayer` returns ``qml.expval`` of Pauli words (or real
sums of them) and ``qml.probs``. On a device every wire is measured once, in one basis: each
word's Pauli on a wire fixes that wire's basis (``X``: ``H``; ``Y``: ``S^†`` then ``H``; ``Z`` and
unmeasured wires: none); words that ask one wire for two bases go to separate circuits
(:func:`measurement_groups`, as hardware runs them: one compiled circuit and its shots per
group). Each compiled circuit yields the ``2^n`` outcome probabilities with each wire's
readout confusion applied (as Aer applies a backend's readout errors), and every output is a
fixed linear function of them (:func:`outcome_map`): a word's expectation is the probability-
weighted product of its wires' ``±1`` signs, ``qml.probs`` of some wires a marginal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["MeasurementGroup", "measurement_groups"]


@dataclasses.dataclass(frozen=True)
class MeasurementGroup:
    """Terms measured together: one basis per wire, one compiled circuit.

    Attributes:
        bases: ``"X"``, ``"Y"`` or ``"Z"`` per wire.
        table: ``(n_outputs, 2^n)``: this group's share of each output as a linear function of
            its outcome probabilities (wire 0 most significant).
    """

    bases: tuple[str, ...]
    table: np.ndarray


def _terms(measurements: Sequence[Any], n_qubits: int) -> list[tuple[dict[int, str], Any]]:
    """Each term's Paulis by wire and its ``(2^n,)`` or ``(2^k, 2^n)`` rows, by output."""
    bits = (np.arange(2**n_qubits)[:, None] >> (n_qubits - 1 - np.arange(n_qubits))) & 1
    signs = 1.0 - 2.0 * bits  # (2^n, n): the Z_j eigenvalue of each outcome
    terms: list[tuple[dict[int, str], Any]] = []
    out = 0
    for m in measurements:
        if m.kind == "probs":
            wires = [int(w) for w in m.wires]
            index = np.zeros(2**n_qubits, dtype=int)
            for wire in wires:
                index = 2 * index + bits[:, wire]
            rows = np.eye(2 ** len(wires))[index].T
            terms.append(({w: "Z" for w in wires}, (out, rows)))
            out += len(rows)
            continue
        for coeff, word, wires in m.words:
            paulis = {int(w): p for p, w in zip(word, wires, strict=True) if p != "I"}
            row = np.full(2**n_qubits, float(coeff))
            for wire in paulis:
                row = row * signs[:, wire]
            terms.append((paulis, (out, row[None])))
        out += 1
    return terms


def measurement_groups(measurements: Sequence[Any], n_qubits: int) -> list[MeasurementGroup]:
    """The measurements' terms grouped greedily into bases (qubit-wise commuting sets).

    Args:
        measurements: The compiled circuit's measurements (``kind``, ``words``, ``wires``), in
            output order.
        n_qubits: Wires of the circuit.

    Returns:
        The groups, in order of first use; the outputs are the sum over groups of
        ``table @ probabilities``.
    """
    n_outputs = sum(m.size for m in measurements)
    groups: list[tuple[dict[int, str], np.ndarray]] = []
    for paulis, (out, rows) in _terms(measurements, n_qubits):
        fits = [g for g in groups if all(g[0].get(w, p) == p for w, p in paulis.items())]
        if not fits:
            fits = [({}, np.zeros((n_outputs, 2**n_qubits)))]
            groups.append(fits[0])
        bases, table = fits[0]
        bases.update(paulis)
        table[out : out + len(rows)] += rows
    if not groups:  # no measured wire (a constant): one circuit all the same
        groups.append(({}, np.zeros((n_outputs, 2**n_qubits))))
    return [
        MeasurementGroup(tuple(bases.get(q, "Z") for q in range(n_qubits)), table)
        for bases, table in groups
    ]
