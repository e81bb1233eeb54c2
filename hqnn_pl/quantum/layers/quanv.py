"""Quanvolution: a small circuit on every image patch; HQNN-Quanv's trainable layer."""

from __future__ import annotations

import abc
import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import circuits, engine
from hqnn_pl.quantum.engine import noisy
from hqnn_pl.quantum.engine import shots as shot_engine
from hqnn_pl.quantum.engine.density import NoisyProgram
from hqnn_pl.quantum.engine.planner import CircuitShape
from hqnn_pl.quantum.execution import Execution
from hqnn_pl.quantum.layers.base import (
    _TWO_PI,
    QuantumLayer,
    _check_image,
    _check_positive_ints,
    _exact_precision,
    _output_dtype,
)
from hqnn_pl.quantum.spec import CircuitSpec

__all__ = ["PatchIdentity", "Quanv2d", "Quanvolution"]

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


QUANV_METHODS = ("auto", "heisenberg", "dense", "gatewise")
"""Values of a quanvolution's ``method``."""


class PatchIdentity(nn.Module):
    """A quanvolution's identity: each ``k x k`` patch's pixels as ``k*k`` channels.

    Output channel ``c*k*k + j`` is pixel ``j`` (row-major) of the patch of channel ``c``, as
    qubit ``j`` is in the circuit: a space-to-depth rearrangement that loses nothing.

    Args:
        kernel_size: Patch side ``k``.
        stride: Step between patches.
    """

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, C, H, W)`` to ``(B, C*k*k, H', W')``, the quanvolution's output shape."""
        batch, _, height, width = x.shape
        k = self.kernel_size
        out_h = (height - k) // self.stride + 1
        out_w = (width - k) // self.stride + 1
        patches = F.unfold(x, k, stride=self.stride)  # (B, C*k*k, H'*W'), channel-major
        return patches.reshape(batch, -1, out_h, out_w)

    def extra_repr(self) -> str:
        """Show the patch size and stride."""
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class Quanvolution(QuantumLayer):
    """What every quanvolution shares: patches, ``RY(π x)`` encoding, ``<Z>`` per qubit.

    Each ``k x k`` patch (row-major, pixel ``(i, j)`` on qubit ``i * k + j``) of every channel
    is encoded with ``RY(π x)`` on ``k * k`` qubits (pixels are expected in ``[0, 1]``), the
    subclass's block follows, and ``<Z>`` of every qubit is read out, giving ``k * k`` output
    channels per input channel: output channel ``c * k * k + j`` is qubit ``j`` of input channel
    ``c``. Input ``(B, C, H, W)`` gives ``(B, C * k * k, H', W')`` with
    ``H' = (H - k) // stride + 1`` (same for ``W'``). All patches of all channels and images are
    simulated as one batch.

    Args:
        kernel_size: Patch side ``k``.
        stride: Step between patches.
        execution: How the circuits run.
        shape: The circuit as the planner sees it.
    """

    def __init__(
        self,
        kernel_size: int,
        stride: int,
        execution: Execution | None,
        shape: CircuitShape,
    ) -> None:
        super().__init__(execution, shape, QUANV_METHODS)
        self.kernel_size = kernel_size
        self.stride = stride
        self._tables = engine.ConstantCache({})
        self._pauli_tables: noisy.PauliTables | None = None
        self._noise_tables: noisy.NoiseTables | None = None

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

    def executions_per_call(self, x: Tensor) -> int:
        """One execution per patch of every channel of every image of ``x`` ``(B, C, H, W)``."""
        channels, height, width = x.shape[1:]
        _, out_h, out_w = self.output_shape(channels, height, width)
        return x.shape[0] * channels * out_h * out_w

    def identity(self) -> nn.Module:
        """Each patch's own pixels in place of its qubits' ``<Z>`` (:class:`PatchIdentity`)."""
        return PatchIdentity(self.kernel_size, self.stride)

    @abc.abstractmethod
    def _circuit_weights(self) -> Tensor:
        """The tensor the circuit's QNode takes as ``weights``."""

    def example_args(self) -> tuple[Tensor, Tensor]:
        """Example ``(inputs, weights)`` of the circuit, for drawing and probing.

        Returns:
            An example patch ``(k * k,)`` with pixels ``1/(n+1), 2/(n+1), ...`` and the current
            weights, as detached float64 CPU tensors.
        """
        inputs = torch.arange(1, self.n_qubits + 1, dtype=torch.float64) / (self.n_qubits + 1)
        return inputs, self._circuit_weights().detach().to("cpu", torch.float64)

    def _patches(self, images: Tensor) -> Tensor:
        """Strided view of the patches: ``(B, C, H, W)`` -> ``(B * C, H', W', k, k)``."""
        k, stride = self.kernel_size, self.stride
        patches = images.unfold(2, k, stride).unfold(3, k, stride)  # (B, C, H', W', k, k)
        return patches.flatten(0, 1)

    @abc.abstractmethod
    def _forward_exact(
        self, route: str, patches: Tensor, tables: dict[str, Tensor | None]
    ) -> Tensor:
        """Noise-free torch routes: ``(N, H', W', k, k)`` -> ``(N, k*k, H', W')``."""

    @abc.abstractmethod
    def _noisy_program(
        self, weights: Tensor | None, cplx: torch.dtype, device: torch.device
    ) -> tuple[NoisyProgram, Tensor]:
        """The block gate by gate and its gate matrices ``(1, G, 2, 2)`` for the noisy routes."""

    def _noisy_run(self, route: str, flat: Tensor, w: Tensor | None, cplx: torch.dtype) -> Tensor:
        """Noisy / sampled routes on flat patches ``(N, H', W', n)`` -> ``(N, n, H', W')``."""
        groups, out_h, out_w, n = flat.shape
        pixels = flat.permute(3, 0, 1, 2).reshape(n, -1)
        program, matrices = self._noisy_program(w, cplx, flat.device)
        if route == "pauli_transfer":
            if self._pauli_tables is None:
                self._pauli_tables = noisy.PauliTables(self.noise)
            out = noisy.pauli_transfer_expvals(program, matrices[0], pixels, self._pauli_tables)
        else:
            if self._noise_tables is None:
                sampled = self.shots is not None
                self._noise_tables = noisy.NoiseTables(self.noise, n, "Z", False, sampled)
            states = noisy.pixel_states(pixels)  # (2^n, P)
            out = noisy.run_noisy(
                self.planner.shape.what, program, matrices, states, self._noise_tables,
                self._sampler,
            )[0]  # fmt: skip
        return out.view(n, groups, out_h, out_w).transpose(0, 1)

    def _forward_noisy(self, route: str, patches: Tensor, cplx: torch.dtype) -> Tensor:
        """Noise and/or shots: ``(N, H', W', k, k)`` -> ``(N, k*k, H', W')``."""
        flat = patches.flatten(-2)  # (N, H', W', k*k)

        def run(x: Tensor, w: Tensor | None) -> Tensor:
            return self._noisy_run(route, x, w, cplx)

        weights = self._trained_weights()
        if weights is None:
            return run(flat, None)
        weights = weights.to(device=patches.device, dtype=patches.dtype)
        if self.shot_gradients == "parameter-shift":
            return shot_engine.parameter_shift(
                run, flat, weights, math.pi, circuit_dim=None, x_out_dim=1
            )
        return run(flat, weights)

    def _trained_weights(self) -> Tensor | None:
        """The trained weights (None for a fixed circuit)."""
        return None

    @_exact_precision
    def forward(self, x: Tensor) -> Tensor:
        """Apply the quanvolution.

        Args:
            x: Images of shape ``(B, C, H, W)``, pixel values in ``[0, 1]``.

        Returns:
            Tensor of shape ``(B, C * k * k, H', W')`` in the dtype of ``x`` (float32 if ``x``
            is not floating point).
        """
        _check_image(type(self).__name__, x, self.kernel_size)
        real, cplx = engine.compute_dtypes(x.dtype)
        batch, channels, height, width = x.shape
        kk = self.n_qubits
        _, out_h, out_w = self.output_shape(channels, height, width)
        patches = self._patches(x.to(real))  # (B * C, H', W', k, k)
        if self.backend == "pennylane":
            weights = self._circuit_weights().to(device=x.device, dtype=real)
            expvals = self._run_pennylane(patches.reshape(-1, kk), weights, kk).to(real)
            expvals = expvals.reshape(batch, channels, out_h, out_w, kk).permute(0, 1, 4, 2, 3)
        else:
            route = self._route(batch * channels * out_h * out_w, patches)
            if route == "device":
                expvals = self._forward_device(patches, real)
            elif route in ("pauli_transfer", "density"):
                expvals = self._forward_noisy(route, patches, cplx)
            else:
                self._prepare_route(route)
                expvals = self._forward_exact(route, patches, self._tables.get(x.device, real))
        out = expvals.reshape(batch, channels * kk, out_h, out_w)
        return out.to(_output_dtype(x.dtype, real))

    def _forward_device(self, patches: Tensor, real: torch.dtype) -> Tensor:
        """The ``device`` route: ``(N, H', W', k, k)`` -> ``(N, k*k, H', W')``."""
        flat = patches.flatten(-2)
        groups, out_h, out_w, n = flat.shape
        weights = self._circuit_weights().to(device=patches.device, dtype=real).reshape(1, -1)
        out = self._run_device(flat.reshape(1, -1, n), weights)[0]  # (n, P)
        return out.view(n, groups, out_h, out_w).transpose(0, 1)

    def _prepare_route(self, route: str) -> None:
        """Bring the tables of ``route`` up to date (a fixed circuit's buffer may change)."""


class Quanv2d(Quanvolution):
    """HQNN-Quanv's trainable 2x2 quanvolution (Senokosov et al. 2024): 4 qubits, 4 weights.

    See :class:`Quanvolution` for the patches and outputs. The block: ``RX(w0)`` on qubit 0,
    ``RX(w1)`` on 1, ``CNOT(2, 3)``, ``CNOT(0, 2)``, ``CNOT(0, 3)``, ``RY(w2)`` on 0, ``RY(w3)``
    on 3, with the parameter ``weights`` of shape ``(4,)`` initialised uniformly in
    ``[0, 2π)``. The torch backend runs it in the Heisenberg picture (see
    :func:`engine.patch_pauli_expvals`) and differentiates the weights with the (exact)
    parameter-shift rule. The fixed random quanvolution is
    :class:`~hqnn_pl.quantum.layers.RandomQuanv2d`.

    Args:
        kernel_size: Patch side; the block is defined for 2 (4 qubits) only.
        stride: Step between patches.
        execution: How the circuits run (:class:`~hqnn_pl.quantum.execution.Execution`:
            backend, shots, noise, method, route; a mapping of its fields; None: exact torch).
            The torch backend's only noise-free method is ``"heisenberg"``.
    """

    def __init__(
        self,
        kernel_size: int = 2,
        stride: int = 2,
        execution: Execution | None = None,
    ) -> None:
        _check_positive_ints(kernel_size=kernel_size, stride=stride)
        if kernel_size != 2:
            raise ConfigurationError(
                f"The trainable quanvolution block is defined for kernel_size=2 (4 qubits) only; "
                f"got kernel_size={kernel_size}. Use kernel_size=2, or RandomQuanv2d for a "
                "random circuit on k*k qubits."
            )
        shape = CircuitShape(
            "Quanv2d(kernel_size=2) (k*k qubits)",
            4,
            1,
            1,
            4,
            ("heisenberg", "pauli_transfer", "density"),
        )
        super().__init__(kernel_size, stride, execution, shape)
        if self.execution.method in ("dense", "gatewise"):
            raise ConfigurationError(
                f"Quanv2d cannot run with method={self.execution.method!r}: its block runs in the "
                "Heisenberg picture (exact weight gradients by parameter shift). Use "
                "method='heisenberg' or 'auto'."
            )
        self.weights = nn.Parameter(torch.empty(4))
        self.reset_parameters()
        self._tables.update(**_trainable_quanv_tables())
        if self.backend == "pennylane":
            self._build_pennylane_qnode()

    def reset_parameters(self) -> None:
        """Re-initialise ``weights`` uniformly in ``[0, 2π)``."""
        nn.init.uniform_(self.weights, 0.0, _TWO_PI)

    def circuit(self) -> tuple[Callable[..., Any], dict[str, Any]]:
        """``circuits.quanv_trainable_circuit``."""
        return circuits.quanv_trainable_circuit, {}

    def circuit_spec(self) -> CircuitSpec:
        """The trainable block for the diagnostics (fixed size: no family)."""
        return CircuitSpec(
            name="quanv trainable block (4 qubits, RY(pi x) embedding, <Z>)",
            qfunc=circuits.quanv_trainable_circuit,
            kwargs={},
            n_qubits=4,
            n_inputs=4,
            weight_shape=(4,),
            input_kind="pixel",
            circuit_weights=self.weights.detach().to("cpu", torch.float64)[None],
        )

    def shifted_angles(self) -> tuple[int, int]:
        """Parameter shift shifts the 4 weights; the pixels of a first layer need no gradient."""
        return 4, 0

    def _circuit_weights(self) -> Tensor:
        return self.weights

    def _trained_weights(self) -> Tensor | None:
        return self.weights

    def _forward_exact(
        self, route: str, patches: Tensor, tables: dict[str, Tensor | None]
    ) -> Tensor:
        """Heisenberg picture: only the Pauli strings with a non-zero coefficient (6 of 81).

        The coefficients are a trigonometric polynomial of the 4 weights, tabulated exactly
        once (:func:`_trainable_quanv_tables`) and evaluated each forward pass
        (:func:`engine.trig_polynomial`); see :func:`engine.patch_pauli_expvals`.
        """
        del route
        transfer = engine.trig_polynomial(
            self.weights.to(patches), tables["monomial_rows"], tables["coefficients"]
        ).view(self.n_qubits, -1)
        return engine.patch_pauli_expvals(patches, tables["string_rows"], transfer)

    def _noisy_program(
        self, weights: Tensor | None, cplx: torch.dtype, device: torch.device
    ) -> tuple[NoisyProgram, Tensor]:
        del device
        return noisy.quanv_trainable_program(weights, cplx)

    def extra_repr(self) -> str:
        """Summary shown by ``print(module)``."""
        return f"kernel_size=2, stride={self.stride}, " + super().extra_repr()
