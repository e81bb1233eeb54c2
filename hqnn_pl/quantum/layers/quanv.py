"""Quanvolution: a small circuit on every image patch (HQNN-Quanv, random quanvolution)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pennylane as qml
import torch
from torch import Tensor, nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import circuits, engine
from hqnn_pl.quantum.layers import noisy
from hqnn_pl.quantum.layers.base import (
    _TWO_PI,
    Backend,
    _check_image,
    _check_positive_int,
    _exact_precision,
    _output_dtype,
    _QuantumLayer,
)
from hqnn_pl.quantum.noise import NoiseSpec

__all__ = ["Quanv2d"]


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


QuanvMethod = Literal["auto", "heisenberg", "dense", "gatewise"]
_QUANV_METHODS = ("auto", "heisenberg", "dense", "gatewise")


def _random_layers_program(angles: np.ndarray, seed: int) -> tuple[engine.GateProgram, np.ndarray]:
    """``qml.RandomLayers`` as a gate-wise program: rotations, and CNOT runs as permutations.

    Args:
        angles: RandomLayers angles of shape ``(n_random_layers, n)``.
        seed: Seed of RandomLayers' gate structure.

    Returns:
        The program and its gate matrices, complex of shape ``(G, 2, 2)``.
    """
    n_qubits = angles.shape[-1]
    ops: list[tuple[Any, ...]] = []
    perms: list[np.ndarray] = []
    matrices: list[np.ndarray] = []
    pending: list[tuple[int, int]] = []

    def flush() -> None:
        if pending:
            ops.append(("perm", len(perms)))
            perms.append(engine.permutation_from_cnots(n_qubits, pending))
            pending.clear()

    layers = qml.RandomLayers(angles, wires=range(n_qubits), seed=seed)
    for op in layers.decomposition():
        wires = [int(w) for w in op.wires]
        if op.name == "CNOT":
            pending.append((wires[0], wires[1]))
            continue
        flush()
        ops.append(("gate", wires[0], 1, len(matrices)))
        matrices.append(np.asarray(qml.matrix(op), dtype=np.complex128))
    flush()
    program = engine.GateProgram(n_qubits, tuple(ops), tuple(perms))
    return program, np.stack(matrices) if matrices else np.zeros((0, 2, 2), np.complex128)


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
        method: How the torch backend simulates: ``"heisenberg"`` (Pauli strings, up to 4
            qubits; the only method of the trainable block), ``"dense"`` (the ``2^n x 2^n``
            unitary, computed once), ``"gatewise"`` (a state vector gate by gate: e.g. 16
            qubits for ``kernel_size=4``) or ``"auto"`` (Heisenberg up to 4 qubits, then the
            cheaper of the other two).
        noise: Noise model, e.g. ``{depolarizing: 0.01, amplitude_damping: 0.002, readout:
            0.02}`` (all keys optional; see :mod:`hqnn_pl.quantum.noise` for the exact meaning).
            Both backends run it exactly (pennylane: ``device="default.mixed"``).
        shot_gradients: With ``shots`` on the torch backend: ``"exact"`` (default; gradients of
            the exact expectation) or ``"parameter-shift"`` (sampled shift rule, as hardware).
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
        method: QuanvMethod = "auto",
        noise: NoiseSpec = None,
        shot_gradients: str | None = None,
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
            method,
            _QUANV_METHODS,
            noise=noise,
            shot_gradients=shot_gradients,
        )
        if trainable and method in ("dense", "gatewise"):
            raise ConfigurationError(
                f"Quanv2d(trainable=True) cannot run with method={method!r}: its block runs in "
                "the Heisenberg picture (exact weight gradients by parameter shift). Use "
                "method='heisenberg' or 'auto'."
            )
        if method == "heisenberg" and n_qubits > _PAULI_QUBITS:
            raise ConfigurationError(
                f"Quanv2d(kernel_size={kernel_size}) cannot run with method='heisenberg': it "
                f"holds 3^n Pauli strings, for up to {_PAULI_QUBITS} qubits (kernel_size=2); "
                f"got {n_qubits}. Use method='auto', 'dense' or 'gatewise'."
            )
        self.kernel_size = kernel_size
        self.stride = stride
        self.trainable = trainable
        self.n_random_layers = n_random_layers
        self.seed = seed
        self._resolved = self._static_method()
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
        if self._resolved == "gatewise":
            self._program, gate_mats = _random_layers_program(angles, self.seed)
            self._tables.update(gate_mats=gate_mats)
        elif self._resolved == "heisenberg":
            unitary = circuits.random_layers_unitary(angles, self.seed)
            transfer = engine.z_transfer(unitary)  # (n, 3^n)
            strings = np.flatnonzero(np.abs(transfer).max(axis=0) > _NEGLIGIBLE)
            self._tables.update(
                string_rows=engine.trig_factor_rows(strings, self.n_qubits),
                transfer=transfer[:, strings],
            )
        else:
            unitary = circuits.random_layers_unitary(angles, self.seed)
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

    def _static_method(self) -> str:
        """The method of the torch backend: fixed at construction, all linear in the batch."""
        if self.method != "auto":
            return self.method
        if self.trainable or self.n_qubits <= _PAULI_QUBITS:
            return "heisenberg"
        # Dense: one (2N x N) matmul per patch; gate-wise: a pass over the state per gate.
        n_ops = 3 * self.n_random_layers * self.n_qubits  # gates and CNOT runs, an upper bound
        return "dense" if 4**self.n_qubits <= 4 * 2**self.n_qubits * n_ops else "gatewise"

    def _forward_amplitudes(self, patches: Tensor, tables: dict[str, Tensor | None]) -> Tensor:
        """State-vector paths (dense or gate-wise), shapes as in :meth:`_forward_heisenberg`."""
        groups, out_h, out_w = patches.shape[:3]
        n_patches = groups * out_h * out_w
        engine.check_memory(
            self._engine_what,
            self._resolved,
            self.n_qubits,
            self.n_random_layers,
            1,
            n_patches,
            patches.element_size(),
            patches.device,
        )
        pixels = patches.permute(3, 4, 0, 1, 2).reshape(self.n_qubits, n_patches)
        half = pixels * (math.pi / 2)  # RY(π x)|0> = cos(π x / 2)|0> + sin(π x / 2)|1>
        states = engine.product_state(torch.stack([torch.cos(half), torch.sin(half)], dim=1))
        if self._resolved == "gatewise":
            gate_mats = tables["gate_mats"]
            matrices = [gate_mats[i : i + 1] for i in range(len(gate_mats))]
            expvals = engine.run_program(self._program, states[None], matrices)[0]
        else:
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
            if self._noisy:  # noise and/or shots (issue 12)
                expvals = noisy.quanv_forward(self, patches, engine.compute_dtypes(real)[1])
            elif self._resolved == "heisenberg":
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
