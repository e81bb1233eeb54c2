"""ZX-calculus reduction of a circuit and which weights and inputs survive it.

Senokosov et al. (2024, appendix A.1, Fig. 9) reduce HQNN-Parallel's circuit with ZX rewrite rules
and observe that every weight and input still sits on its own node, i.e. no parameter is
redundant. This module checks that claim instead of copying it:

1. Every weight and every rotation-encoded input gets a distinct generic angle ``π r_p``
   (``r_p`` a fraction with a large prime denominator, never a Clifford angle), the circuit is
   converted with PennyLane's ``qml.transforms.to_zx`` and fully reduced with
   ``pyzx.full_reduce``.
2. Spider fusion, pivoting and gadget fusion only ever add phases (with signs), so every phase of
   the reduced diagram is ``c_s + Σ_p A_{sp} θ_p`` with small integers ``A``. ``A`` is read off
   exactly by reducing again with one parameter shifted by ``π/7`` at a time (the rewrite
   sequence only depends on which phases are Clifford, so the diagram keeps its shape; this is
   verified).
3. A parameter *appears* after reduction if its column of ``A`` is non-zero. The parameters are
   *independent* if ``rank(A)`` equals their number; otherwise only ``rank(A)`` combinations of
   them reach the reduced diagram, and the unitary cannot depend on the others (e.g. two
   consecutive ``RZ`` on one wire fuse into one spider with the sum of their angles).

Gate counts come from pyzx's circuit statistics before and after (circuit extraction plus
``basic_optimization``). pyzx is a dependency of hqnn-pl; a missing install is reported with the
command that fixes it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pennylane as qml

from hqnn_pl.analysis.specs import CircuitSpec
from hqnn_pl.analysis.statevector import STATE_PREPARATIONS, decompose_gates
from hqnn_pl.errors import ConfigurationError

__all__ = [
    "ZXResult",
    "draw_reduced",
    "import_pyzx",
    "parameter_names",
    "zx_analysis",
    "zx_of_tape",
]

_DENOMINATOR = 9973
"""Prime denominator of the generic angles (in units of π): never a Clifford angle."""
_SHIFT = Fraction(1, 7)
"""Shift (in units of π) that reveals each parameter's coefficients in the reduced phases."""


def import_pyzx() -> Any:
    """Import pyzx, or say how to install it.

    Returns:
        The pyzx module.

    Raises:
        ConfigurationError: If pyzx is not installed.
    """
    try:
        import pyzx
    except ImportError as error:
        raise ConfigurationError(
            "The ZX analysis needs pyzx, which is not installed: pip install 'pyzx>=0.8' (or "
            'pip install -e ".[dev]" in the repository), or skip it with --skip zx.'
        ) from error
    return pyzx


@dataclass
class ZXResult:
    """ZX reduction of one circuit.

    Attributes:
        parameters: Names of the parameters tracked (``w[...]`` weights, ``x[i]`` inputs).
        stats_before: pyzx gate statistics of the circuit as converted.
        stats_after: Gate statistics of the circuit extracted from the reduced diagram.
        vertices_before: Spiders and boundaries of the diagram before reduction.
        vertices_after: Same after ``full_reduce``.
        parameter_spiders: Reduced-diagram spiders whose phase depends on a parameter.
        coefficients: ``A`` of shape ``(parameter_spiders, parameters)``.
        rank: ``rank(A)``: independent parameter combinations left after reduction.
        missing: Parameters that no longer appear.
        merged: Phases of the reduced diagram that depend on more than one parameter, e.g.
            ``"w[0,1,2] + w[1,1,0]"``.
        stable: Whether every shifted reduction had the same diagram shape (the coefficients are
            exact only then).
        inputs_in_diagram: Whether inputs are part of the diagram (not for amplitude embedding).
        graph: The reduced pyzx graph (not serialised).
        labels: Readable label of each parameter spider's phase, for drawing.
    """

    parameters: list[str]
    stats_before: dict[str, int]
    stats_after: dict[str, int]
    vertices_before: int
    vertices_after: int
    parameter_spiders: int
    coefficients: np.ndarray
    rank: int
    missing: list[str]
    merged: list[str]
    stable: bool
    inputs_in_diagram: bool
    graph: Any = field(default=None, repr=False)
    labels: dict[int, str] = field(default_factory=dict, repr=False)

    @property
    def redundant(self) -> bool:
        """Whether some parameter is missing or only enters in combination with others."""
        return bool(self.missing) or self.rank < len(self.parameters)

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "parameters": len(self.parameters),
            "inputs_in_diagram": self.inputs_in_diagram,
            "gates_before": self.stats_before,
            "gates_after": self.stats_after,
            "vertices_before": self.vertices_before,
            "vertices_after": self.vertices_after,
            "parameter_spiders_after": self.parameter_spiders,
            "independent_parameter_combinations": self.rank,
            "all_parameters_appear": not self.missing,
            "missing_parameters": self.missing,
            "merged_phases": self.merged,
            "redundant": self.redundant,
            "exact": self.stable,
        }


def parameter_names(spec: CircuitSpec) -> list[str]:
    """Names of a circuit's weights (``w[i,j,k]``) and rotation-encoded inputs (``x[i]``)."""
    names = ["w[" + ",".join(map(str, idx)) + "]" for idx in np.ndindex(*spec.weight_shape)]
    if spec.input_kind != "amplitude":
        names += [f"x[{i}]" for i in range(spec.n_inputs)]
    return names


def _values(spec: CircuitSpec, ratios: list[Fraction]) -> tuple[np.ndarray, np.ndarray]:
    """Weights and inputs whose angles are ``π r`` for the given ratios."""
    n_weights = int(np.prod(spec.weight_shape))
    weights = np.array([float(r) * np.pi for r in ratios[:n_weights]]).reshape(spec.weight_shape)
    if spec.input_kind == "amplitude":
        inputs = np.linspace(1.0, 2.0, spec.n_inputs)
    else:
        inputs = np.array([float(r) * np.pi * spec.input_scale for r in ratios[n_weights:]])
    return weights, inputs


def zx_of_tape(spec: CircuitSpec, weights: np.ndarray, inputs: np.ndarray) -> Any:
    """The circuit's unitary part as a pyzx graph, via ``qml.transforms.to_zx``.

    Measurements are left out (ZX describes the unitary), as is an amplitude embedding (it
    prepares the input state; its gates are not a function of rotation-encoded inputs).

    Args:
        spec: The circuit.
        weights: One circuit's weights (numpy).
        inputs: One circuit's inputs (numpy).

    Returns:
        A pyzx graph.
    """
    import_pyzx()
    tape = qml.tape.make_qscript(spec.qfunc)(inputs, weights, **spec.kwargs)
    gates = (g for op in tape.operations for g in decompose_gates(op))
    ops = [g for g in gates if g.name not in STATE_PREPARATIONS]
    return qml.transforms.to_zx(qml.tape.QuantumScript(ops, []))


def _reduce(spec: CircuitSpec, ratios: list[Fraction]) -> tuple[Any, Any]:
    pyzx = import_pyzx()
    graph = zx_of_tape(spec, *_values(spec, ratios))
    reduced = graph.copy()
    pyzx.full_reduce(reduced)
    return graph, reduced


def _shape(graph: Any) -> tuple[Any, ...]:
    return (
        tuple(sorted(graph.vertices())),
        tuple(
            sorted((graph.edge_s(e), graph.edge_t(e), graph.edge_type(e)) for e in graph.edges())
        ),
        tuple(graph.type(v) for v in sorted(graph.vertices())),
    )


def _stats(pyzx: Any, graph: Any, extract: bool) -> dict[str, int]:
    if extract:
        circuit = pyzx.basic_optimization(pyzx.extract_circuit(graph.copy()).to_basic_gates())
    else:
        circuit = pyzx.Circuit.from_graph(graph)
    stats = circuit.stats_dict()
    keep = ("gates", "tcount", "twoqubit", "cnot", "hadamard", "clifford")
    return {key: int(stats[key]) for key in keep if key in stats}


def _ratios(count: int, seed: int) -> list[Fraction]:
    rng = np.random.default_rng(seed)
    numerators = rng.choice(np.arange(1, 2 * _DENOMINATOR), size=count, replace=False)
    return [Fraction(int(n), _DENOMINATOR) for n in numerators]


def _coefficient(diff: Fraction, unit: Fraction = _SHIFT) -> int:
    scaled = (diff / unit) % (2 / unit)  # phases live mod 2 (in units of π)
    if scaled.denominator != 1:
        raise ArithmeticError(f"phase difference {diff} is not a multiple of the shift")
    value = int(scaled)
    return value - int(2 / unit) if value > int(1 / unit) else value


def _unit(diffs: list[dict[Any, Fraction]]) -> Fraction:
    """The shift, or half of it when a gate takes half an angle (controlled rotations)."""
    halves = any((d / _SHIFT).denominator != 1 for col in diffs for d in col.values())
    return _SHIFT / 2 if halves else _SHIFT


def _combination(names: list[str], row: np.ndarray) -> str:
    terms: Iterator[str] = (
        ("" if c == 1 else "-" if c == -1 else f"{c}*") + names[p]
        for p, c in enumerate(row)
        if c != 0
    )
    return " + ".join(terms).replace("+ -", "- ")


def zx_analysis(spec: CircuitSpec, seed: int = 0) -> ZXResult:
    """Reduce a circuit with pyzx and find which parameters survive, exactly.

    Args:
        spec: The circuit.
        seed: Seed of the generic angles.

    Returns:
        The result.
    """
    pyzx = import_pyzx()
    names = parameter_names(spec)
    base_ratios = _ratios(len(names), seed)
    graph, reduced = _reduce(spec, base_ratios)
    base_phases = reduced.phases()
    shape = _shape(reduced)
    diffs, stable = [], True
    for p in range(len(names)):
        ratios = list(base_ratios)
        ratios[p] += _SHIFT
        _, shifted = _reduce(spec, ratios)
        if _shape(shifted) != shape:
            stable = False
            diffs.append({})
            continue
        phases = shifted.phases()
        diffs.append({v: Fraction(phases[v]) - Fraction(base_phases[v]) for v in base_phases})
    unit = _unit(diffs)  # coefficients count half-angles when a gate takes one
    columns = [{v: _coefficient(d, unit) for v, d in col.items()} for col in diffs]
    spiders = sorted(v for v in base_phases if any(col.get(v, 0) for col in columns))
    matrix = np.array(
        [[col.get(v, 0) for col in columns] for v in spiders], dtype=np.int64
    ).reshape(len(spiders), len(names))
    rank = int(np.linalg.matrix_rank(matrix)) if matrix.size else 0
    missing = [names[p] for p in range(len(names)) if not matrix[:, p].any()]
    merged = [_combination(names, row) for row in matrix if np.count_nonzero(row) > 1]
    labels = {v: _combination(names, row) for v, row in zip(spiders, matrix, strict=True)}
    return ZXResult(
        parameters=names,
        stats_before=_stats(pyzx, graph, extract=False),
        stats_after=_stats(pyzx, reduced, extract=True),
        vertices_before=graph.num_vertices(),
        vertices_after=reduced.num_vertices(),
        parameter_spiders=len(spiders),
        coefficients=matrix,
        rank=rank,
        missing=missing,
        merged=merged,
        stable=stable,
        inputs_in_diagram=spec.input_kind != "amplitude",
        graph=reduced,
        labels=labels,
    )


def draw_reduced(result: ZXResult, path: Path, dpi: int = 120) -> Path:
    """Draw the reduced diagram with every parameter phase labelled by its parameters.

    Args:
        result: A :func:`zx_analysis` result.
        path: PNG file to write.
        dpi: Resolution.

    Returns:
        ``path``.
    """
    import matplotlib.pyplot as plt

    pyzx = import_pyzx()
    graph = copy.deepcopy(result.graph)  # Graph.copy() would renumber the vertices
    for vertex in result.labels:
        graph.set_phase(vertex, 0)  # parameter phases are drawn as names below
    width = max(8.0, 0.45 * (max((graph.row(v) for v in graph.vertices()), default=1) + 1))
    height = max(2.0, 0.7 * (max((graph.qubit(v) for v in graph.vertices()), default=1) + 1))
    figure = pyzx.draw_matplotlib(graph, figsize=(width, height))
    try:
        axes = figure.axes[0]
        rows = [graph.row(v) for v in graph.vertices()]
        qubits = [-graph.qubit(v) for v in graph.vertices()]
        for vertex, label in result.labels.items():
            axes.text(
                graph.row(vertex),
                -graph.qubit(vertex) + 0.3,
                label,
                ha="center",
                fontsize=5,
                color="darkred",
            )
        axes.set_xlim(min(rows) - 1, max(rows) + 1)
        axes.set_ylim(min(qubits) - 1, max(qubits) + 1)
        axes.set_title(
            f"reduced ZX diagram: {result.parameter_spiders} parameter spiders, "
            f"{result.rank} independent combinations of {len(result.parameters)} parameters",
            fontsize=8,
        )
        figure.savefig(path, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(figure)
    return path
