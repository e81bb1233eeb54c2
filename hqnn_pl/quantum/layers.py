"""Quantum layers as ``nn.Module``s, with an exact torch engine and a PennyLane backend.

Every layer runs one circuit from :mod:`hqnn_pl.quantum.circuits` and has two backends:

* ``backend="torch"`` (default): exact batched simulation in plain PyTorch
  (:mod:`hqnn_pl.quantum.engine`; state vectors, or the Heisenberg picture for small
  quanvolution patches), on CPU or CUDA, in the input's floating dtype.
* ``backend="pennylane"``: the same circuit as a torch-interface QNode on any PennyLane device,
  with any diff_method that device supports and optional shots. The batch is passed with
  parameter broadcasting (one QNode call per circuit per forward pass).

Both backends use the same parameters, so a state_dict or checkpoint saved with one backend
loads into a layer with the other, and with ``shots=None`` both give the same outputs.
"""

from __future__ import annotations

import abc
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import pennylane as qml
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import circuits, engine

__all__ = ["ParallelQuantumLayer", "QuantumPointwiseConv2d", "Quanv2d"]

Backend = Literal["torch", "pennylane"]
Pauli = Literal["X", "Y", "Z"]

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
    """

    def __init__(
        self,
        n_qubits: int,
        backend: str,
        device: str,
        diff_method: str,
        shots: int | None,
        engine_what: str,
    ) -> None:
        super().__init__()
        _check_choice("backend", backend, _BACKENDS)
        if backend == "torch":
            engine.check_engine_qubits(n_qubits, engine_what)
            if shots is not None:
                raise ConfigurationError(
                    f"shots={shots!r} needs backend='pennylane'; the torch backend computes exact "
                    "expectation values (use shots=None)."
                )
            _check_choice("diff_method", diff_method, circuits.DIFF_METHODS)
        self.n_qubits = n_qubits
        self.backend = backend
        self.qml_device = device
        self.diff_method = diff_method
        self.shots = shots
        self._qnode_cache: Any = None

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
        if self.backend == "pennylane":
            extra += (
                f", device={self.qml_device!r}, diff_method={self.diff_method!r}, "
                f"shots={self.shots!r}"
            )
        return extra


# ------------------------------------------------------------------------------------------------
# HQNN-Parallel
# ------------------------------------------------------------------------------------------------


class ParallelQuantumLayer(_QuantumLayer):
    """The quantum part of HQNN-Parallel: parallel angle-embedded strongly entangling circuits.

    Senokosov et al., "Quantum machine learning for image classification", Mach. Learn.: Sci.
    Technol. 5 015040 (2024). The input ``(..., n_circuits * n_qubits)`` is split into
    ``n_circuits`` chunks of ``n_qubits`` features (chunk ``k`` is features
    ``[k * n_qubits, (k + 1) * n_qubits)``). Chunk ``k`` is angle-embedded (``rotation``) into
    ``|0...0>`` of its own circuit, followed by ``depth`` StronglyEntanglingLayers with that
    circuit's weights; the expectation of ``observable`` on every qubit is read out. Outputs are
    concatenated in the same order, giving ``(..., n_circuits * n_qubits)``.

    The single parameter ``weights`` has shape ``(n_circuits, depth, n_qubits, 3)`` (PennyLane's
    StronglyEntanglingLayers layout per circuit) and is initialised uniformly in ``[0, 2π)`` like
    ``qml.qnn.TorchLayer``. With the defaults the layer has 180 parameters.

    Args:
        n_qubits: Qubits per circuit (features per chunk). The torch backend supports up to 12.
        n_circuits: Number of parallel circuits.
        depth: Number of StronglyEntanglingLayers per circuit.
        rotation: Axis of the angle-embedding rotation: ``"X"``, ``"Y"`` or ``"Z"``.
        observable: Pauli measured on every qubit: ``"X"``, ``"Y"`` or ``"Z"``.
        backend: ``"torch"`` (exact batched simulation in PyTorch, fast, CPU/CUDA) or
            ``"pennylane"`` (a QNode on ``device``: other simulators, shots, hardware).
        device: PennyLane device name for the pennylane backend, e.g. ``"default.qubit"`` or
            ``"lightning.qubit"``; ignored by the torch backend.
        diff_method: QNode differentiation method for the pennylane backend (``"backprop"``,
            ``"adjoint"``, ``"parameter-shift"``, ``"best"``, ...); the torch backend always
            uses autograd.
        shots: Number of measurement shots for the pennylane backend; None for exact
            expectation values (the only option of the torch backend).
    """

    def __init__(
        self,
        n_qubits: int = 5,
        n_circuits: int = 4,
        depth: int = 3,
        rotation: Pauli = "X",
        observable: Pauli = "Y",
        backend: Backend = "torch",
        device: str = "default.qubit",
        diff_method: str = "backprop",
        shots: int | None = None,
    ) -> None:
        _check_positive_int("n_qubits", n_qubits)
        _check_positive_int("n_circuits", n_circuits)
        _check_positive_int("depth", depth)
        _check_choice("rotation", rotation, _PAULIS)
        _check_choice("observable", observable, _PAULIS)
        super().__init__(
            n_qubits,
            backend,
            device,
            diff_method,
            shots,
            f"ParallelQuantumLayer(n_qubits={n_qubits})",
        )
        self.n_circuits = n_circuits
        self.depth = depth
        self.rotation = rotation
        self.observable = observable
        self.in_features = n_circuits * n_qubits
        self.out_features = n_circuits * n_qubits
        self.weights = nn.Parameter(torch.empty(n_circuits, depth, n_qubits, 3))
        self.reset_parameters()
        if backend == "torch":
            self._tables = engine.ConstantCache(self._make_tables())
        else:
            self._build_pennylane_qnode()

    def reset_parameters(self) -> None:
        """Re-initialise ``weights`` uniformly in ``[0, 2π)``."""
        nn.init.uniform_(self.weights, 0.0, _TWO_PI)

    def _make_tables(self) -> dict[str, np.ndarray | None]:
        n = self.n_qubits
        perms = engine.strongly_entangling_permutations(n, self.depth)
        basis = engine.pauli_basis_change(self.observable, 1)
        if basis is not None:  # measured as one extra layer of single-qubit gates
            perms = np.concatenate([perms, np.arange(2**n)[None, :]])
        signs = engine.z_sign_table(n)
        # RX embedding: per-qubit phase diag(1, -i), folded into the first layer's gates.
        phase = np.array([1.0, -1.0j]) if self.rotation == "X" else None
        return {
            "perms": perms,
            "basis": basis,
            "phase": phase,
            "signs2_t": np.concatenate([signs, signs]).T,
        }

    def _circuit(self) -> tuple[Callable[..., Any], dict[str, Any]]:
        return circuits.parallel_circuit, {"rotation": self.rotation, "observable": self.observable}

    def example_args(self) -> tuple[Tensor, Tensor]:
        """Example ``(inputs, weights)`` of circuit 0, for drawing and probing.

        Returns:
            Inputs ``0.1, 0.2, ...`` of shape ``(n_qubits,)`` and circuit 0's current weights
            ``(depth, n_qubits, 3)``, as detached float64 CPU tensors.
        """
        inputs = torch.arange(1, self.n_qubits + 1, dtype=torch.float64) / 10
        return inputs, self.weights[0].detach().to("cpu", torch.float64)

    def unitary(self, dtype: torch.dtype = torch.float64) -> Tensor:
        """The trainable blocks ``U(θ)`` of all circuits (without embedding or basis change).

        Args:
            dtype: Real dtype to compute in (float32 or float64).

        Returns:
            Complex tensor of shape ``(n_circuits, 2^n, 2^n)``.
        """
        real, cplx = engine.compute_dtypes(dtype)
        perms = torch.from_numpy(engine.strongly_entangling_permutations(self.n_qubits, self.depth))
        weights = self.weights.to(real)
        return engine.build_unitary(engine.rot_matrices(weights, cplx), perms.to(weights.device))

    @_exact_precision
    def forward(self, x: Tensor) -> Tensor:
        """Run all circuits on their chunks of ``x``.

        Args:
            x: Tensor of shape ``(..., n_circuits * n_qubits)`` of rotation angles (radians).

        Returns:
            Tensor of shape ``(..., n_circuits * n_qubits)``: the expectation values, in the
            dtype of ``x`` (float32 if ``x`` is not floating point).
        """
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            got = x.shape[-1] if x.ndim else "a 0-d tensor"
            raise ValueError(
                f"ParallelQuantumLayer expects inputs of shape (..., {self.in_features}) "
                f"(n_circuits={self.n_circuits} x n_qubits={self.n_qubits}); got trailing size "
                f"{got} (input shape {tuple(x.shape)}). Make the preceding layer output "
                f"{self.in_features} features or change n_circuits / n_qubits."
            )
        real, cplx = engine.compute_dtypes(x.dtype)
        lead = x.shape[:-1]
        chunks = x.to(real).reshape(-1, self.n_circuits, self.n_qubits)
        weights = self.weights.to(device=x.device, dtype=real)
        if self.backend == "pennylane":
            out = torch.stack(
                [
                    self._run_pennylane(chunks[:, c], weights[c], self.n_qubits)
                    for c in range(self.n_circuits)
                ],
                dim=1,
            )
        else:
            out = self._forward_torch(chunks, weights, cplx)
        return out.reshape(*lead, self.out_features).to(_output_dtype(x.dtype, real))

    def _forward_torch(self, chunks: Tensor, weights: Tensor, cplx: torch.dtype) -> Tensor:
        """Exact engine: chunks ``(B, C, n)`` -> expectation values ``(B, C, n)``."""
        tables = self._tables.get(chunks.device, chunks.dtype)
        mats = engine.rot_matrices(weights, cplx)  # (C, depth, n, 2, 2)
        if tables["phase"] is not None:
            first = mats[:, :1] * tables["phase"]  # scales column 1 of every first-layer gate
            mats = torch.cat([first, mats[:, 1:]], dim=1)
        if tables["basis"] is not None:
            basis = tables["basis"].expand(self.n_circuits, 1, self.n_qubits, 2, 2)
            mats = torch.cat([mats, basis], dim=1)
        unitary = engine.build_unitary(mats, tables["perms"])  # (C, N, N)
        angles = chunks.permute(1, 2, 0)  # (C, n, B): batch last, see engine.product_state
        if self.rotation == "Z":
            # RZ|0> is |0> up to a global phase: the outputs do not depend on the inputs (the
            # zero-times-input terms keep them in the autograd graph with zero gradient).
            zeros = angles * 0
            factors = torch.stack([zeros + 1, zeros], dim=-2)
        else:
            half = angles / 2
            factors = torch.stack([torch.cos(half), torch.sin(half)], dim=-2)  # (C, n, 2, B)
        states = engine.product_state(factors)  # (C, N, B)
        squared = engine.squared_amplitudes(engine.stacked_real(unitary), states)  # (C, 2N, B)
        expvals = engine.expvals_z(squared, tables["signs2_t"])  # (C, n, B)
        return expvals.permute(2, 0, 1)


# ------------------------------------------------------------------------------------------------
# Quanvolution
# ------------------------------------------------------------------------------------------------


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


_PAULI_QUBITS = 4
"""Largest patch (in qubits) simulated in the Heisenberg picture: ``3^n`` Pauli strings."""
_NEGLIGIBLE = 1e-12
"""Pauli coefficients below this are structural zeros (rounding of exact zeros) and dropped."""


@functools.lru_cache(maxsize=1)
def _trainable_quanv_tables() -> dict[str, np.ndarray]:
    """Tables of the trainable HQNN-Quanv block in the Heisenberg picture (computed once).

    Each of the 4 weights enters one Pauli rotation, so the Pauli coefficients of
    ``U(w)^† Z_j U(w)`` are ``Σ_t m_t(w) C_t`` over products ``m_t`` of ``(1, cos w_i, sin w_i)``
    (:func:`engine.fit_trig_polynomial`, from the PennyLane definition of the block). Keeps the
    Pauli strings and monomials with non-zero coefficients: ``coefficients`` has shape
    ``(n_monomials, 4 * n_strings)``.
    """
    coefficients = engine.fit_trig_polynomial(
        lambda w: engine.z_transfer(circuits.quanv_trainable_unitary(w)), 4
    ).reshape(3**4, 4, 3**4)  # (monomial, wire j, Pauli string)
    coefficients[np.abs(coefficients) < _NEGLIGIBLE] = 0.0
    strings = np.flatnonzero(np.abs(coefficients).max(axis=(0, 1)))
    monomials = np.flatnonzero(np.abs(coefficients).max(axis=(1, 2)))
    return {
        "string_rows": engine.trig_factor_rows(strings, 4),
        "monomial_rows": engine.trig_factor_rows(monomials, 4),
        "coefficients": coefficients[monomials][:, :, strings].reshape(len(monomials), -1),
    }


class Quanv2d(_QuantumLayer):
    """Quanvolution: a small quantum circuit applied to every ``k x k`` patch of every channel.

    Each patch (row-major, pixel ``(i, j)`` on qubit ``i * k + j``) is encoded with
    ``RY(π x)`` on ``k * k`` qubits (pixels are expected in ``[0, 1]``), a fixed or trainable
    block follows, and ``<Z>`` of every qubit is read out, giving ``k * k`` output channels per
    input channel: output channel ``c * k * k + j`` is qubit ``j`` of input channel ``c``. Input
    ``(B, C, H, W)`` gives ``(B, C * k * k, H', W')`` with ``H' = (H - k) // stride + 1`` (same
    for ``W'``). All patches of all channels and images are simulated as one batch. The torch
    backend runs patches of up to 4 qubits in the Heisenberg picture (see
    :func:`engine.patch_pauli_expvals`), larger ones as state vectors.

    * ``trainable=True`` (HQNN-Quanv, ``kernel_size=2`` only): ``RX(w0)`` on qubit 0, ``RX(w1)``
      on 1, ``CNOT(2, 3)``, ``CNOT(0, 2)``, ``CNOT(0, 3)``, ``RY(w2)`` on 0, ``RY(w3)`` on 3, with
      the parameter ``weights`` of shape ``(4,)`` initialised uniformly in ``[0, 2π)``. The
      torch backend differentiates them with the (exact) parameter-shift rule.
    * ``trainable=False`` (Henderson et al. 2019, PennyLane's quanvolution demo): the fixed
      random circuit ``qml.RandomLayers(random_weights, seed=seed)``, whose angles
      ``random_weights`` of shape ``(n_random_layers, k * k)`` are drawn uniformly in
      ``[0, 2π)`` by ``numpy.random.default_rng(seed)`` and kept as a buffer (saved in the
      state_dict); the circuit's unitary is computed from it once with ``qml.matrix``, and
      recomputed only when the buffer changes. The layer then has no trainable parameters, so
      its output for a dataset can be computed once and cached (it only depends on the images).

    Args:
        kernel_size: Patch side ``k`` (``k * k`` qubits; the torch backend supports ``k <= 3``).
        stride: Step between patches.
        trainable: Use the trainable HQNN-Quanv block (True, needs ``kernel_size=2``) or the fixed
            random circuit (False).
        n_random_layers: Number of RandomLayers layers (random circuit only).
        seed: Seed of the random circuit: both of its angles and of RandomLayers' gate structure
            (random circuit only).
        backend: ``"torch"`` (exact batched simulation in PyTorch, fast, CPU/CUDA) or
            ``"pennylane"`` (a QNode on ``device``: other simulators, shots, hardware).
        device: PennyLane device name for the pennylane backend, e.g. ``"default.qubit"`` or
            ``"lightning.qubit"``; ignored by the torch backend.
        diff_method: QNode differentiation method for the pennylane backend (``"backprop"``,
            ``"adjoint"``, ``"parameter-shift"``, ``"best"``, ...); the torch backend
            differentiates exactly (autograd, and the parameter-shift rule for ``weights``).
        shots: Number of measurement shots for the pennylane backend; None for exact
            expectation values (the only option of the torch backend).
    """

    def __init__(
        self,
        kernel_size: int = 2,
        stride: int = 2,
        trainable: bool = True,
        n_random_layers: int = 1,
        seed: int = 0,
        backend: Backend = "torch",
        device: str = "default.qubit",
        diff_method: str = "backprop",
        shots: int | None = None,
    ) -> None:
        _check_positive_int("kernel_size", kernel_size)
        _check_positive_int("stride", stride)
        _check_positive_int("n_random_layers", n_random_layers)
        if trainable and kernel_size != 2:
            raise ConfigurationError(
                f"The trainable quanvolution block is defined for kernel_size=2 (4 qubits) only; "
                f"got kernel_size={kernel_size}. Use kernel_size=2, or trainable=False for a "
                "random circuit on k*k qubits."
            )
        n_qubits = kernel_size * kernel_size
        super().__init__(
            n_qubits,
            backend,
            device,
            diff_method,
            shots,
            f"Quanv2d(kernel_size={kernel_size}) (k*k qubits)",
        )
        self.kernel_size = kernel_size
        self.stride = stride
        self.trainable = trainable
        self.n_random_layers = n_random_layers
        self.seed = seed
        self._tables = engine.ConstantCache({})
        if trainable:
            self.weights = nn.Parameter(torch.empty(4))
            self.reset_parameters()
            self._tables.update(**_trainable_quanv_tables())
        else:
            rng = np.random.default_rng(seed)
            angles = rng.uniform(0.0, _TWO_PI, size=(n_random_layers, n_qubits))
            self.register_buffer("random_weights", torch.tensor(angles, dtype=torch.float32))
        self._random_key: tuple[int, int, int] | None = None
        if not trainable:
            self._refresh_random_tables()
        if backend == "pennylane":
            self._build_pennylane_qnode()

    def reset_parameters(self) -> None:
        """Re-initialise the trainable ``weights`` uniformly in ``[0, 2π)`` (no-op if random)."""
        if self.trainable:
            nn.init.uniform_(self.weights, 0.0, _TWO_PI)

    def _refresh_random_tables(self) -> None:
        """Recompute the random circuit's tables from the ``random_weights`` buffer.

        Called automatically by the forward pass whenever the buffer was replaced or modified in
        place (``load_state_dict``, ``.to()``, in-place ops): the tables are cached with the
        buffer's identity and version counter. Up to 4 qubits the circuit is kept in the
        Heisenberg picture (the Pauli coefficients of ``U^† Z_j U``, see
        :func:`engine.patch_pauli_expvals`), beyond as ``[Re U; Im U]``.
        """
        buffer = self.random_weights
        angles = buffer.detach().to("cpu", torch.float64).numpy()
        unitary = circuits.random_layers_unitary(angles, self.seed)
        if self.n_qubits <= _PAULI_QUBITS:
            transfer = engine.z_transfer(unitary)  # (n, 3^n)
            strings = np.flatnonzero(np.abs(transfer).max(axis=0) > _NEGLIGIBLE)
            self._tables.update(
                string_rows=engine.trig_factor_rows(strings, self.n_qubits),
                transfer=transfer[:, strings],
            )
        else:
            signs = engine.z_sign_table(self.n_qubits)
            self._tables.update(
                stacked=np.concatenate([unitary.real, unitary.imag]),
                signs2_t=np.concatenate([signs, signs]).T,
            )
        self._random_key = (id(buffer), buffer.data_ptr(), buffer._version)

    def output_shape(self, channels: int, height: int, width: int) -> tuple[int, int, int]:
        """Shape ``(C * k * k, H', W')`` of the output for one ``(C, H, W)`` input image.

        Args:
            channels: Input channels ``C``.
            height: Input height ``H``.
            width: Input width ``W``.

        Returns:
            Output channels, height and width.
        """
        k, s = self.kernel_size, self.stride
        return channels * k * k, (height - k) // s + 1, (width - k) // s + 1

    def _circuit(self) -> tuple[Callable[..., Any], dict[str, Any]]:
        if self.trainable:
            return circuits.quanv_trainable_circuit, {}
        return circuits.quanv_random_circuit, {"seed": self.seed}

    def _circuit_weights(self) -> Tensor:
        return self.weights if self.trainable else self.random_weights

    def example_args(self) -> tuple[Tensor, Tensor]:
        """Example ``(inputs, weights)`` of the circuit, for drawing and probing.

        Returns:
            An example patch ``(k * k,)`` with pixels ``0.1, 0.2, ...`` and the current weights
            (``weights`` or ``random_weights``), as detached float64 CPU tensors.
        """
        inputs = torch.arange(1, self.n_qubits + 1, dtype=torch.float64) / (self.n_qubits + 1)
        return inputs, self._circuit_weights().detach().to("cpu", torch.float64)

    def _patches(self, images: Tensor) -> Tensor:
        """Strided view of the patches: ``(B, C, H, W)`` -> ``(B * C, H', W', k, k)``."""
        k, stride = self.kernel_size, self.stride
        patches = images.unfold(2, k, stride).unfold(3, k, stride)  # (B, C, H', W', k, k)
        return patches.flatten(0, 1)

    def _forward_heisenberg(self, patches: Tensor, tables: dict[str, Tensor | None]) -> Tensor:
        """Heisenberg-picture path (up to 4 qubits): ``(N, H', W', k, k)`` -> ``(N, k*k, H', W')``.

        See :func:`engine.patch_pauli_expvals`. Only the Pauli strings with a non-zero
        coefficient are evaluated: 6 of 81 for the trainable block, a handful for a random
        circuit of a few layers. For the trainable block, the coefficients are a trigonometric
        polynomial of the 4 weights, tabulated exactly once (:func:`_trainable_quanv_tables`)
        and evaluated each forward pass (:func:`engine.trig_polynomial`).
        """
        if self.trainable:
            transfer = engine.trig_polynomial(
                self.weights.to(patches), tables["monomial_rows"], tables["coefficients"]
            ).view(self.n_qubits, -1)
        else:
            transfer = tables["transfer"]
        return engine.patch_pauli_expvals(patches, tables["string_rows"], transfer)

    def _forward_amplitudes(self, patches: Tensor, tables: dict[str, Tensor | None]) -> Tensor:
        """State-vector path (random circuits on more than 4 qubits), shapes as above."""
        groups, out_h, out_w = patches.shape[:3]
        pixels = patches.permute(3, 4, 0, 1, 2).reshape(self.n_qubits, groups * out_h * out_w)
        half = pixels * (math.pi / 2)  # RY(π x)|0> = cos(π x / 2)|0> + sin(π x / 2)|1>
        states = engine.product_state(torch.stack([torch.cos(half), torch.sin(half)], dim=1))
        squared = engine.squared_amplitudes(tables["stacked"], states)  # (2N, P)
        expvals = engine.expvals_z(squared, tables["signs2_t"])  # (n, P)
        return expvals.view(self.n_qubits, groups, out_h, out_w).transpose(0, 1)

    @_exact_precision
    def forward(self, x: Tensor) -> Tensor:
        """Apply the quanvolution.

        Args:
            x: Images of shape ``(B, C, H, W)``, pixel values in ``[0, 1]``.

        Returns:
            Tensor of shape ``(B, C * k * k, H', W')`` in the dtype of ``x`` (float32 if ``x``
            is not floating point).
        """
        _check_image("Quanv2d", x, self.kernel_size)
        real, _ = engine.compute_dtypes(x.dtype)
        batch, channels, height, width = x.shape
        kk = self.n_qubits
        _, out_h, out_w = self.output_shape(channels, height, width)
        patches = self._patches(x.to(real))  # (B * C, H', W', k, k)
        if self.backend == "pennylane":
            weights = self._circuit_weights().to(device=x.device, dtype=real)
            expvals = self._run_pennylane(patches.reshape(-1, kk), weights, kk).to(real)
            expvals = expvals.reshape(batch, channels, out_h, out_w, kk).permute(0, 1, 4, 2, 3)
        else:
            if not self.trainable:
                buffer = self.random_weights
                if self._random_key != (id(buffer), buffer.data_ptr(), buffer._version):
                    self._refresh_random_tables()
            tables = self._tables.get(x.device, real)
            if self.n_qubits <= _PAULI_QUBITS:
                expvals = self._forward_heisenberg(patches, tables)  # (B * C, kk, H', W')
            else:
                expvals = self._forward_amplitudes(patches, tables)
        out = expvals.reshape(batch, channels * kk, out_h, out_w)
        return out.to(_output_dtype(x.dtype, real))

    def extra_repr(self) -> str:
        """Summary shown by ``print(module)``."""
        kind = "trainable" if self.trainable else f"random(layers={self.n_random_layers})"
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, {kind}, seed={self.seed}, "
            + super().extra_repr()
        )


# ------------------------------------------------------------------------------------------------
# QPCNN quantum pointwise convolution
# ------------------------------------------------------------------------------------------------


class QuantumPointwiseConv2d(_QuantumLayer):
    """Quantum 1x1 convolution of QPCNN: amplitude-encoded channel vectors, one shared circuit.

    Ning et al., QPCNN (2024). At every pixel the ``C``-channel vector is L2-normalised and
    amplitude-encoded (zero-padded to ``2^n``) into ``n = max(1, ceil(log2 C))`` qubits; one
    StronglyEntanglingLayers block of depth ``depth``, shared by all pixels, follows, and either
    ``<Z>`` of every qubit (``measurement="expval"``, ``n`` output maps) or the ``2^n`` basis-state
    probabilities (``measurement="probs"``, PennyLane's order, wire 0 most significant) are read
    out: ``(B, C, H, W) -> (B, n or 2^n, H, W)``.

    A zero channel vector (squared norm below the dtype's smallest normal number) cannot be
    normalised: it is encoded as ``|0...0>``, i.e. as the vector ``(1, 0, ..., 0)``. Its outputs are
    finite and its input gradient is zero (no NaN in outputs or gradients); the pennylane backend
    applies the same convention before calling the QNode.

    The parameter ``weights`` has shape ``(depth, n, 3)`` (PennyLane's layout), initialised
    uniformly in ``[0, 2π)``.

    Args:
        in_channels: Number of input channels ``C``.
        depth: Number of StronglyEntanglingLayers.
        measurement: ``"expval"`` (``<Z>`` per qubit) or ``"probs"`` (basis-state probabilities).
        backend: ``"torch"`` (exact batched simulation in PyTorch, fast, CPU/CUDA) or
            ``"pennylane"`` (a QNode on ``device``: other simulators, shots, hardware).
        device: PennyLane device name for the pennylane backend, e.g. ``"default.qubit"`` or
            ``"lightning.qubit"``; ignored by the torch backend.
        diff_method: QNode differentiation method for the pennylane backend (``"backprop"``,
            ``"adjoint"``, ``"parameter-shift"``, ``"best"``, ...); the torch backend always
            uses autograd.
        shots: Number of measurement shots for the pennylane backend; None for exact
            expectation values (the only option of the torch backend).
        max_qubits: Largest allowed ``n``; a channel count needing more qubits is an error. The
            torch backend supports at most 12 whatever this says.
    """

    def __init__(
        self,
        in_channels: int,
        depth: int = 1,
        measurement: Literal["expval", "probs"] = "expval",
        backend: Backend = "torch",
        device: str = "default.qubit",
        diff_method: str = "backprop",
        shots: int | None = None,
        max_qubits: int = engine.MAX_QUBITS,
    ) -> None:
        _check_positive_int("in_channels", in_channels)
        _check_positive_int("depth", depth)
        _check_positive_int("max_qubits", max_qubits)
        _check_choice("measurement", measurement, _MEASUREMENTS)
        n_qubits = max(1, (in_channels - 1).bit_length())
        if n_qubits > max_qubits:
            raise ConfigurationError(
                f"in_channels={in_channels} needs {n_qubits} qubits (2^{n_qubits} >= "
                f"{in_channels} amplitudes) but max_qubits={max_qubits}. Reduce the channels "
                "first (e.g. a 1x1 Conv2d) or raise max_qubits."
            )
        super().__init__(
            n_qubits,
            backend,
            device,
            diff_method,
            shots,
            f"QuantumPointwiseConv2d(in_channels={in_channels})",
        )
        self.in_channels = in_channels
        self.depth = depth
        self.measurement = measurement
        self.out_channels = n_qubits if measurement == "expval" else 2**n_qubits
        self.weights = nn.Parameter(torch.empty(depth, n_qubits, 3))
        self.reset_parameters()
        signs = engine.z_sign_table(n_qubits)
        first = np.zeros(2**n_qubits)
        first[0] = 1.0
        self._tables = engine.ConstantCache(
            {
                "perms": engine.strongly_entangling_permutations(n_qubits, depth),
                "signs2_t": np.concatenate([signs, signs]).T,
                "first": first,
            }
        )
        if backend == "pennylane":
            self._build_pennylane_qnode()

    def reset_parameters(self) -> None:
        """Re-initialise ``weights`` uniformly in ``[0, 2π)``."""
        nn.init.uniform_(self.weights, 0.0, _TWO_PI)

    def _circuit(self) -> tuple[Callable[..., Any], dict[str, Any]]:
        return circuits.qpcnn_circuit, {"measurement": self.measurement}

    def example_args(self) -> tuple[Tensor, Tensor]:
        """Example ``(inputs, weights)`` of the circuit, for drawing and probing.

        Returns:
            An example channel vector ``(1, 2, ..., C)`` and the current weights
            ``(depth, n, 3)``, as detached float64 CPU tensors.
        """
        inputs = torch.arange(1, self.in_channels + 1, dtype=torch.float64)
        return inputs, self.weights.detach().to("cpu", torch.float64)

    @_exact_precision
    def forward(self, x: Tensor) -> Tensor:
        """Apply the quantum pointwise convolution at every pixel.

        Args:
            x: Feature maps of shape ``(B, in_channels, H, W)``.

        Returns:
            Tensor of shape ``(B, out_channels, H, W)`` in the dtype of ``x`` (float32 if ``x``
            is not floating point).
        """
        _check_image("QuantumPointwiseConv2d", x)
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"QuantumPointwiseConv2d expects {self.in_channels} input channels; got "
                f"{x.shape[1]} (input shape {tuple(x.shape)}). Set in_channels={x.shape[1]}."
            )
        real, cplx = engine.compute_dtypes(x.dtype)
        tables = self._tables.get(x.device, real)
        batch, channels, height, width = x.shape
        weights = self.weights.to(device=x.device, dtype=real)
        n_states = 2**self.n_qubits
        if self.backend == "pennylane":
            vectors = x.to(real).permute(0, 2, 3, 1).reshape(-1, channels)  # (P, C)
            is_zero = vectors.square().sum(dim=-1, keepdim=True) < torch.finfo(real).tiny
            first = tables["first"][:channels]
            safe = torch.where(is_zero, first, vectors)
            out = self._run_pennylane(safe, weights, self.out_channels).to(real)
            return (
                out.reshape(batch, height, width, self.out_channels)
                .permute(0, 3, 1, 2)
                .to(_output_dtype(x.dtype, real))
            )
        # Batch (all pixels of all images) last, see engine.product_state.
        vectors = x.to(real).transpose(0, 1).reshape(channels, -1)  # (C, P)
        sq_norm = vectors.square().sum(dim=0, keepdim=True)  # (1, P)
        is_zero = sq_norm < torch.finfo(real).tiny
        # Normalise; zero vectors get a safe denominator (no NaN in values or gradients) and are
        # then replaced by |0...0>.
        inv_norm = torch.rsqrt(torch.where(is_zero, torch.ones_like(sq_norm), sq_norm))
        states = F.pad(vectors * inv_norm, (0, 0, 0, n_states - channels))  # (N, P)
        states = torch.where(is_zero, tables["first"][:, None], states)
        unitary = engine.build_unitary(engine.rot_matrices(weights, cplx), tables["perms"])
        squared = engine.squared_amplitudes(engine.stacked_real(unitary), states)  # (2N, P)
        if self.measurement == "probs":
            out = engine.probabilities(squared)  # (N, P)
        else:
            out = engine.expvals_z(squared, tables["signs2_t"])  # (n, P)
        out = out.reshape(self.out_channels, batch, height, width).transpose(0, 1).contiguous()
        return out.to(_output_dtype(x.dtype, real))

    def extra_repr(self) -> str:
        """Summary shown by ``print(module)``."""
        return (
            f"in_channels={self.in_channels}, n_qubits={self.n_qubits}, depth={self.depth}, "
            f"measurement={self.measurement!r}, " + super().extra_repr()
        )
