"""Recording a user's circuit: decomposition to gates, build modes, measurements, refusals."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pennylane as qml
import torch
from torch import Tensor

from hqnn_pl.errors import ConfigurationError

__all__ = ["Measurement", "record_tape"]

_FALLBACK = "it can run on `backend: pennylane` instead (execution: {backend: pennylane})"


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
