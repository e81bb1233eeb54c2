"""The planner: which named route runs one call of a circuit (see :mod:`hqnn_pl.quantum.execution`).

One function, :func:`plan_route`, turns a circuit's shape, a call's batch, device and dtype and
the layer's :class:`~hqnn_pl.quantum.execution.Execution` (noise, shots, method, a forced route)
into a route name; :class:`Planner` caches its answer per call shape, so a layer's forward pass
pays one dictionary lookup. The rules, in order:

* the pennylane backend runs its QNode (``pennylane``); a forced route is checked and kept;
* a device's noise runs ``device`` (every layer: its circuit compiled to the device);
* with noise or shots: ``dense_shots`` (shots without noise, up to
  :data:`DENSE_SHOT_QUBITS`), ``pauli_transfer`` (exact noisy quanvolutions up to
  :data:`PAULI_TRANSFER_QUBITS`), else ``density``;
* noise-free: ``heisenberg`` for quanvolution patches of up to :data:`HEISENBERG_QUBITS`;
  ``fused`` for a user's circuit (:class:`~hqnn_pl.quantum.CircuitLayer`) unless its method is
  ``dense``; a fixed circuit (unitary built once) takes ``dense`` while its ``4^n`` matmul is
  at most the gate-wise work; a trained circuit takes the faster method by the cost model
  (:func:`~.cost.choose_method`), and within the dense method ``host_readout``, ``shifted``,
  ``host_unitary`` or ``dense`` by circuit size and device (:func:`~.host_readout.
  use_host_readout`, :func:`~.shifted.use_shifted`, :func:`~.host_unitary.use_host`).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, NamedTuple

import torch

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum.engine.cost import check_memory, choose_method
from hqnn_pl.quantum.engine.host_readout import use_host_readout
from hqnn_pl.quantum.engine.host_unitary import use_host
from hqnn_pl.quantum.engine.shifted import use_shifted

if TYPE_CHECKING:
    from hqnn_pl.quantum.execution import Execution

HOST_ROUTES = ("host_unitary", "host_readout")
"""Routes that compute in NumPy on the CPU."""
_METHOD_OF_ROUTE = {
    "dense": "dense",
    "host_unitary": "dense",
    "host_readout": "dense",
    "shifted": "dense",
    "gatewise": "gatewise",
    "fused": "gatewise",
    "heisenberg": "heisenberg",
}


def route_method(route: str) -> str | None:
    """The ``method`` a noise-free exact route belongs to (None for the others)."""
    return _METHOD_OF_ROUTE.get(route)


__all__ = [
    "DENSE_SHOT_QUBITS",
    "HEISENBERG_QUBITS",
    "HOST_ROUTES",
    "PAULI_TRANSFER_QUBITS",
    "CircuitShape",
    "Planner",
    "plan_route",
    "route_method",
]

DENSE_SHOT_QUBITS = 10
"""Noise-free shots up to this many qubits take their distribution from the dense unitary."""
PAULI_TRANSFER_QUBITS = 5
"""Exact noisy quanvolutions up to this many qubits run in the Pauli-transfer picture."""
HEISENBERG_QUBITS = 4
"""Largest patch (in qubits) simulated in the Heisenberg picture: ``3^n`` Pauli strings."""


@dataclasses.dataclass(frozen=True)
class CircuitShape:
    """What the planner knows of a layer's circuit.

    Attributes:
        what: The layer, for error messages (e.g. ``"ParallelQuantumLayer(n_qubits=5)"``).
        n_qubits: Qubits of one circuit.
        layers: Layers of single-qubit gates (the cost model's depth).
        circuits: Circuits run side by side.
        weights_per_circuit: Trained angles per circuit.
        routes: The routes the layer implements.
        fixed_ops: For a circuit whose unitary is fixed (built once, e.g. RandomLayers): an
            upper bound of its gates and CNOT runs; None for a trained circuit.
    """

    what: str
    n_qubits: int
    layers: int
    circuits: int
    weights_per_circuit: int
    routes: tuple[str, ...]
    fixed_ops: int | None = None


class _Call(NamedTuple):
    """What the planner knows of one call."""

    batch: int
    device: torch.device
    dtype: torch.dtype

    def check_memory(self, shape: CircuitShape, method: str) -> None:
        """Refuse the call when ``method`` would not fit in memory (see ``cost.check_memory``)."""
        real_bytes = torch.finfo(self.dtype).bits // 8
        check_memory(
            shape.what, method, shape.n_qubits, shape.layers, shape.circuits, self.batch,
            real_bytes, self.device,
        )  # fmt: skip

    @property
    def on_host(self) -> bool:
        """Whether NumPy can serve the call: on the CPU, outside ``torch.compile``."""
        return self.device.type == "cpu" and not torch.compiler.is_compiling()


def _noisy_route(execution: Execution, shape: CircuitShape) -> str:
    if execution.device_noise is not None:
        return "device"
    n = shape.n_qubits
    if execution.noise is None and "dense_shots" in shape.routes and n <= DENSE_SHOT_QUBITS:
        return "dense_shots"
    if execution.shots is None and "pauli_transfer" in shape.routes and n <= PAULI_TRANSFER_QUBITS:
        return "pauli_transfer"
    return "density"


def _exact_route(execution: Execution, shape: CircuitShape, call: _Call) -> str:
    n, routes, method = shape.n_qubits, shape.routes, execution.method
    amplitudes = {"dense", "gatewise", "fused"} & set(routes)
    if method == "heisenberg" or (
        method == "auto" and "heisenberg" in routes and (n <= HEISENBERG_QUBITS or not amplitudes)
    ):
        return "heisenberg"
    if "fused" in routes and method in ("auto", "gatewise"):  # a user's circuit, state vector
        call.check_memory(shape, "gatewise")
        return "fused"
    if shape.fixed_ops is not None:  # one (2N x N) matmul per sample vs a pass per gate
        if method == "auto":
            method = "dense" if 4**n <= 4 * 2**n * shape.fixed_ops else "gatewise"
        call.check_memory(shape, method)
        return method
    host = "host_unitary" in routes and use_host(call.device, n)
    real_bytes = torch.finfo(call.dtype).bits // 8
    method = choose_method(method, n, shape.layers, shape.circuits, call.batch, real_bytes, host)
    call.check_memory(shape, method)
    if method == "gatewise":
        return "gatewise"
    if "host_readout" in routes and use_host_readout(call.device, n, shape.circuits, call.batch):
        return "host_readout"
    if "shifted" in routes and not host and use_shifted(n, shape.weights_per_circuit):
        return "shifted"
    return "host_unitary" if host else "dense"


def _forced_route(execution: Execution, shape: CircuitShape, call: _Call) -> str:
    route = execution.route
    if route in HOST_ROUTES and not call.on_host:
        where = "inside torch.compile" if call.device.type == "cpu" else f"on {call.device}"
        raise ConfigurationError(
            f"{shape.what}: route={route!r} computes in NumPy on the CPU, but this call runs "
            f"{where}; use route 'auto' or 'dense'."
        )
    method = route_method(route)
    if method in ("dense", "gatewise"):
        call.check_memory(shape, method)
    return route


def plan_route(
    execution: Execution,
    shape: CircuitShape,
    batch: int,
    device: torch.device,
    dtype: torch.dtype,
) -> str:
    """The route that runs one call (see the module docstring for the rules).

    Args:
        execution: The layer's execution (backend, noise, shots, method, forced route).
        shape: The layer's circuit.
        batch: Samples per circuit in this call.
        device: Where the call runs.
        dtype: The real dtype it computes in.

    Returns:
        A route name of :data:`~hqnn_pl.quantum.execution.ROUTES` other than ``"auto"``.

    Raises:
        ConfigurationError: When the call would not fit in memory, or a forced route cannot
            run this call (a host route off the CPU).
    """
    if execution.backend == "pennylane":
        return "pennylane"
    call = _Call(batch, device, dtype)
    if execution.route != "auto":
        return _forced_route(execution, shape, call)
    if execution.noisy:
        return _noisy_route(execution, shape)
    return _exact_route(execution, shape, call)


class Planner:
    """A layer's planner: :func:`plan_route` cached per call shape, and the routes taken.

    Args:
        execution: The layer's execution.
        shape: The layer's circuit.

    Raises:
        ConfigurationError: When the execution forces a route the layer does not implement.
    """

    def __init__(self, execution: Execution, shape: CircuitShape) -> None:
        forced = execution.route
        if forced not in ("auto", "pennylane", "device") and forced not in shape.routes:
            raise ConfigurationError(
                f"{shape.what} has no route {forced!r}; its routes: "
                f"{', '.join(map(repr, shape.routes))} (or 'auto')."
            )
        if forced == "heisenberg" and shape.n_qubits > HEISENBERG_QUBITS:
            raise ConfigurationError(
                f"{shape.what} cannot run route 'heisenberg': it holds 3^n Pauli strings, for "
                f"up to {HEISENBERG_QUBITS} qubits; got {shape.n_qubits}. Use route 'auto'."
            )
        self.execution = execution
        self.shape = shape
        self.taken: dict[str, int] = {}
        self.last: str | None = None
        self._cache: dict[tuple, str] = {}

    def route(self, batch: int, device: torch.device, dtype: torch.dtype) -> str:
        """The route of a call with ``batch`` samples per circuit on ``device`` in ``dtype``."""
        key = (batch, device, dtype, torch.get_num_threads(), torch.compiler.is_compiling())
        route = self._cache.get(key)
        if route is None:
            route = plan_route(self.execution, self.shape, batch, device, dtype)
            self._cache[key] = route
        self.last = route
        self.taken[route] = self.taken.get(route, 0) + 1
        return route
