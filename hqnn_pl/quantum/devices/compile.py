"""A layer's circuit, compiled once per structure to a device: :func:`compile_circuit`.

The circuit's PennyLane quantum function (:class:`~hqnn_pl.quantum.spec.CircuitSpec`) is
recorded as a tape on torch tensors of inputs and weights, decomposed into Pauli rotations,
``Rot`` and CNOTs, and each gate angle is written as an affine function of the inputs and weights
(from autograd: every angle of these circuits is affine). The tape becomes a Qiskit circuit on
the ``ParameterVector`` objects ``x`` and ``w``, followed by the measured Pauli's
diagonalising gates; an
amplitude embedding is the initial state (ideal, like its noise-free PennyLane definition).
Qiskit's transpiler (seeded) lays it out, routes it and translates it to the device's native
gates, keeping the angles symbolic; the compiled circuit's gates become a
:class:`CompiledCircuit`: constant gate matrices and ``rz`` angles as affine coefficient rows,
each with its noise channel (:mod:`~.channels`), on the physical qubits actually used.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pennylane as qml
import torch

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum.devices import channels
from hqnn_pl.quantum.devices.config import DeviceNoise
from hqnn_pl.quantum.spec import CircuitSpec

__all__ = ["CompiledCircuit", "DeviceOp", "check_circuit", "compile_circuit"]

_GATE_SET = {"RX", "RY", "RZ", "Rot", "CNOT", "CZ", "Hadamard", "S", "Adjoint(S)", "PauliX",
             "PauliY", "PauliZ", "T", "SX", "SWAP"}  # fmt: skip
_QISKIT = {"RX": "rx", "RY": "ry", "RZ": "rz", "CNOT": "cx", "CZ": "cz", "Hadamard": "h",
           "S": "s", "Adjoint(S)": "sdg", "PauliX": "x", "PauliY": "y", "PauliZ": "z", "T": "t",
           "SX": "sx", "SWAP": "swap"}  # fmt: skip
_DIAGONAL_PARAMETRIC = ("rz", "p")


@dataclasses.dataclass(frozen=True)
class DeviceOp:
    """One instruction of a compiled circuit, on local qubits (first most significant).

    Attributes:
        name: Qiskit instruction name.
        qubits: Local qubit positions, in the instruction's order.
        unitary: Constant gate matrix, or None for an ``rz``.
        coeffs: For an ``rz``: angle = ``offset + coeffs @ concat(x, w)``.
        offset: The constant part of the angle.
        noise: The noise superoperator after the gate, or None.
        duration: Gate duration in seconds.
        n_inputs: How many of ``coeffs`` belong to inputs.
    """

    name: str
    qubits: tuple[int, ...]
    unitary: np.ndarray | None
    coeffs: np.ndarray | None
    offset: float
    noise: np.ndarray | None
    duration: float

    n_inputs: int = 0

    @property
    def uses_inputs(self) -> bool:
        """Whether the angle depends on inputs (its first ``n_inputs`` coefficients)."""
        return self.coeffs is not None and bool(np.any(self.coeffs[: self.n_inputs] != 0))


@dataclasses.dataclass
class CompiledCircuit:
    """A circuit compiled to a device, ready for :mod:`~.executor`.

    Attributes:
        device: The device's label.
        physical: The physical qubits used, in local order.
        ops: The instructions.
        initial: Local position of each wire at the start (initial layout).
        final: Local position of each wire at measurement (after routing).
        confusion: Readout confusion ``(n, 2, 2)`` of each wire's final qubit.
        n_inputs: Inputs of the circuit.
        n_weights: Weights of the circuit (flattened).
        amplitude: Whether the inputs are an initial state vector (amplitude embedding).
        circuit: The compiled Qiskit circuit (symbolic ``x`` and ``w``).
        depth: Its depth.
        two_qubit_gates: Its two-qubit gates.
        swaps: SWAPs the router inserted.
        duration: Device time of one execution in seconds (gates, ASAP, plus readout).
        measurement: ``"expval"`` (a Pauli per wire) or ``"probs"``.
    """

    device: str
    physical: tuple[int, ...]
    ops: list[DeviceOp]
    initial: tuple[int, ...]
    final: tuple[int, ...]
    confusion: np.ndarray
    n_inputs: int
    n_weights: int
    amplitude: bool
    circuit: Any
    depth: int
    two_qubit_gates: int
    swaps: int
    duration: float
    measurement: str = "expval"

    def qasm(self) -> str:
        """The compiled circuit as OpenQASM 3 (``x`` and ``w`` as input parameters)."""
        from qiskit import qasm3

        return qasm3.dumps(self.circuit)

    def stats(self) -> dict[str, Any]:
        """What the reports show of the compiled circuit."""
        return {
            "device": self.device,
            "physical_qubits": list(self.physical),
            "depth": self.depth,
            "two_qubit_gates": self.two_qubit_gates,
            "swaps": self.swaps,
            "gates": len(self.ops),
            "duration_s": self.duration,
        }


def _affine_tape(spec: CircuitSpec) -> tuple[Any, np.ndarray, np.ndarray, bool]:
    """The decomposed tape, and each gate parameter's affine coefficients and offset."""
    # Compiling may happen on a layer's first call under no_grad or inference_mode.
    with torch.inference_mode(False), torch.enable_grad():
        tape, rows, offsets, amplitude, sources = _recorded_tape(spec, 1234)
        _check_affine(spec, tape, rows, offsets, sources)
    return tape, rows, offsets, amplitude


def _decomposed(ops: list[Any], spec: CircuitSpec) -> tuple[list[Any], list[str]]:
    """Each operation decomposed into :data:`_GATE_SET`, with the operation it came from."""
    out: list[Any] = []
    sources: list[str] = []
    for op in ops:
        label = f"{op.name} on wires {list(op.wires)}"
        try:
            (part,), _ = qml.transforms.decompose(qml.tape.QuantumScript([op]), gate_set=_GATE_SET)
        except Exception as error:  # any failure: the operation cannot compile
            why = f"it does not decompose ({type(error).__name__})"
            raise _no_gate(label, spec, why) from None
        for gate in part.operations:
            if gate.name not in _QISKIT and gate.name not in ("Rot", "GlobalPhase"):
                raise _no_gate(label, spec, f"its {gate.name} has no Qiskit equivalent here")
            if gate.name != "GlobalPhase":
                out.append(gate)
                sources.append(label)
    return out, sources


def _no_gate(label: str, spec: CircuitSpec, why: str) -> ConfigurationError:
    return ConfigurationError(
        f"device noise cannot compile {label} of {spec.name}: {why}; write it with Pauli "
        "rotations, Rot, CNOT, CZ, SWAP or controlled rotations, or use gate-level noise "
        "(noise: {depolarizing: ...}) instead of a device."
    )


def _recorded_tape(
    spec: CircuitSpec, seed: int
) -> tuple[Any, np.ndarray, np.ndarray, bool, list[str]]:
    gen = torch.Generator().manual_seed(seed)
    x = spec.random_inputs(1, gen)[0].requires_grad_(True)
    w = (spec.random_weights(1, gen)[0] * 0.3 + 0.1).requires_grad_(True)
    tape = qml.tape.make_qscript(spec.qfunc)(x, w, **spec.kwargs)
    amplitude = spec.input_kind == "amplitude"
    ops = list(tape.operations)
    if amplitude:
        ops = ops[1:]  # the state preparation: the executor's initial state
    ops, sources = _decomposed(ops, spec)
    tape = qml.tape.QuantumScript(ops, tape.measurements)
    rows, offsets = [], []
    for op in tape.operations:
        for p in op.data:
            if not (isinstance(p, torch.Tensor) and p.requires_grad):
                rows.append(np.zeros(x.numel() + w.numel()))
                offsets.append(float(p))
                continue
            gx, gw = torch.autograd.grad(p, (x, w), retain_graph=True, allow_unused=True)
            gx = torch.zeros_like(x) if gx is None or amplitude else gx
            gw = torch.zeros_like(w) if gw is None else gw
            row = torch.cat([gx.reshape(-1), gw.reshape(-1)]).detach().numpy()
            value = torch.cat([x.reshape(-1), w.reshape(-1)]).detach().numpy()
            rows.append(row)
            offsets.append(float(p.detach()) - float(row @ value))
    rows_array = np.array(rows).reshape(-1, x.numel() + w.numel())
    return tape, rows_array, np.array(offsets), amplitude, sources


def _check_affine(
    spec: CircuitSpec, tape: Any, rows: np.ndarray, offsets: np.ndarray, sources: list[str]
) -> None:
    """Refuse angles that are not affine in the inputs and weights (checked at a second point)."""
    if spec.input_kind == "amplitude":
        return
    other, _, _, _, other_sources = _recorded_tape(spec, 4321)
    gen = torch.Generator().manual_seed(4321)
    x = spec.random_inputs(1, gen)[0]
    w = spec.random_weights(1, gen)[0] * 0.3 + 0.1
    value = torch.cat([x.reshape(-1), w.reshape(-1)]).detach().numpy()
    names = [op.name for op in tape.operations]
    if names != [op.name for op in other.operations] or sources != other_sources:
        raise ConfigurationError(
            f"device noise needs a circuit whose gates do not depend on the input values "
            f"({spec.name}); write its gates unconditionally."
        )
    index = 0
    for op, label in zip(other.operations, other_sources, strict=True):
        for p in op.data:
            got = float(p.detach()) if isinstance(p, torch.Tensor) else float(p)
            if abs(got - offsets[index] - rows[index] @ value) > 1e-9 * (1 + abs(got)):
                raise ConfigurationError(
                    f"device noise needs gate angles affine in the inputs and weights; the "
                    f"angle of {label} of {spec.name} is not (e.g. a product or sin of them); "
                    "write it as constant multiples of inputs and weights plus a constant, or "
                    "use gate-level noise (noise: {depolarizing: ...}) instead of a device."
                )
            index += 1


_BASIS_GATES = {"X": ["h"], "Y": ["sdg", "h"], "Z": []}


def _qiskit_circuit(
    spec: CircuitSpec, bases: tuple[str, ...] | None = None
) -> tuple[Any, bool, str]:
    """The spec's circuit in Qiskit on ``ParameterVector`` s, with diagonalising gates.

    With ``bases`` (a Pauli per wire), each wire is measured in its basis (the tape's
    measurements ignored) and the compiled circuit reads all ``2^n`` outcome probabilities.
    """
    from qiskit import QuantumCircuit
    from qiskit.circuit import ParameterVector

    tape, rows, offsets, amplitude = _affine_tape(spec)
    n_in = spec.n_inputs
    n_w = math.prod(spec.weight_shape)
    x, w = ParameterVector("x", n_in), ParameterVector("w", n_w)
    symbols = [*x, *w]

    def angle(i: int) -> Any:
        expr: Any = float(offsets[i])
        for j in np.flatnonzero(np.abs(rows[i]) > 1e-12):
            expr = expr + float(rows[i, j]) * symbols[j]
        return expr

    qc = QuantumCircuit(spec.n_qubits)
    index = 0
    for op in tape.operations:
        wires = [int(q) for q in op.wires]
        if op.name == "Rot":
            phi, theta, omega = angle(index), angle(index + 1), angle(index + 2)
            qc.rz(phi, wires[0])
            qc.ry(theta, wires[0])
            qc.rz(omega, wires[0])
        else:
            params = [angle(index + k) for k in range(len(op.data))]
            getattr(qc, _QISKIT[op.name])(*params, *wires)
        index += len(op.data)
    if bases is not None:
        for wire, pauli in enumerate(bases):
            for gate in _BASIS_GATES[pauli]:
                getattr(qc, gate)(wire)
        return qc, amplitude, "probs"
    measurement = "expval"
    for mp in tape.measurements:
        if isinstance(mp, qml.measurements.ProbabilityMP):
            measurement = "probs"
            continue
        for gate in mp.obs.diagonalizing_gates():
            getattr(qc, _QISKIT[gate.name])(*[int(q) for q in gate.wires])
    if measurement == "expval":
        observed = [int(mp.wires[0]) for mp in tape.measurements]
        if observed != list(range(spec.n_qubits)):
            raise ConfigurationError(
                f"device noise needs one measured Pauli per wire ({spec.name})."
            )
    return qc, amplitude, measurement


def check_circuit(spec: CircuitSpec, bases: tuple[str, ...] | None = None) -> None:
    """Whether ``spec``'s circuit can compile to a device (no transpiling): raise if not.

    Args:
        spec: The circuit.
        bases: The measured Pauli per wire (see :func:`compile_circuit`).

    Raises:
        ConfigurationError: In one line, naming the operation that cannot compile.
    """
    _qiskit_circuit(spec, bases)


def _affine(expr: Any, symbols: dict[Any, int], size: int) -> tuple[np.ndarray, float]:
    """Coefficients and offset of an affine Qiskit ``ParameterExpression`` (or number)."""
    row = np.zeros(size)
    if not hasattr(expr, "parameters"):
        return row, float(expr)
    for param in expr.parameters:
        grad = expr.gradient(param)
        if hasattr(grad, "parameters") and grad.parameters:
            raise ConfigurationError(f"device noise needs affine gate angles; got {expr}.")
        row[symbols[param]] = float(complex(grad).real)
    zero = expr.bind({p: 0.0 for p in expr.parameters})
    return row, float(complex(zero).real)


def _local_matrix(instruction: Any) -> np.ndarray:
    """The gate's matrix with its first qubit most significant (Qiskit's is least)."""
    matrix = np.asarray(instruction.operation.to_matrix(), dtype=complex)
    m = instruction.operation.num_qubits
    if m == 1:
        return matrix
    tensor = matrix.reshape([2] * (2 * m))
    rev = list(range(m))[::-1]
    return tensor.transpose([*rev, *[m + r for r in rev]]).reshape(2**m, 2**m)


def compile_circuit(
    spec: CircuitSpec, noise: DeviceNoise, bases: tuple[str, ...] | None = None
) -> CompiledCircuit:
    """Compile ``spec``'s circuit to ``noise``'s device (layout, routing, native gates).

    Args:
        spec: The layer's circuit.
        noise: The device, layout and transpiler settings.
        bases: A Pauli (``"X"``, ``"Y"``, ``"Z"``) per wire: measure each wire in it and read
            all ``2^n`` outcome probabilities (a user's Pauli words and ``probs``), instead of
            the tape's own measurements.

    Returns:
        The compiled circuit.

    Raises:
        ConfigurationError: When the layout does not fit the device or a gate cannot compile.
    """
    from qiskit import transpile

    backend = noise.backend()
    noise.check_layout(spec.n_qubits, spec.name)
    if spec.n_qubits > backend.num_qubits:
        raise ConfigurationError(
            f"{spec.name} needs {spec.n_qubits} qubits; {noise.label} has {backend.num_qubits}."
        )
    qc, amplitude, measurement = _qiskit_circuit(spec, bases)
    swaps: list[int] = [0]

    def count_swaps(**kwargs: Any) -> None:
        swaps[0] = max(swaps[0], kwargs["dag"].count_ops().get("swap", 0))

    tqc = transpile(
        qc,
        target=backend.target,
        initial_layout=list(noise.qubits) if noise.qubits is not None else None,
        optimization_level=noise.optimization_level,
        seed_transpiler=noise.seed,
        callback=count_swaps,
    )
    n = spec.n_qubits
    initial_phys = tqc.layout.initial_index_layout(filter_ancillas=True)[:n]
    final_phys = tqc.layout.final_index_layout(filter_ancillas=True)[:n]
    used = {tqc.find_bit(q).index for inst in tqc.data for q in inst.qubits}
    physical = tuple(sorted(used | set(initial_phys) | set(final_phys)))
    local = {q: i for i, q in enumerate(physical)}
    n_in, n_w = spec.n_inputs, math.prod(spec.weight_shape)
    symbols = {**{p: int(p.index) for p in qc.parameters if p.vector.name == "x"},
             **{p: n_in + int(p.index) for p in qc.parameters if p.vector.name == "w"}}  # fmt: skip
    target = backend.target
    ops, clock = [], dict.fromkeys(physical, 0.0)
    noise_cache: dict[tuple, np.ndarray | None] = {}
    two_qubit = 0
    for inst in tqc.data:
        name = inst.operation.name
        if name in ("barrier", "delay"):
            continue
        phys = tuple(tqc.find_bit(q).index for q in inst.qubits)
        key = (name, phys)
        if key not in noise_cache:
            noise_cache[key] = channels.gate_noise(target, name, phys)
        props = target[name].get(phys) if name in target else None
        duration = float(props.duration or 0.0) if props is not None else 0.0
        start = max(clock[q] for q in phys)
        for q in phys:
            clock[q] = start + duration
        two_qubit += len(phys) == 2
        params = inst.operation.params
        if params and any(hasattr(p, "parameters") for p in params):
            if name not in _DIAGONAL_PARAMETRIC:
                raise ConfigurationError(
                    f"device noise cannot run the parametric gate {name!r} of {noise.label}'s "
                    "compiled circuit (only rz angles may carry inputs or weights)."
                )
            row, offset = _affine(params[0], symbols, n_in + n_w)
            op = DeviceOp(name, tuple(local[q] for q in phys), None, row, offset,
                          noise_cache[key], duration, n_in)  # fmt: skip
        else:
            matrix = _local_matrix(inst)
            op = DeviceOp(name, tuple(local[q] for q in phys), matrix, None, 0.0,
                          noise_cache[key], duration, n_in)  # fmt: skip
        ops.append(op)
    readout = max((float(target["measure"][(q,)].duration or 0.0) for q in final_phys), default=0.0)
    confusion = np.stack([channels.readout_confusion(target, q) for q in final_phys])
    compiled = CompiledCircuit(
        device=noise.label, physical=physical, ops=ops,
        initial=tuple(local[q] for q in initial_phys), final=tuple(local[q] for q in final_phys),
        confusion=confusion, n_inputs=n_in, n_weights=n_w, amplitude=amplitude, circuit=tqc,
        depth=tqc.depth(), two_qubit_gates=two_qubit, swaps=swaps[0],
        duration=max(clock.values(), default=0.0) + readout, measurement=measurement,
    )  # fmt: skip
    return compiled
