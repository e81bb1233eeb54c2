"""What every quantum layer shares: backend selection, QNodes, drawing, argument checks."""

from __future__ import annotations

import abc
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import pennylane as qml
import torch
from torch import Tensor, nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import circuits, engine
from hqnn_pl.quantum.engine import cost as engine_cost
from hqnn_pl.quantum.engine import density
from hqnn_pl.quantum.engine import shots as shot_engine
from hqnn_pl.quantum.noise import Noise, NoiseSpec, check_noise_device, parse_noise

Backend = Literal["torch", "pennylane"]
Pauli = Literal["X", "Y", "Z"]
Method = Literal["auto", "dense", "gatewise"]

_BACKENDS = ("torch", "pennylane")
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


class _QuantumLayer(nn.Module, abc.ABC):
    """Backend selection, PennyLane QNode handling and circuit drawing shared by all layers.

    Args:
        n_qubits: Qubits of one circuit.
        backend: ``"torch"`` or ``"pennylane"``.
        device: PennyLane device name (pennylane backend).
        diff_method: PennyLane differentiation method (pennylane backend).
        shots: Shots (pennylane backend) or None.
        engine_what: Description of the qubit count for the engine's limit error.
        method: Execution method of the torch backend (``"auto"`` picks by the cost model).
        methods: The methods this layer accepts.
        noise: Noise model (:mod:`hqnn_pl.quantum.noise`) or None.
        shot_gradients: With shots on the torch backend, ``"exact"`` (default) or
            ``"parameter-shift"``.
    """

    def __init__(
        self,
        n_qubits: int,
        backend: str,
        device: str,
        diff_method: str,
        shots: int | None,
        engine_what: str,
        method: str = "auto",
        methods: Sequence[str] = engine.METHODS,
        noise: NoiseSpec | Noise = None,
        shot_gradients: str | None = None,
    ) -> None:
        super().__init__()
        _check_choice("backend", backend, _BACKENDS)
        _check_choice("method", method, methods)
        # Noise and shots (issue 12): validated here, executed by layers/noisy.py.
        self.noise = parse_noise(noise)
        shot_engine.check_shots(shots, shot_gradients)
        check_noise_device(self.noise, backend, device)
        if shot_gradients is not None and backend != "torch":
            raise ConfigurationError(
                f"shot_gradients={shot_gradients!r} is an option of backend='torch'; the "
                "pennylane backend differentiates with its diff_method."
            )
        self.shot_gradients = shot_gradients or ("exact" if shots is not None else None)
        self._sampler = None
        if backend == "torch":
            engine.check_engine_qubits(n_qubits, engine_what)
            if shots is not None:
                self._sampler = shot_engine.ShotSampler(shots, torch.initial_seed())
            if self.noise is not None or shots is not None:
                # The observables' Heisenberg images alone must fit (batch-independent part).
                density.check_density_memory(
                    engine_what,
                    n_qubits,
                    1,
                    2**n_qubits if shots is not None else n_qubits,
                    1,
                    4,
                    engine_cost.available_memory(torch.device("cpu")),
                )
            _check_choice("diff_method", diff_method, circuits.DIFF_METHODS)
        self.n_qubits = n_qubits
        self.backend = backend
        self.qml_device = device
        self.diff_method = diff_method
        self.shots = shots
        self.method = method
        self._engine_what = engine_what
        self._qnode_cache: Any = None

    @property
    def _noisy(self) -> bool:
        """Whether the torch backend runs the noisy / finite-shot path (layers/noisy.py)."""
        return self.backend == "torch" and (self.noise is not None or self.shots is not None)

    def _pick_method(self, layers: int, circuits: int, batch: int, x: Tensor) -> str:
        """The torch method for this call (cost model, or the forced one) after a memory check.

        Args:
            layers: Layers of single-qubit gates of the circuit.
            circuits: Circuits run side by side.
            batch: Samples per circuit.
            x: A tensor of the call, for its device and (real) dtype.

        Returns:
            ``"dense"`` or ``"gatewise"``.
        """
        real_bytes = x.element_size()
        method = engine.choose_method(
            self.method, self.n_qubits, layers, circuits, batch, real_bytes, self._dense_on_host(x)
        )
        engine.check_memory(
            self._engine_what, method, self.n_qubits, layers, circuits, batch, real_bytes, x.device
        )
        return method

    def _dense_on_host(self, x: Tensor) -> bool:
        """Whether this layer's dense method builds its unitary in NumPy for a call on ``x``."""
        return False

    @abc.abstractmethod
    def _circuit(self) -> tuple[Callable[..., Any], dict[str, Any]]:
        """Return the quantum function and its static keyword arguments."""

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
        return state

    def _build_pennylane_qnode(self) -> None:
        qfunc, kwargs = self._circuit()
        self._qnode_cache = circuits.make_qnode(
            qfunc,
            self.n_qubits,
            device=self.qml_device,
            diff_method=self.diff_method,
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
        qfunc, kwargs = self._circuit()
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
        """Summary shown by ``print(module)``."""
        extra = f"backend={self.backend!r}"
        if self.backend == "torch":
            extra += f", method={self.method!r}"
            if self.shots is not None:
                extra += f", shots={self.shots}, shot_gradients={self.shot_gradients!r}"
        if self.noise is not None:
            extra += f", noise={self.noise.as_dict()!r}"
        if self.backend == "pennylane":
            extra += (
                f", device={self.qml_device!r}, diff_method={self.diff_method!r}, "
                f"shots={self.shots!r}"
            )
        return extra


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
