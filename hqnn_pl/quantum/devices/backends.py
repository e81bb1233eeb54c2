"""IBM device calibrations: the fake provider's snapshots and calibration JSON files.

Qiskit, qiskit-ibm-runtime (and, for the tests and benchmark, qiskit-aer) are the optional extra
``[devices]``; they are imported lazily, and a missing extra is one line naming
``pip install "hqnn-pl[devices]"``. A device is named like its backend (``fake_torino``,
``FakeTorino`` or ``torino``); a ``calibration`` file is the JSON of a real backend's properties
(``backend.properties().to_dict()``: qubits' T1, T2 and readout errors, gates' errors and
lengths), from which a :class:`~qiskit.transpiler.Target` is built with the native gates and
the coupling map those properties list.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import re
from pathlib import Path
from typing import Any

from hqnn_pl.errors import ConfigurationError

__all__ = [
    "EXTRA_HINT",
    "CalibrationBackend",
    "device_names",
    "load_backend",
    "require_qiskit",
]

EXTRA_HINT = 'pip install "hqnn-pl[devices]"'
"""How to install what device noise needs."""


def require_qiskit(what: str = "device noise") -> Any:
    """Import qiskit, or fail in one line naming the extra.

    Args:
        what: What needs it, for the message.

    Returns:
        The ``qiskit`` module.

    Raises:
        ConfigurationError: When qiskit or qiskit-ibm-runtime is not installed.
    """
    try:
        qiskit = importlib.import_module("qiskit")
        importlib.import_module("qiskit_ibm_runtime.fake_provider")
    except ImportError as err:
        raise ConfigurationError(
            f"{what} needs qiskit and qiskit-ibm-runtime ({err.name} is missing); install the "
            f"extra: {EXTRA_HINT}."
        ) from err
    return qiskit


def _key(name: str) -> str:
    """``FakeTorino``, ``fake_torino``, ``torino`` and ``FakeManilaV2`` -> ``torino``/``manila``."""
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    key = key.removeprefix("fake")
    return key[:-2] if key.endswith("v2") else key


@functools.cache
def _fake_classes() -> dict[str, str]:
    require_qiskit()
    from qiskit_ibm_runtime import fake_provider

    classes = {}
    for attr in dir(fake_provider):
        cls = getattr(fake_provider, attr)
        fake = attr.startswith("Fake") and isinstance(cls, type) and hasattr(cls, "props_filename")
        if fake and (attr.endswith("V2") or _key(attr) not in classes):
            classes[_key(attr)] = attr
    return classes


def device_names() -> list[str]:
    """The names the fake provider knows, as ``fake_<name>``."""
    return sorted(f"fake_{key}" for key in _fake_classes())


class CalibrationBackend:
    """A minimal backend around a :class:`~qiskit.transpiler.Target` (what Aer and we read).

    Args:
        name: The backend's name.
        target: Its target.
    """

    version = 2

    def __init__(self, name: str, target: Any) -> None:
        self.name = name
        self.target = target
        self.dt = target.dt
        self.operation_names = list(target.operation_names)
        self.num_qubits = target.num_qubits
        self.coupling_map = target.build_coupling_map()


def _fake_backend(name: str) -> Any:
    classes = _fake_classes()
    key = _key(name)
    if key not in classes:
        close = [n for n in device_names() if key[:3] and key[:3] in n]
        hint = f" Close: {', '.join(close[:6])}." if close else ""
        raise ConfigurationError(
            f"Unknown device {name!r}: qiskit-ibm-runtime's fake provider has no such backend."
            f"{hint} Use one of hqnn_pl.quantum.devices.device_names() (e.g. fake_torino, "
            "fake_sherbrooke), or give calibration: <backend properties JSON>."
        )
    from qiskit_ibm_runtime import fake_provider

    return getattr(fake_provider, classes[key])()


def _target_from_properties(props: dict[str, Any]) -> Any:
    """A Target from a backend-properties dict (units: ns, us, GHz as IBM writes them)."""
    from qiskit.circuit import Measure, Parameter
    from qiskit.circuit.library import get_standard_gate_name_mapping
    from qiskit.providers import QubitProperties
    from qiskit.transpiler import InstructionProperties, Target

    scale = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "GHz": 1e9, "MHz": 1e6}

    def values(entries: list[dict[str, Any]]) -> dict[str, float]:
        return {e["name"]: float(e["value"]) * scale.get(e.get("unit", ""), 1.0) for e in entries}

    qubits = [values(q) for q in props["qubits"]]
    target = Target(
        num_qubits=len(qubits),
        qubit_properties=[
            QubitProperties(t1=q.get("T1"), t2=q.get("T2"), frequency=q.get("frequency"))
            for q in qubits
        ],
    )
    gates: dict[str, dict[tuple[int, ...], Any]] = {}
    for gate in props["gates"]:
        par = values(gate.get("parameters", []))
        gates.setdefault(gate["gate"], {})[tuple(gate["qubits"])] = InstructionProperties(
            duration=par.get("gate_length"), error=par.get("gate_error")
        )
    mapping = get_standard_gate_name_mapping()
    for name, entries in gates.items():
        if name not in mapping:
            continue
        gate = mapping[name]
        if name in ("rz", "rx", "ry", "p"):
            gate = type(gate)(Parameter("θ"))
        target.add_instruction(gate, entries)
    measure = {}
    for index, q in enumerate(qubits):
        prop = InstructionProperties(duration=q.get("readout_length"), error=q.get("readout_error"))
        if "prob_meas1_prep0" in q and "prob_meas0_prep1" in q:
            prop.prob_meas1_prep0 = q["prob_meas1_prep0"]
            prop.prob_meas0_prep1 = q["prob_meas0_prep1"]
        measure[(index,)] = prop
    target.add_instruction(Measure(), measure)
    return target


@functools.cache
def _calibration_backend(path: str) -> CalibrationBackend:
    require_qiskit()
    file = Path(path)
    fix = (
        "give the JSON of a backend's properties (backend.properties().to_dict(): 'qubits', "
        "'gates', 'backend_name'), or use device: fake_<name>"
    )
    try:
        props = json.loads(file.read_text())
        target = _target_from_properties(props)
        name = str(props.get("backend_name", file.stem))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigurationError(
            f"calibration file {path!r} does not parse as backend properties ({detail}); {fix}."
        ) from err
    if not any(
        len(q) == 2
        for name_ in target.operation_names
        for q in target.qargs_for_operation_name(name_) or ()
    ):
        raise ConfigurationError(f"calibration file {path!r} lists no two-qubit gate; {fix}.")
    return CalibrationBackend(name, target)


@functools.cache
def load_backend(device: str | None = None, calibration: str | None = None) -> Any:
    """The backend of a device name or of a calibration file (cached).

    Args:
        device: A fake provider name (``fake_torino``), or None.
        calibration: Path of a backend-properties JSON, or None.

    Returns:
        A BackendV2-like object with ``name``, ``target``, ``dt`` and ``operation_names``.

    Raises:
        ConfigurationError: Missing extra, unknown name, unreadable file.
    """
    if calibration is not None:
        return _calibration_backend(str(calibration))
    if device is None:
        raise ConfigurationError("device noise needs device: <name> or calibration: <file>.")
    return _fake_backend(device)


def duration_seconds(value: float | None) -> float:
    """A duration as a float (0 for None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0.0
    return float(value)
