"""Compile a user's PennyLane circuit (TorchLayer convention) to a program of the torch engine.

A circuit ``circuit(inputs, **weights)`` is recorded as a PennyLane tape three times (two input
draws to prove that its structure does not depend on input values, and once under ``make_fx``
to trace the map from inputs and weights to every gate parameter); :mod:`~hqnn_pl.quantum.
engine.tape` decomposes templates until every operation has a matrix (a gate) or Kraus matrices
(a noise channel) and reads the measurements: ``qml.expval`` of Pauli words (or sums of them)
or ``qml.probs``.

The traced parameter map is then split per parameter entry: entries that are exactly affine in
``(inputs, weights)`` (selection, scaling, sums: nearly every circuit) are replayed as one matrix
product per call; any other entry (``cos(x)``, ``x * w``, normalisations) is replayed through the
traced graph, vectorised with ``torch.func.vmap``. The result, :class:`CompiledCircuit`, holds
tensors and tables only; :mod:`hqnn_pl.quantum.engine.circuit_run` executes it.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pennylane as qml
import torch
from torch import Tensor
from torch.fx.experimental.proxy_tensor import make_fx

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum.engine.tape import (
    _MODES,
    Measurement,
    _flat_params,
    _key,
    _measurement,
    _record_error,
    _refuse,
    _signature,
    _superop,
    _wire_index,
    record_tape,
)

__all__ = ["CompiledCircuit", "CompiledOp", "Measurement", "compile_circuit", "record_tape"]

_AFFINE_TOL = 1e-11


@dataclasses.dataclass(frozen=True)
class CompiledOp:
    """One gate or channel of the compiled program, in circuit order.

    Attributes:
        name: PennyLane name (``"RX"``, ``"CNOT"``, ``"DepolarizingChannel"``).
        wires: Wire indices, in the order of the matrix's tensor factors.
        kind: ``"const"`` (fixed matrix), ``"weights"`` (matrix per circuit), ``"inputs"``
            (matrix per circuit and sample) or ``"channel"`` (a fixed superoperator).
        matrix: The fixed matrix (const gates) or the ``4 x 4`` superoperator ``Σ K ⊗ K*``
            of a single-qubit channel; None for parametrised gates.
        entries: Indices into the parameter vector of the op's kind, one tuple per parameter.
        shapes: Shape of each parameter (``()`` for angles).
        op_type: The PennyLane operation class (builds the matrices by ``compute_matrix``).
        hyper: Its hyperparameters, as sorted items.
        mode: How the matrix is built: ``("generator", eigenvalues, eigenvectors)`` of the
            generator (single-parameter gates, checked against ``qml.matrix``) or
            ``("compute",)``.
    """

    name: str
    wires: tuple[int, ...]
    kind: str
    matrix: np.ndarray | None
    entries: tuple[tuple[int, ...], ...] = ()
    shapes: tuple[tuple[int, ...], ...] = ()
    op_type: Any = None
    hyper: tuple[tuple[str, Any], ...] = ()
    mode: Any = None


@dataclasses.dataclass
class CompiledCircuit:
    """A circuit as the engine runs it: ops, measurements and the parameter map.

    Attributes:
        n_qubits: Wires.
        n_inputs: Features per sample.
        ops: The program, in circuit order.
        measurements: What is returned, in order.
        affine: ``{kind: (A_x, A_w, b, rows)}``: parameter vector of ``kind`` as
            ``x @ A_x.T + w @ A_w.T + b`` (float64 tables).
        graph: The traced parameter map ``(inputs (1, n_in), *weights) -> params`` (for entries
            that are not affine), or None.
        nonaffine: ``{kind: [(entry, output, flat index)]}``: entries replayed through
            ``graph`` (output ``output`` of the map, flat index within one sample).
        seconds: Wall time of the compilation.
    """

    n_qubits: int
    n_inputs: int
    ops: list[CompiledOp]
    measurements: list[Measurement]
    affine: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    graph: Any
    nonaffine: dict[str, list[tuple[int, int, int]]]
    weight_names: tuple[str, ...]
    weight_shapes: tuple[tuple[int, ...], ...]
    batched_outputs: tuple[bool, ...]
    seconds: float = 0.0

    @property
    def n_outputs(self) -> int:
        """Outputs of one circuit."""
        return sum(m.size for m in self.measurements)

    @property
    def gate_count(self) -> int:
        """Gates of the program (channels excluded)."""
        return sum(op.kind != "channel" for op in self.ops)

    def n_entries(self, kind: str) -> int:
        """Length of the parameter vector of ``kind``."""
        return self.affine[kind][2].shape[0]


def _affine_fit(
    graph: Any, n_inputs: int, shapes: list[tuple[int, ...]], batched: list[bool]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluate the traced map at 0, every unit vector and random points; fit ``A z + b``.

    Returns:
        ``(values_at_points, A, b, ok)`` over the flat entries of every output.
    """
    sizes = [int(np.prod(s)) for s in shapes]
    n_z = n_inputs + sum(sizes)
    gen = torch.Generator().manual_seed(1234)
    rand = (torch.rand(3, n_z, generator=gen, dtype=torch.float64) - 0.5) * torch.tensor(
        [[2.0], [9.0], [40.0]], dtype=torch.float64
    )
    points = torch.cat([torch.zeros(1, n_z, dtype=torch.float64), torch.eye(n_z).double(), rand])
    x = points[:, :n_inputs].reshape(-1, 1, n_inputs)
    ws, start = [], n_inputs
    for shape, size in zip(shapes, sizes, strict=True):
        ws.append(points[:, start : start + size].reshape(-1, *shape))
        start += size
    outs = torch.func.vmap(graph)(x, *ws)
    parts = []
    for o, b in zip(outs, batched, strict=True):
        o = (o[:, 0] if b else o).reshape(points.shape[0], -1)
        if o.is_complex():  # constant complex parameters (QubitUnitary) only: zero coefficients
            same = bool(torch.all(o == o[:1]))
            o = torch.zeros(o.shape, dtype=torch.float64) + (0.0 if same else math.nan)
        parts.append(o.to(torch.float64))
    if not parts:  # a circuit without gate parameters
        parts.append(torch.zeros(points.shape[0], 0, dtype=torch.float64))
    flat = torch.cat(parts, dim=1).numpy()
    base = flat[0]
    coeffs = flat[1 : n_z + 1] - base  # (n_z, E)
    predicted = rand.numpy() @ coeffs + base
    actual = flat[n_z + 1 :]
    scale = 1.0 + np.abs(actual)
    ok = np.all(np.abs(predicted - actual) <= _AFFINE_TOL * scale * 40, axis=0)
    ok &= np.all(np.isfinite(flat), axis=0)
    return coeffs.T, base, ok


def compile_circuit(
    circuit: Callable[..., Any],
    weight_shapes: Mapping[str, tuple[int, ...]],
    n_qubits: int,
    n_inputs: int,
    noise: Any = None,
) -> CompiledCircuit:
    """Record, check and trace ``circuit``; see the module docstring.

    Args:
        circuit: ``circuit(inputs, **weights)`` returning expvals of Pauli words / probs.
        weight_shapes: Shape of every weight, by name.
        n_qubits: Wires ``0..n_qubits-1``.
        n_inputs: Features per sample (``inputs[..., i]``).
        noise: A ``qml.NoiseModel`` to compile in (channels after gates), or None.

    Returns:
        The compiled circuit.

    Raises:
        ConfigurationError: One line naming the operation or measurement that cannot be
            compiled, or structure that depends on input values.
    """
    import time

    start = time.perf_counter()
    names = tuple(weight_shapes)
    shapes = [tuple(int(d) for d in weight_shapes[k]) for k in names]
    gen = torch.Generator().manual_seed(0)

    def draw(batch: int) -> tuple[Tensor, dict[str, Tensor]]:
        x = torch.rand(batch, n_inputs, generator=gen, dtype=torch.float64) * 2 * math.pi
        w = {k: torch.rand(s, generator=gen, dtype=torch.float64) * 2 * math.pi
             for k, s in zip(names, shapes, strict=True)}  # fmt: skip
        return x, w

    try:
        x1, w1 = draw(1)
        ops1, meas = record_tape(circuit, x1, w1, noise)
        x2, w2 = draw(1)
        ops2, _ = record_tape(circuit, x2, w2, noise)
    except ConfigurationError:
        raise
    except Exception as err:
        raise _record_error(err, n_inputs, weight_shapes) from err
    if _signature(ops1) != _signature(ops2):
        pairs = zip([*_signature(ops1), None], [*_signature(ops2), None], strict=False)
        diff = next((a, b) for a, b in pairs if a != b)
        raise _refuse(
            f"operation {diff[0] or diff[1]}",
            "the circuit's gates change with the input values (structure depends on inputs)",
        )
    try:  # a batch of both draws: which parameters carry the batch dimension
        ops3, _ = record_tape(circuit, torch.cat([x1, x2]), w2, noise)
    except Exception as err:
        raise _refuse(
            "the circuit on a batch of inputs",
            f"recording failed ({type(err).__name__}), as when the structure depends on input "
            "values",
        ) from err
    for op in ops1:
        _wire_index(op.wires, n_qubits, op.name)
    measurements = [_measurement(mp, n_qubits) for mp in meas]
    params1, params2 = _flat_params(ops1), _flat_params(ops3)
    batched = [p2.ndim > 0 and p1.ndim == p2.ndim and p2.shape[0] == 2 and p1.shape[0] == 1
               for p1, p2 in zip(params1, params2, strict=True)]  # fmt: skip

    def param_map(inputs: Tensor, *weights: Tensor) -> list[Tensor]:
        ops, _ = record_tape(circuit, inputs, dict(zip(names, weights, strict=True)), noise)
        return _flat_params(ops)

    try:
        graph = make_fx(param_map)(x1, *(w1[k] for k in names))
    except Exception as err:
        raise _refuse(
            "the circuit's gate parameters",
            f"tracing them failed ({type(err).__name__}): the circuit reads input or weight "
            "values in Python (structure depends on input values)",
        ) from err
    coeffs, base, ok = _affine_fit(graph, n_inputs, shapes, batched)
    return _assemble(
        ops1, params1, batched, measurements, (coeffs, base, ok), graph,
        (n_qubits, n_inputs, names, tuple(shapes)), time.perf_counter() - start,
    )  # fmt: skip


def _assemble(
    ops: list[Any],
    params: list[Tensor],
    batched: list[bool],
    measurements: list[Measurement],
    fit: tuple[np.ndarray, np.ndarray, np.ndarray],
    graph: Any,
    sizes: tuple[int, int, tuple[str, ...], tuple[tuple[int, ...], ...]],
    seconds: float,
) -> CompiledCircuit:
    n_qubits, n_inputs, names, shapes = sizes
    coeffs, base, ok = fit
    rows: dict[str, list[int]] = {"weights": [], "inputs": []}
    nonaffine: dict[str, list[tuple[int, int, int]]] = {"weights": [], "inputs": []}
    compiled: list[CompiledOp] = []
    flat_start, out_index = 0, 0
    for op in ops:
        wires = tuple(int(w) for w in op.wires)
        n_data = len(op.data)
        op_params = params[out_index : out_index + n_data]
        op_batched = batched[out_index : out_index + n_data]
        spans = []
        for p, b in zip(op_params, op_batched, strict=True):
            size = int(p[0].numel()) if b else int(p.numel())
            spans.append(range(flat_start, flat_start + size))
            flat_start += size
        if isinstance(op, qml.operation.Channel):
            compiled.append(CompiledOp(op.name, wires, "channel", _superop(op.kraus_matrices())))
            out_index += n_data
            continue
        cols = [coeffs[s] for s in spans]
        depends_x = any(np.any(c[:, :n_inputs] != 0) or not ok[s].all()
                        for c, s in zip(cols, spans, strict=True))  # fmt: skip
        depends_w = any(np.any(c[:, n_inputs:] != 0) for c in cols)
        constant = all(ok[s].all() for s in spans) and not depends_x and not depends_w
        if constant:
            compiled.append(CompiledOp(op.name, wires, "const", _constant_matrix(op)))
            out_index += n_data
            continue
        if any(p.is_complex() for p in op_params):
            raise _refuse(f"{op.name} on wires {list(wires)}", "its matrix parameter depends on "
                          "the inputs or weights")  # fmt: skip
        kind = "inputs" if depends_x else "weights"
        entries = []
        for k, s in enumerate(spans):
            idx = []
            for j, e in enumerate(s):
                if not ok[e]:
                    nonaffine[kind].append((len(rows[kind]), out_index + k, j))
                idx.append(len(rows[kind]))
                rows[kind].append(e)
            entries.append(tuple(idx))
        hyper = tuple(sorted((k, v) for k, v in op.hyperparameters.items()))
        compiled.append(CompiledOp(
            op.name, wires, kind, None, tuple(entries),
            tuple(tuple((p[0] if b else p).shape) for p, b in zip(op_params, op_batched,
                                                                  strict=True)),
            type(op), hyper, _MODES.get(_key(op)) or ("compute",),
        ))  # fmt: skip
        out_index += n_data
    affine = {}
    for kind, sel in rows.items():
        mask = np.ones(len(sel))
        for position, _, _ in nonaffine[kind]:
            mask[position] = 0.0
        a = coeffs[sel] * mask[:, None] if sel else np.zeros((0, coeffs.shape[1]))
        b = base[sel] * mask if sel else np.zeros(0)
        affine[kind] = (a[:, :n_inputs].copy(), a[:, n_inputs:].copy(), b.copy())
    needed = sorted({o for entries in nonaffine.values() for _, o, _ in entries})
    pruned = _prune(graph, needed) if needed else None
    remap = {o: k for k, o in enumerate(needed)}
    nonaffine = {kind: [(p, remap[o], j) for p, o, j in entries]
                 for kind, entries in nonaffine.items()}  # fmt: skip
    return CompiledCircuit(
        n_qubits, n_inputs, compiled, measurements, affine, pruned, nonaffine, names, shapes,
        tuple(batched[o] for o in needed), seconds,
    )  # fmt: skip


def _prune(graph: Any, outputs: list[int]) -> Any:
    """The traced map reduced to ``outputs`` (dead code removed: replays only what it needs)."""
    gm = copy.deepcopy(graph)
    node = next(n for n in gm.graph.nodes if n.op == "output")
    node.args = ([node.args[0][o] for o in outputs],)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm


def _constant_matrix(op: Any) -> np.ndarray:
    """The matrix of a gate whose parameters depend on neither inputs nor weights."""
    mat = np.asarray(qml.math.unwrap(qml.matrix(op, wire_order=op.wires)), dtype=np.complex128)
    return mat[0] if mat.ndim == 3 else mat
