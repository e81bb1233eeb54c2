"""The gate-noise and readout-noise model, defined once in PennyLane terms.

A :class:`Noise` holds three optional strengths. Its meaning, for every circuit of
:mod:`hqnn_pl.quantum.circuits`, is the PennyLane noise model :meth:`Noise.pennylane_model`
applied with ``qml.add_noise`` (which first decomposes templates into their gates):

* after **every gate as the circuit is written** (each embedding rotation, each ``Rot`` and each
  ``CNOT`` of StronglyEntanglingLayers, each gate of the Quanv block and of RandomLayers; not the
  state preparation of QPCNN's amplitude embedding), ``DepolarizingChannel(depolarizing)`` and
  then ``AmplitudeDamping(amplitude_damping)`` on every wire the gate touches;
* before measurement, ``BitFlip(readout)`` on every wire. It is inserted on the circuit, before
  the measured Pauli's diagonalising gates (which PennyLane's devices apply noise-free): a bit
  flip scales ``<Z>`` and ``<Y>`` by ``1 - 2 readout`` and leaves ``<X>`` unchanged.

The ``pennylane`` backend runs exactly this model on ``default.mixed`` (the oracle); the torch
backend executes it exactly (:mod:`hqnn_pl.quantum.engine.density`) from the same channels'
Kraus matrices (:meth:`Noise.gate_kraus`, :meth:`Noise.readout_kraus`), taken from PennyLane.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pennylane as qml

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum.devices.config import DeviceNoise, is_device_spec

__all__ = ["MIXED_DEVICES", "NOISE_KEYS", "Noise", "NoiseSpec", "parse_noise"]

NOISE_KEYS = ("depolarizing", "amplitude_damping", "readout")
"""Keys of a noise mapping: ``{depolarizing: p, amplitude_damping: g, readout: r}``."""

MIXED_DEVICES = ("default.mixed",)
"""PennyLane devices that simulate mixed states (needed for the pennylane backend with noise)."""

NoiseSpec = dict[str, Any] | None
"""What ``Execution.noise`` accepts: a dict with keys from :data:`NOISE_KEYS` (or a device's
keys, :data:`~hqnn_pl.quantum.devices.config.DEVICE_KEYS`), or None."""


@dataclasses.dataclass(frozen=True)
class Noise:
    """Strengths of the three channels (0 means the channel is absent).

    Args:
        depolarizing: ``p`` of ``DepolarizingChannel`` after every gate, in ``[0, 3/4]``.
        amplitude_damping: ``gamma`` of ``AmplitudeDamping`` after every gate, in
            ``[0, 1]``.
        readout: ``p`` of ``BitFlip`` on every wire before measurement, in ``[0, 1]``.
    """

    depolarizing: float = 0.0
    amplitude_damping: float = 0.0
    readout: float = 0.0

    def __post_init__(self) -> None:
        for key in NOISE_KEYS:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigurationError(f"noise {key} must be a number; got {value!r}.")
            upper = 0.75 if key == "depolarizing" else 1.0
            if not (0.0 <= value <= upper) or math.isnan(value):
                extra = " (above 3/4 depolarizing is no longer a noise)" if upper < 1 else ""
                raise ConfigurationError(
                    f"noise {key}={value!r} is outside [0, {upper:g}]{extra}; use a probability "
                    f"in that range."
                )
            object.__setattr__(self, key, float(value))

    @property
    def has_gate_noise(self) -> bool:
        """Whether any channel follows the gates."""
        return self.depolarizing > 0 or self.amplitude_damping > 0

    def as_dict(self) -> dict[str, float]:
        """The non-zero strengths, as given in YAML."""
        return {k: getattr(self, k) for k in NOISE_KEYS if getattr(self, k) > 0}

    def gate_kraus(self) -> list[np.ndarray]:
        """Kraus matrices of the per-wire channel after a gate: depolarizing, then damping.

        Returns:
            Complex ``(2, 2)`` arrays ``K_a @ K_d`` for every pair of PennyLane's Kraus matrices.
        """
        dep = qml.DepolarizingChannel(self.depolarizing, wires=0).kraus_matrices()
        damp = qml.AmplitudeDamping(self.amplitude_damping, wires=0).kraus_matrices()
        return [np.asarray(a, complex) @ np.asarray(d, complex) for a in damp for d in dep]

    def readout_kraus(self) -> list[np.ndarray]:
        """Kraus matrices of the per-wire readout channel (``BitFlip``)."""
        return [np.asarray(k, complex) for k in qml.BitFlip(self.readout, wires=0).kraus_matrices()]

    def pennylane_model(self) -> qml.NoiseModel:
        """This noise as a ``qml.NoiseModel`` for ``qml.add_noise`` (the definition)."""

        def not_state_prep(op: Any) -> bool:
            return not isinstance(op, qml.operation.StatePrepBase | qml.AmplitudeEmbedding)

        def after_gate(op: Any, **_: Any) -> None:
            for wire in op.wires:
                if self.depolarizing > 0:
                    qml.DepolarizingChannel(self.depolarizing, wires=wire)
                if self.amplitude_damping > 0:
                    qml.AmplitudeDamping(self.amplitude_damping, wires=wire)

        def before_measurement(mp: Any, **_: Any) -> None:
            for wire in mp.wires:
                qml.BitFlip(self.readout, wires=wire)

        model_map = {qml.BooleanFn(not_state_prep): after_gate} if self.has_gate_noise else {}
        meas_map = None
        if self.readout > 0:
            meas_map = {qml.BooleanFn(lambda mp: True): before_measurement}
        return qml.NoiseModel(model_map, meas_map=meas_map)


def parse_noise(spec: NoiseSpec | Noise | DeviceNoise) -> Noise | DeviceNoise | None:
    """Validate a noise specification from YAML or Python.

    Args:
        spec: None (no noise), a :class:`Noise`, a mapping with keys from :data:`NOISE_KEYS`,
            or a device's noise (a mapping with ``device`` or ``calibration``, see
            :class:`~hqnn_pl.quantum.devices.config.DeviceNoise`).

    Returns:
        The :class:`Noise` or :class:`~hqnn_pl.quantum.devices.config.DeviceNoise`, or None
        when ``spec`` is None or empty.

    Raises:
        ConfigurationError: For an unknown key (the valid ones are listed) or an out-of-range
            strength.
    """
    if spec is None or isinstance(spec, Noise | DeviceNoise):
        return spec
    if is_device_spec(spec):
        return DeviceNoise.parse(spec)
    if not isinstance(spec, Mapping):
        raise ConfigurationError(
            f"noise must be a mapping like {{depolarizing: 0.01, amplitude_damping: 0.002, "
            f"readout: 0.02}} or null; got {spec!r}."
        )
    unknown = [key for key in spec if key not in NOISE_KEYS]
    if unknown:
        raise ConfigurationError(
            f"Unknown noise key(s) {', '.join(map(repr, unknown))}; valid keys: "
            f"{', '.join(NOISE_KEYS)}."
        )
    if not spec:
        return None
    return Noise(**dict(spec))


def check_noise_device(noise: Noise | DeviceNoise | None, backend: str, device: str) -> None:
    """Refuse noise on a PennyLane device that cannot simulate mixed states.

    Args:
        noise: The parsed noise (None: nothing to check).
        backend: The layer's backend.
        device: The PennyLane device name.

    Raises:
        ConfigurationError: If the pennylane backend would run noise on a pure-state device.
    """
    if isinstance(noise, DeviceNoise) and backend == "pennylane":
        raise ConfigurationError(
            f"device noise ({noise.label}) runs on backend='torch' (exact, compiled to the "
            "device); drop backend='pennylane'."
        )
    if noise is not None and backend == "pennylane" and device not in MIXED_DEVICES:
        raise ConfigurationError(
            f"noise needs a PennyLane device that simulates mixed states; device={device!r} "
            f"cannot. Use device='default.mixed' (or backend='torch', which runs noise exactly)."
        )
