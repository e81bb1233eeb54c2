"""How a circuit runs: one frozen, self-validating value passed whole from the config to a layer.

:class:`Execution` gathers every setting that changes how a quantum layer computes, not what it
computes: the backend, the PennyLane device and differentiation method, shots, noise, the torch
engine's method and, for tests, benchmarks and experts, the exact route. Layers and models take
it as one argument, ``execution``; in YAML::

    model:
      init_args:
        execution: {shots: 1000, noise: {depolarizing: 0.01}}

and on the command line ``--model.init_args.execution.shots 1000``. A checkpoint may be loaded
with another execution (the weights mean the same on every route).

Routes (:data:`ROUTES`) name the code path that runs one call of the torch backend:

* exact, noise-free: ``dense`` (the circuit's unitary built by torch ops), ``host_unitary``
  (the unitary built in NumPy with a written-out backward, CPU), ``host_readout`` (the whole
  circuit in NumPy as one autograd node, CPU, small circuits), ``shifted`` (the unitary's
  gradient from shifted unitaries), ``gatewise`` (a state vector gate by gate, adjoint
  backward), ``fused`` (a user circuit's gates fused into blocks of a few wires, its input
  gates as diagonal phase layers: :mod:`~hqnn_pl.quantum.engine.fused`), ``heisenberg``
  (Pauli strings of small quanvolution patches);
* noise and/or shots: ``dense_shots`` (shots without noise, distribution from the dense unitary),
  ``density`` (observables evolved through the noise channels, any shots), ``pauli_transfer``
  (exact noisy quanvolutions in the Pauli-transfer picture);
* ``device``: a device's noise (``noise: {device: fake_torino}``): the circuit compiled to the
  device's layout, routing and native gates, with its calibration's per-gate channels
  (:mod:`hqnn_pl.quantum.devices`), any shots;
* ``pennylane``: the QNode of the pennylane backend.

``route="auto"`` (the default) lets the planner (:mod:`hqnn_pl.quantum.engine.planner`) pick
per call shape; a forced route that cannot serve a layer or a call is a one-line
:class:`~hqnn_pl.errors.ConfigurationError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

import torch

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum.circuits import DIFF_METHODS
from hqnn_pl.quantum.devices.config import DeviceNoise
from hqnn_pl.quantum.engine.planner import route_method
from hqnn_pl.quantum.engine.shots import check_shots
from hqnn_pl.quantum.noise import Noise, check_noise_device, parse_noise

__all__ = [
    "BACKENDS",
    "DEFAULT_EXECUTION",
    "EXACT_ROUTES",
    "METHODS",
    "NOISY_ROUTES",
    "ROUTES",
    "Execution",
    "Route",
    "as_execution",
    "route_method",
]

Route = Literal[
    "auto",
    "pennylane",
    "dense",
    "host_unitary",
    "host_readout",
    "shifted",
    "gatewise",
    "fused",
    "heisenberg",
    "dense_shots",
    "density",
    "pauli_transfer",
    "device",
]
ROUTES: tuple[str, ...] = Route.__args__
"""Every value of ``route``."""
EXACT_ROUTES = (
    "dense", "host_unitary", "host_readout", "shifted", "gatewise", "fused", "heisenberg",
)  # fmt: skip
"""Routes of noise-free exact execution on the torch backend."""
NOISY_ROUTES = ("dense_shots", "density", "pauli_transfer", "device")
"""Routes of the torch backend with noise and/or shots."""
BACKENDS = ("torch", "pennylane")
"""Values of ``backend``."""
METHODS = ("auto", "dense", "gatewise", "heisenberg")
"""Values of ``method`` (each layer accepts a subset: ``heisenberg`` is Quanv2d's)."""


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ConfigurationError(f"Unknown {name} {value!r}; valid choices: {options}.")


@dataclasses.dataclass(frozen=True)
class Execution:
    """How a quantum layer runs its circuits (see the module docstring for the routes).

    Args:
        backend: ``"torch"`` (exact batched simulation in PyTorch, CPU/CUDA) or
            ``"pennylane"`` (a QNode on ``device``: other simulators, shots, hardware).
        device: PennyLane device name of the pennylane backend, e.g. ``"default.qubit"``,
            ``"lightning.qubit"`` or ``"default.mixed"`` (needed for noise).
        diff_method: QNode differentiation method of the pennylane backend (``"backprop"``,
            ``"adjoint"``, ``"parameter-shift"``, ...); the torch backend differentiates exactly.
        shots: Measurement shots per circuit execution (both backends; the torch backend
            samples all qubits jointly from a seeded generator); None for exact expectations.
        shot_gradients: With shots on the torch backend: ``"exact"`` (the default: gradients
            of the exact expectation) or ``"parameter-shift"`` (sampled shift rule, as on
            hardware).
        noise: Gate and readout noise, e.g. ``{depolarizing: 0.01, amplitude_damping: 0.002,
            readout: 0.02}`` (all keys optional; see :mod:`hqnn_pl.quantum.noise`); None for
            none. Both backends run it exactly (pennylane: ``device="default.mixed"``). Or a
            real device's calibration: ``{device: fake_torino, qubits: [...],
            optimization_level: 1, seed: 0}`` or ``{calibration: props.json}`` (torch backend,
            route ``device``; see :mod:`hqnn_pl.quantum.devices`).
        method: The torch engine's method: ``"auto"`` (a cost model of qubits, depth, batch),
            ``"dense"`` (the ``2^n x 2^n`` unitary), ``"gatewise"`` (a state vector gate by
            gate; CircuitLayer runs it on the ``fused`` route) or ``"heisenberg"`` (Pauli
            strings; Quanv2d only).
        route: ``"auto"`` or one route of :data:`ROUTES` to force (tests, benchmarks).

    Raises:
        ConfigurationError: Naming the bad value and the fix, at construction.
    """

    backend: Literal["torch", "pennylane"] = "torch"
    device: str = "default.qubit"
    diff_method: str = "backprop"
    shots: int | None = None
    shot_gradients: Literal["exact", "parameter-shift"] | None = None
    noise: dict[str, Any] | None = None
    method: Literal["auto", "dense", "gatewise", "heisenberg"] = "auto"
    route: Route = "auto"

    def __post_init__(self) -> None:
        _choice("backend", self.backend, BACKENDS)
        _choice("method", self.method, METHODS)
        _choice("route", self.route, ROUTES)
        noise = parse_noise(self.noise)
        object.__setattr__(self, "noise", None if noise is None else noise.as_dict())
        check_shots(self.shots, self.shot_gradients)
        check_noise_device(noise, self.backend, self.device)
        if isinstance(noise, DeviceNoise):
            noise.check()
            if self.shot_gradients == "parameter-shift":
                raise ConfigurationError(
                    "shot_gradients='parameter-shift' is not available with device noise; use "
                    "shot_gradients 'exact' (or drop it)."
                )
        if self.shot_gradients is not None and self.backend != "torch":
            raise ConfigurationError(
                f"shot_gradients={self.shot_gradients!r} is an option of backend='torch'; the "
                "pennylane backend differentiates with its diff_method."
            )
        if self.backend == "torch":
            _choice("diff_method", self.diff_method, DIFF_METHODS)
        self._check_route()

    def _check_route(self) -> None:
        route = self.route
        if route == "auto":
            return
        if (route == "pennylane") != (self.backend == "pennylane"):
            raise ConfigurationError(
                f"route={route!r} does not run on backend={self.backend!r}; use route 'auto', "
                "or backend 'pennylane' with route 'pennylane' (torch: any other route)."
            )
        noisy = self.noise is not None or self.shots is not None
        device_noise = isinstance(self.noise_model, DeviceNoise)
        if (route == "device") != device_noise:
            raise ConfigurationError(
                f"route={route!r} with noise={self.noise!r}: route 'device' runs exactly the "
                "device noise (noise: {device: fake_torino}) and device noise runs only there; "
                "use route 'auto'."
            )
        if route in EXACT_ROUTES and noisy:
            raise ConfigurationError(
                f"route={route!r} runs noise-free exact circuits, but execution has "
                f"noise={self.noise!r}, shots={self.shots!r}; use route 'auto', 'density', "
                "'dense_shots' or 'pauli_transfer', or drop noise and shots."
            )
        if route in NOISY_ROUTES and not noisy:
            raise ConfigurationError(
                f"route={route!r} simulates noise or shots, but execution has neither; set "
                "noise or shots, or use route 'auto' or an exact route."
            )
        if route == "dense_shots" and self.noise is not None:
            raise ConfigurationError(
                f"route='dense_shots' samples noise-free circuits, but noise={self.noise!r}; "
                "use route 'density' (or 'auto')."
            )
        if route == "pauli_transfer" and self.shots is not None:
            raise ConfigurationError(
                f"route='pauli_transfer' computes exact expectations, but shots={self.shots}; "
                "use route 'density' (or 'auto')."
            )
        method = route_method(route)
        if method is not None and self.method not in ("auto", method):
            raise ConfigurationError(
                f"route={route!r} belongs to method {method!r}, not method={self.method!r}; set "
                f"method 'auto' or {method!r}."
            )

    @property
    def noise_model(self) -> Noise | DeviceNoise | None:
        """The parsed :class:`~hqnn_pl.quantum.noise.Noise` (or a device's), or None."""
        return parse_noise(self.noise)

    @property
    def device_noise(self) -> DeviceNoise | None:
        """The device's noise settings when ``noise`` names a device, else None."""
        noise = self.noise_model
        return noise if isinstance(noise, DeviceNoise) else None

    @property
    def noisy(self) -> bool:
        """Whether the torch backend runs with noise and/or shots."""
        return self.backend == "torch" and (self.noise is not None or self.shots is not None)

    def as_dict(self) -> dict[str, Any]:
        """The fields as plain values (for JSON and YAML)."""
        return dataclasses.asdict(self)


DEFAULT_EXECUTION = Execution()
"""Exact simulation on the torch backend, method and route chosen per call."""


def as_execution(value: Execution | Mapping[str, Any] | None) -> Execution:
    """An :class:`Execution` from itself, a mapping of its fields, or None (the default).

    Args:
        value: What a layer or model was given.

    Returns:
        The execution.

    Raises:
        ConfigurationError: For a mapping with unknown keys (the valid ones are listed) or
            another type.
    """
    if value is None:
        return DEFAULT_EXECUTION
    if isinstance(value, Execution):
        return value
    if isinstance(value, Mapping):
        names = [field.name for field in dataclasses.fields(Execution)]
        unknown = [key for key in value if key not in names]
        if unknown:
            raise ConfigurationError(
                f"Unknown execution key(s) {', '.join(map(repr, unknown))}; valid keys: "
                f"{', '.join(names)}."
            )
        return Execution(**value)
    raise ConfigurationError(
        f"execution must be an Execution or a mapping like {{shots: 1000}}; got {value!r}."
    )


# Checkpoints keep the execution among their hyperparameters: let torch.load(weights_only=True)
# read it back.
torch.serialization.add_safe_globals([Execution])
