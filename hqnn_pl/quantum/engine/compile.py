"""Compile a user's PennyLane circuit (TorchLayer convention) to a program of the torch engine.

A circuit ``circuit(inputs, **weights)`` is recorded as a PennyLane tape (three times: two input
draws to prove that its structure does not depend on input values, and once under
``make_fx`` to trace the map from inputs and weights to every gate parameter). Templates are
decomposed until every operation has a matrix (a gate) or Kraus matrices (a noise channel);
measurements must be ``qml.expval`` of Pauli words (or sums of them) or ``qml.probs``.

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

__all__ = ["CompiledCircuit", "CompiledOp", "Measurement", "compile_circuit", "record_tape"]

_FALLBACK = "it can run on `backend: pennylane` instead (execution: {backend: pennylane})"
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


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One measurement: a Pauli sum ``Σ c_w w`` (``words``) or ``qml.probs`` of ``wires``."""

    kind: str  # "expval" | "probs"
    words: tuple[tuple[float, str, tuple[int, ...]], ...] = ()
    wires: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        """Outputs of this measurement (1 for an expectation, ``2^k`` for probabilities)."""
        return 1 if self.kind == "expval" else 2 ** len(self.wires)


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


def _refuse(what: str, why: str) -> ConfigurationError:
    return ConfigurationError(f"CircuitLayer cannot compile {what}: {why}; {_FALLBACK}.")


_MODES: dict[tuple[str, tuple[Any, ...], str], Any] = {}
"""How each parametrised gate type is built: ``("generator", eigvals, V)``, ``("compute",)``
or None (decompose it), decided once per (type, wires, hyperparameters) on concrete values."""


def _key(op: Any) -> tuple[str, tuple[Any, ...], str]:
    hyper = {k: v for k, v in op.hyperparameters.items() if not isinstance(v, Tensor)}
    return type(op).__qualname__, tuple(op.wires), repr(sorted(hyper.items()))


def _first(value: Any, batched: bool) -> np.ndarray:
    array = np.asarray(value.detach() if isinstance(value, Tensor) else value)
    return array[0] if batched else array


def _probe(op: Any) -> Any:
    """The build mode of a parametrised gate, checked against ``qml.matrix`` (or None)."""
    batched = op.batch_size is not None
    data = [_first(p, batched and np.ndim(p) > 0) for p in op.data]
    try:
        target = np.asarray(type(op).compute_matrix(*data, **op.hyperparameters))
    except Exception:
        try:
            target = np.asarray(qml.math.unwrap(qml.matrix(op)))
        except Exception:
            return None
        target = target[0] if batched and target.ndim == 3 else target
    if op.num_params == 1 and op.has_generator:
        try:
            gen = np.asarray(qml.matrix(op.generator(), wire_order=op.wires), dtype=complex)
            eigvals, vecs = np.linalg.eigh(gen)
            theta = float(np.real(data[0]))
            built = (vecs * np.exp(1j * theta * eigvals)) @ vecs.conj().T
            if np.allclose(built, target, atol=1e-12):
                return ("generator", eigvals, vecs)
        except Exception:
            pass
    try:
        probe = [torch.tensor(np.stack([d, d]), requires_grad=True) for d in data]
        built = type(op).compute_matrix(*probe, **op.hyperparameters)
        if np.allclose(np.asarray(built.detach())[0], target, atol=1e-12):
            return ("compute",)
    except Exception:
        pass
    return None


def _gate_ok(op: Any) -> bool:
    if isinstance(op, qml.operation.Channel):
        return True
    if not op.has_matrix:
        return False
    if op.num_params == 0:
        return True
    key = _key(op)
    if key not in _MODES:
        _MODES[key] = _probe(op)
    return _MODES[key] is not None or not op.has_decomposition


def _expand(ops: list[Any]) -> list[Any]:
    out: list[Any] = []
    for op in ops:
        if isinstance(op, qml.measurements.MidMeasureMP) or op.name in ("Conditional", "Cond"):
            raise _refuse(f"{op.name} on wires {list(op.wires)}", "mid-circuit measurements and "
                          "classical control are not unitary gates")  # fmt: skip
        if op.name in ("Barrier", "Snapshot", "Identity", "GlobalPhase"):
            continue  # no effect on any measured value
        if _gate_ok(op):
            out.append(op)
        elif op.has_decomposition:
            out.extend(_expand(op.decomposition()))
        else:
            raise _refuse(f"operation {op.name} on wires {list(op.wires)}", "it has neither a "
                          "matrix nor a decomposition into gates")  # fmt: skip
    return out


def record_tape(
    circuit: Callable[..., Any], inputs: Any, weights: Mapping[str, Any], noise: Any = None
) -> tuple[list[Any], list[Any]]:
    """Record ``circuit(inputs, **weights)``: its gates (decomposed) and measurements.

    Args:
        circuit: The quantum function.
        inputs: ``(batch, n_inputs)`` tensor.
        weights: Weights by name.
        noise: A ``qml.NoiseModel`` to insert with ``qml.add_noise``, or None.

    Returns:
        ``(operations, measurements)``.
    """
    tape = qml.tape.make_qscript(circuit)(inputs, **weights)
    if noise is not None:
        (tape,), _ = qml.add_noise(tape, noise)
    return _expand(list(tape.operations)), list(tape.measurements)


def _wire_index(wires: Any, n_qubits: int, what: str) -> tuple[int, ...]:
    out = []
    for wire in wires:
        if not isinstance(wire, int | np.integer) or not 0 <= int(wire) < n_qubits:
            raise ConfigurationError(
                f"CircuitLayer: {what} acts on wire {wire!r}, outside wires 0..{n_qubits - 1}; "
                "label wires 0..n_qubits-1 or raise n_qubits."
            )
        out.append(int(wire))
    return tuple(out)


def _measurement(mp: Any, n_qubits: int) -> Measurement:
    name = type(mp).__name__
    if name == "ProbabilityMP" and mp.obs is None:
        wires = mp.wires if len(mp.wires) else range(n_qubits)
        return Measurement("probs", wires=_wire_index(wires, n_qubits, "qml.probs"))
    if name == "ExpectationMP" and mp.obs is not None:
        rep = mp.obs.pauli_rep
        if rep is not None:
            words = []
            for word, coeff in rep.items():
                if abs(complex(coeff).imag) > 1e-12:
                    break
                wires = _wire_index(list(word.keys()), n_qubits, f"expval({mp.obs})")
                words.append((float(complex(coeff).real), "".join(word.values()), wires))
            else:
                return Measurement("expval", words=tuple(words))
    what = f"{type(mp).__name__}" + (f" of {mp.obs.name}" if mp.obs is not None else "")
    raise _refuse(
        f"measurement {what} on wires {list(mp.wires)}",
        "only qml.expval of Pauli words (or real sums of them) and qml.probs are compiled",
    )


def _superop(kraus: list[np.ndarray]) -> np.ndarray:
    """``Σ K ⊗ K*`` ordered (row wire, column wire): ``rho -> Σ K rho K^†`` on vec(rho)."""
    return sum(np.kron(np.asarray(k, complex), np.asarray(k, complex).conj()) for k in kraus)


def _record_error(err: Exception, n_inputs: int, shapes: Mapping[str, Any]) -> ConfigurationError:
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    return ConfigurationError(
        f"CircuitLayer could not record the circuit with inputs of shape (batch, {n_inputs}) "
        f"and weight_shapes {dict(shapes)}: {type(err).__name__}: {first}; check its signature "
        f"circuit(inputs, {', '.join(shapes)})."
    )


def _signature(ops: list[Any]) -> list[tuple[str, tuple[Any, ...]]]:
    return [(op.name, tuple(op.wires)) for op in ops]


def _flat_params(ops: list[Any]) -> list[Tensor]:
    params = []
    for op in ops:
        for p in op.data:
            params.append(p if isinstance(p, Tensor) else torch.as_tensor(np.asarray(p)))
    return params


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
