"""The public base of every quantum layer: execution, routes, QNodes, drawing, the tools' hooks."""

from __future__ import annotations

import abc
import copy
import dataclasses
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import pennylane as qml
import torch
from torch import Tensor, nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import circuits, engine
from hqnn_pl.quantum.engine import cost as engine_cost
from hqnn_pl.quantum.engine import density
from hqnn_pl.quantum.engine import planner as engine_planner
from hqnn_pl.quantum.engine import shots as shot_engine
from hqnn_pl.quantum.execution import Execution, as_execution
from hqnn_pl.quantum.spec import CircuitSpec

Pauli = Literal["X", "Y", "Z"]

_PAULIS = ("X", "Y", "Z")
_MEASUREMENTS = ("expval", "probs")
_TWO_PI = 2.0 * math.pi


def _check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ConfigurationError(f"Unknown {name} {value!r}; valid choices: {options}.")


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a positive int; got {value!r}.")


def _check_positive_ints(**values: Any) -> None:
    """:func:`_check_positive_int` for each keyword argument, in order."""
    for name, value in values.items():
        _check_positive_int(name, value)


def _exact_precision(forward: Callable[[Any, Tensor], Tensor]) -> Callable[[Any, Tensor], Tensor]:
    """Run a layer's forward pass outside autocast.

    Under mixed precision (``--trainer.precision 16-mixed`` / ``bf16-mixed``) autocast would run
    the engine's matrix products in 16 bits and lose about 1e-2 of accuracy; circuits are
    simulated in float32 (float64 for float64 inputs) whatever the surrounding precision.
    """

    @functools.wraps(forward)
    def wrapper(self: Any, x: Tensor) -> Tensor:
        if not torch.is_autocast_enabled(x.device.type):
            return forward(self, x)
        with torch.autocast(x.device.type, enabled=False):
            return forward(self, x)

    return wrapper


def _output_dtype(dtype: torch.dtype, real: torch.dtype) -> torch.dtype:
    return dtype if dtype.is_floating_point else real


class QuantumLayer(nn.Module, abc.ABC):
    """A quantum layer: its execution, route planning, QNodes, drawing and the tools' hooks.

    Every tool asks a quantum layer the same few things, and ``isinstance(module,
    QuantumLayer)`` is how they find one: its circuit (:meth:`circuit`, :meth:`example_args`,
    :meth:`circuit_spec` for drawing, specs, ZX and the diagnostics), its cost on hardware
    (:meth:`shifted_angles`, :meth:`executions_per_call`) and its ablation (:meth:`identity`).
    A subclass implements those, its forward pass and, for the torch backend, one method per
    route it names in its :class:`~hqnn_pl.quantum.engine.planner.CircuitShape`.

    Args:
        execution: How the circuits run (:class:`~hqnn_pl.quantum.execution.Execution`, a
            mapping of its fields, or None for the default).
        shape: The circuit as the planner sees it (its ``what`` names the layer in errors).
        methods: The ``method`` values this layer accepts.
    """

    def __init__(
        self,
        execution: Execution | Mapping[str, Any] | None,
        shape: engine_planner.CircuitShape,
        methods: Sequence[str] = engine.METHODS,
    ) -> None:
        super().__init__()
        execution = as_execution(execution)
        _check_choice("method", execution.method, methods)
        n_qubits = shape.n_qubits
        self.execution = execution
        self.noise = execution.noise_model
        self._sampler = None
        if execution.backend == "torch":
            engine.check_engine_qubits(n_qubits, shape.what)
            if execution.shots is not None:
                self._sampler = shot_engine.ShotSampler(execution.shots, torch.initial_seed())
            if execution.noisy:
                # The observables' Heisenberg images alone must fit (batch-independent part).
                density.check_density_memory(
                    shape.what,
                    n_qubits,
                    1,
                    2**n_qubits if execution.shots is not None else n_qubits,
                    1,
                    4,
                    engine_cost.available_memory(torch.device("cpu")),
                )
        self.n_qubits = n_qubits
        self.planner = engine_planner.Planner(execution, shape)
        self._qnode_cache: Any = None
        self._device: Any = None  # the compiled device circuit and its executor, on first use
        if execution.device_noise is not None:
            execution.device_noise.check_layout(n_qubits, shape.what)

    @property
    def backend(self) -> str:
        """``"torch"`` or ``"pennylane"`` (from :attr:`execution`)."""
        return self.execution.backend

    @property
    def shots(self) -> int | None:
        """Shots per circuit execution, or None for exact expectations."""
        return self.execution.shots

    @property
    def shot_gradients(self) -> str | None:
        """With shots on the torch backend: ``"exact"`` (default) or ``"parameter-shift"``."""
        if self.execution.shot_gradients is not None:
            return self.execution.shot_gradients
        return "exact" if self.execution.shots is not None else None

    @property
    def route(self) -> str | None:
        """The route of the last call (None before the first), see :attr:`planner`."""
        return self.planner.last

    def rerouted(self, route: str) -> QuantumLayer:
        """A copy of this layer (same weights and execution) that runs ``route``.

        Args:
            route: A route of :data:`~hqnn_pl.quantum.execution.ROUTES` (or ``"auto"``).

        Returns:
            The copy.

        Raises:
            ConfigurationError: When the route cannot serve this layer's execution.
        """
        execution = dataclasses.replace(self.execution, route=route)
        planner = engine_planner.Planner(execution, self.planner.shape)
        layer = copy.deepcopy(self)
        layer.execution = execution
        layer.planner = planner
        return layer

    def _route(self, batch: int, x: Tensor) -> str:
        """The route of a call with ``batch`` samples per circuit, like ``x`` (device, dtype)."""
        return self.planner.route(batch, x.device, x.dtype)

    @abc.abstractmethod
    def circuit(self) -> tuple[Callable[..., Any], dict[str, Any]]:
        """The PennyLane quantum function of one circuit and its static keyword arguments.

        Returns:
            ``(qfunc, kwargs)``: call it as ``qfunc(inputs, weights, **kwargs)``.
        """

    def check_input_features(self, x: Tensor, layout: str, fix: str) -> None:
        """Refuse inputs whose last dimension is not the layer's ``in_features``, in one line.

        Args:
            x: The layer's input.
            layout: How the features split, e.g. ``"n_circuits=4 x n_qubits=5"``.
            fix: What to change, e.g. ``"change n_circuits / n_qubits"``.

        Raises:
            ValueError: Naming the expected and the given shape and the fix.
        """
        expected = self.in_features  # type: ignore[attr-defined]
        if x.ndim == 0 or x.shape[-1] != expected:
            got = x.shape[-1] if x.ndim else "a 0-d tensor"
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape (..., {expected}) ({layout}); got "
                f"trailing size {got} (input shape {tuple(x.shape)}). Make the preceding layer "
                f"output {expected} features or {fix}."
            )

    @abc.abstractmethod
    def circuit_spec(self) -> CircuitSpec:
        """The circuit as the diagnostics see it (ZX, Fourier, expressibility, gradients).

        Returns:
            A :class:`~hqnn_pl.quantum.spec.CircuitSpec` with the weights of every circuit.
        """

    @abc.abstractmethod
    def shifted_angles(self) -> tuple[int, int]:
        """Angles per circuit that the parameter-shift rule shifts (for the hardware cost).

        Returns:
            ``(trainable weights, input angles)``.
        """

    @abc.abstractmethod
    def executions_per_call(self, x: Tensor) -> int:
        """Circuit executions of one forward call on ``x`` (for the hardware cost).

        Args:
            x: The layer's input.

        Returns:
            The number of circuits run.
        """

    @abc.abstractmethod
    def identity(self) -> nn.Module:
        """The parameter-free module with this layer's output shape (the ``identity`` ablation).

        Returns:
            The stand-in.
        """

    @abc.abstractmethod
    def example_args(self) -> tuple[Tensor, Tensor]:
        """Example ``(inputs, weights)`` of one circuit, for drawing and probing.

        Returns:
            Detached float64 CPU tensors: an example input of one circuit and that circuit's
            current weights.
        """

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state = dict(state)
        state["_qnode_cache"] = None  # QNodes hold devices; rebuilt lazily after unpickling
        state["_device"] = None  # the compiled device circuit: recompiled on first use
        return state

    def device_circuit(self) -> Any:
        """The circuit compiled to the execution's device (compiled once, then cached).

        Returns:
            A :class:`~hqnn_pl.quantum.devices.compile.CompiledCircuit`.

        Raises:
            ConfigurationError: When the execution has no device noise.
        """
        return self._device_executor(False).compiled

    def _device_executor(self, probs: bool) -> Any:
        noise = self.execution.device_noise
        if noise is None:
            raise ConfigurationError(
                f"{self.planner.shape.what} has no device noise; set execution noise "
                "{device: fake_torino} (or another device)."
            )
        from hqnn_pl.quantum.devices.compile import compile_circuit
        from hqnn_pl.quantum.devices.executor import DeviceExecutor

        if self._device is None:
            self._device = {"compiled": compile_circuit(self.circuit_spec(), noise)}
        if probs not in self._device:
            self._device[probs] = DeviceExecutor(self._device["compiled"], probs)
        return self._device[probs]

    def _run_device(self, inputs: Tensor, weights: Tensor, probs: bool = False) -> Tensor:
        """The ``device`` route: the compiled circuit on ``C`` circuits' batches.

        Inputs ``(C, B, n_in)`` (or state vectors) and weights ``(C, n_w)`` give ``(C, J, B)``
        outputs (``<Z_j>``, or probabilities with ``probs``), sampled with shots.
        """
        sampled = self._sampler is not None
        executor = self._device_executor(probs or sampled)
        out = executor.run(inputs, weights)
        if not sampled:
            return out
        signs = torch.as_tensor(engine.z_sign_table(self.n_qubits), dtype=out.dtype)
        signs = signs.to(out.device)
        exact = out if probs else torch.einsum("ckp,kj->cjp", out, signs)
        return self._sampler.estimate(out.clamp_min(0.0), signs, probs, exact)

    def _build_pennylane_qnode(self) -> None:
        qfunc, kwargs = self.circuit()
        self._qnode_cache = circuits.make_qnode(
            qfunc,
            self.n_qubits,
            device=self.execution.device,
            diff_method=self.execution.diff_method,
            shots=self.shots,
            example_args=self.example_args(),
            **kwargs,
        )
        if self.noise is not None:
            self._qnode_cache = qml.add_noise(self._qnode_cache, self.noise.pennylane_model())

    def _pennylane_qnode(self) -> Any:
        if self._qnode_cache is None:
            self._build_pennylane_qnode()
        return self._qnode_cache

    def qnode(self, device: str | None = None) -> Any:
        """A QNode of one circuit of this layer, e.g. for ``qml.draw`` / ``qml.draw_mpl``.

        Call it as ``qnode(*layer.example_args())``.

        Args:
            device: PennyLane device name. None gives the layer's own QNode with the pennylane
                backend, and an exact ``default.qubit`` QNode with the torch backend. A QNode on
                another device uses ``diff_method="best"`` and no shots.

        Returns:
            A torch-interface QNode.
        """
        if device is None and self.backend == "pennylane":
            return self._pennylane_qnode()
        qfunc, kwargs = self.circuit()
        return circuits.make_qnode(
            qfunc, self.n_qubits, device=device or "default.qubit", diff_method="best", **kwargs
        )

    def draw(self, **kwargs: Any) -> str:
        """Text drawing of one circuit of this layer (``qml.draw``) with its current weights.

        Args:
            **kwargs: Passed to ``qml.draw`` (e.g. ``decimals=2``, ``level="device"``).

        Returns:
            The drawing.
        """
        return qml.draw(self.qnode(), **kwargs)(*self.example_args())

    def draw_mpl(self, **kwargs: Any) -> tuple[Any, Any]:
        """Matplotlib drawing of one circuit of this layer (``qml.draw_mpl``).

        Args:
            **kwargs: Passed to ``qml.draw_mpl`` (e.g. ``style="pennylane"``, ``decimals=2``).

        Returns:
            ``(figure, axes)``.
        """
        return qml.draw_mpl(self.qnode(), **kwargs)(*self.example_args())

    def _run_pennylane(self, inputs: Tensor, weights: Tensor, n_outputs: int) -> Tensor:
        """Run the QNode on a batch ``(P, n_in)`` with broadcasting; returns ``(P, n_outputs)``."""
        n_rows = inputs.shape[0]
        if n_rows == 0:
            return inputs.new_zeros(0, n_outputs)
        result = self._pennylane_qnode()(inputs, weights)
        if isinstance(result, (tuple, list)):
            result = torch.stack([torch.as_tensor(r) for r in result], dim=-1)
        return result.reshape(n_rows, n_outputs).to(device=inputs.device)

    def extra_repr(self) -> str:
        """Summary shown by ``print(module)``: the execution's settings and the route taken."""
        ex = self.execution
        extra = f"backend={ex.backend!r}"
        if ex.backend == "torch":
            extra += f", method={ex.method!r}, route={ex.route!r}"
            if ex.route == "auto" and self.planner.last is not None:
                extra += f" (last: {self.planner.last!r})"
            if ex.shots is not None:
                extra += f", shots={ex.shots}, shot_gradients={self.shot_gradients!r}"
        if ex.noise is not None:
            extra += f", noise={ex.noise!r}"
        if ex.backend == "pennylane":
            extra += f", device={ex.device!r}, diff_method={ex.diff_method!r}, shots={ex.shots!r}"
        return extra


def is_quantum_layer(module: nn.Module) -> bool:
    """Whether ``module`` is a quantum layer (its parameters are circuit weights).

    The one test every tool uses: an instance of :class:`QuantumLayer`.
    """
    return isinstance(module, QuantumLayer)


def quantum_layers(model: nn.Module) -> list[tuple[str, QuantumLayer]]:
    """The quantum layers of ``model`` with their module names, in module order.

    Args:
        model: Any module.

    Returns:
        ``(name, layer)`` pairs; each layer appears once.
    """
    return [(name, module) for name, module in model.named_modules() if is_quantum_layer(module)]


def _check_image(name: str, x: Tensor, kernel_size: int | None = None) -> None:
    if x.ndim != 4:
        raise ValueError(
            f"{name} expects images of shape (batch, channels, height, width); got shape "
            f"{tuple(x.shape)}. Add a batch dimension with x.unsqueeze(0) for a single image."
        )
    if kernel_size is not None and (x.shape[-2] < kernel_size or x.shape[-1] < kernel_size):
        raise ValueError(
            f"{name}: images of size {tuple(x.shape[-2:])} are smaller than kernel_size="
            f"{kernel_size}; use larger images or a smaller kernel_size."
        )
