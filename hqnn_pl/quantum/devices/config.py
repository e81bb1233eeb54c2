"""The device-noise settings of ``Execution.noise``: :class:`DeviceNoise`.

In YAML::

    execution:
      noise: {device: fake_torino, qubits: [0, 1, 2, 3, 4], optimization_level: 1, seed: 0}

``device`` names a snapshot of qiskit-ibm-runtime's fake provider; ``calibration`` instead gives
a backend-properties JSON file. ``qubits`` is the initial layout (physical qubit of each circuit
wire; default: the transpiler's choice, seeded), ``optimization_level`` and ``seed`` are the
transpiler's. Nothing here imports qiskit until a value is checked against its backend.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from hqnn_pl.errors import ConfigurationError

__all__ = ["DEVICE_KEYS", "DeviceNoise", "is_device_spec"]

DEVICE_KEYS = ("device", "calibration", "qubits", "optimization_level", "seed")
"""Keys of a device-noise mapping."""


def is_device_spec(spec: Any) -> bool:
    """Whether a noise mapping asks for device noise (has ``device`` or ``calibration``)."""
    return isinstance(spec, DeviceNoise) or (
        isinstance(spec, Mapping) and ("device" in spec or "calibration" in spec)
    )


@dataclasses.dataclass(frozen=True)
class DeviceNoise:
    """Noise, layout and routing of a real device's calibration.

    Args:
        device: Fake-provider backend name (``fake_torino``, ``fake_sherbrooke``, ...).
        calibration: Path of a backend-properties JSON (instead of ``device``).
        qubits: Initial layout: the physical qubit of each wire, or None (transpiler's choice).
        optimization_level: Qiskit transpiler optimisation level, 0-3.
        seed: The transpiler's seed (layout and routing are reproducible).

    Raises:
        ConfigurationError: Naming the bad value and the fix.
    """

    device: str | None = None
    calibration: str | None = None
    qubits: tuple[int, ...] | None = None
    optimization_level: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if (self.device is None) == (self.calibration is None):
            raise ConfigurationError(
                f"device noise needs exactly one of device (e.g. fake_torino) and calibration "
                f"(a backend-properties JSON); got device={self.device!r}, "
                f"calibration={self.calibration!r}."
            )
        level = self.optimization_level
        if isinstance(level, bool) or level not in (0, 1, 2, 3):
            raise ConfigurationError(
                f"noise optimization_level must be 0, 1, 2 or 3 (Qiskit's transpiler); got "
                f"{level!r}."
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigurationError(f"noise seed must be an int; got {self.seed!r}.")
        if self.qubits is not None:
            qubits = self.qubits
            if isinstance(qubits, str | bytes) or not all(
                isinstance(q, int) and not isinstance(q, bool) and q >= 0 for q in qubits
            ):
                raise ConfigurationError(
                    f"noise qubits must be a list of physical qubit indices like [0, 1, 2]; got "
                    f"{qubits!r}."
                )
            if len(set(qubits)) != len(qubits):
                raise ConfigurationError(
                    f"noise qubits {list(qubits)} repeat a qubit; list each once."
                )
            object.__setattr__(self, "qubits", tuple(qubits))

    @classmethod
    def parse(cls, spec: Mapping[str, Any]) -> DeviceNoise:
        """From a YAML mapping (unknown keys are refused, listing the valid ones)."""
        unknown = [key for key in spec if key not in DEVICE_KEYS]
        if unknown:
            raise ConfigurationError(
                f"Unknown device-noise key(s) {', '.join(map(repr, unknown))}; valid keys: "
                f"{', '.join(DEVICE_KEYS)} (uniform noise keys do not mix with a device)."
            )
        return cls(**dict(spec))

    @property
    def label(self) -> str:
        """The device's name as reports show it."""
        return self.device if self.device is not None else str(self.calibration)

    def backend(self) -> Any:
        """The calibrated backend (loads qiskit; cached)."""
        from hqnn_pl.quantum.devices.backends import load_backend

        return load_backend(self.device, self.calibration)

    def check(self) -> None:
        """Load the backend and check the layout's qubits exist on it.

        Raises:
            ConfigurationError: Missing extra, unknown device, unreadable calibration, qubits
                outside the device.
        """
        backend = self.backend()
        if self.qubits is not None:
            outside = [q for q in self.qubits if q >= backend.num_qubits]
            if outside:
                raise ConfigurationError(
                    f"noise qubits {outside} do not exist on {self.label} ({backend.num_qubits} "
                    f"qubits: 0-{backend.num_qubits - 1}); choose qubits on the device."
                )

    def check_layout(self, n_qubits: int, what: str) -> None:
        """Refuse a layout with too few qubits for a circuit, or qubits that are not coupled.

        Args:
            n_qubits: Wires of the circuit.
            what: The layer, for the message.

        Raises:
            ConfigurationError: Naming the qubits and the fix.
        """
        if self.qubits is None:
            return
        if len(self.qubits) != n_qubits:
            raise ConfigurationError(
                f"{what} has {n_qubits} wires but noise qubits {list(self.qubits)} lists "
                f"{len(self.qubits)}; give one physical qubit per wire (or drop qubits)."
            )
        coupling = self.backend().coupling_map
        graph = coupling.graph.to_undirected()
        chosen = set(self.qubits)
        seen, todo = {self.qubits[0]}, [self.qubits[0]]
        while todo:
            for nb in graph.neighbors(todo.pop()):
                if nb in chosen and nb not in seen:
                    seen.add(nb)
                    todo.append(nb)
        if len(self.qubits) > 1 and seen != chosen:
            apart = sorted(chosen - seen)
            raise ConfigurationError(
                f"noise qubits {list(self.qubits)} are not coupled on {self.label}: {apart} "
                f"are not connected to qubit {self.qubits[0]} through the others; choose a "
                "connected set of physical qubits (or drop qubits to let the transpiler choose)."
            )

    def as_dict(self) -> dict[str, Any]:
        """The settings as given in YAML (defaults left out)."""
        out: dict[str, Any] = {}
        if self.device is not None:
            out["device"] = self.device
        if self.calibration is not None:
            out["calibration"] = self.calibration
        if self.qubits is not None:
            out["qubits"] = list(self.qubits)
        if self.optimization_level != 1:
            out["optimization_level"] = self.optimization_level
        if self.seed != 0:
            out["seed"] = self.seed
        return out
