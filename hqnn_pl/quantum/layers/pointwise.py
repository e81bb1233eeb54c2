"""QPCNN's quantum pointwise (1x1) convolution on amplitude-encoded channel vectors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import circuits, engine
from hqnn_pl.quantum.engine import noisy
from hqnn_pl.quantum.engine import shots as shot_engine
from hqnn_pl.quantum.engine.planner import CircuitShape
from hqnn_pl.quantum.execution import Execution
from hqnn_pl.quantum.layers.base import (
    _MEASUREMENTS,
    _TWO_PI,
    QuantumLayer,
    _check_choice,
    _check_image,
    _check_positive_ints,
    _exact_precision,
    _output_dtype,
)
from hqnn_pl.quantum.spec import CircuitSpec

__all__ = ["ChannelIdentity", "QuantumPointwiseConv2d", "qpcnn_spec"]


def qpcnn_spec(
    in_channels: int, n_qubits: int, depth: int, weights: Tensor | None = None
) -> CircuitSpec:
    """The :class:`CircuitSpec` of QPCNN's circuit, read out as ``<Z>``.

    Args:
        in_channels: Amplitudes encoded.
        n_qubits: Qubits.
        depth: StronglyEntanglingLayers.
        weights: The weights ``(1, depth, n, 3)``, or None (a family member without weights).

    Returns:
        The spec, with the family of the same circuit at other sizes.
    """
    return CircuitSpec.layered(
        f"qpcnn(in_channels={in_channels}, n_qubits={n_qubits}, depth={depth}, "
        "amplitude embedding, <Z>)",
        (circuits.qpcnn_circuit, {"measurement": "expval"}),
        (n_qubits, depth, in_channels),
        "amplitude",
        weights,
        lambda n, d: qpcnn_spec(2**n, n, d),
    )


class ChannelIdentity(nn.Module):
    """QuantumPointwiseConv2d's identity: the first ``out_channels`` channels, zero-padded.

    Args:
        out_channels: Channels of the output (the quantum layer's output maps).
    """

    def __init__(self, out_channels: int) -> None:
        super().__init__()
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, C, H, W)`` to ``(B, out_channels, H, W)``."""
        kept = x[:, : self.out_channels]
        missing = self.out_channels - kept.shape[1]
        return F.pad(kept, (0, 0, 0, 0, 0, missing)) if missing > 0 else kept

    def extra_repr(self) -> str:
        """Show the output width."""
        return f"out_channels={self.out_channels}"


class QuantumPointwiseConv2d(QuantumLayer):
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
        max_qubits: Largest allowed ``n``; a channel count needing more qubits is an error. The
            torch backend also needs the states to fit in memory (see ``method``).
        execution: How the circuits run (:class:`~hqnn_pl.quantum.execution.Execution`:
            backend, shots, noise, method, route; a mapping of its fields; None: exact torch).
    """

    def __init__(
        self,
        in_channels: int,
        depth: int = 1,
        measurement: Literal["expval", "probs"] = "expval",
        max_qubits: int = engine.MAX_QUBITS,
        execution: Execution | None = None,
    ) -> None:
        _check_positive_ints(in_channels=in_channels, depth=depth, max_qubits=max_qubits)
        _check_choice("measurement", measurement, _MEASUREMENTS)
        n_qubits = max(1, (in_channels - 1).bit_length())
        if n_qubits > max_qubits:
            raise ConfigurationError(
                f"in_channels={in_channels} needs {n_qubits} qubits (2^{n_qubits} >= "
                f"{in_channels} amplitudes) but max_qubits={max_qubits}. Reduce the channels "
                "first (e.g. a 1x1 Conv2d) or raise max_qubits."
            )
        shape = CircuitShape(
            f"QuantumPointwiseConv2d(in_channels={in_channels})",
            n_qubits,
            depth,
            1,
            depth * n_qubits * 3,
            ("dense", "gatewise", "density"),
        )
        super().__init__(execution, shape)
        self.in_channels = in_channels
        self.depth = depth
        self.measurement = measurement
        self.out_channels = n_qubits if measurement == "expval" else 2**n_qubits
        self.weights = nn.Parameter(torch.empty(depth, n_qubits, 3))
        self.reset_parameters()
        first = np.zeros(2**n_qubits)
        first[0] = 1.0
        perms = engine.strongly_entangling_permutations(n_qubits, depth)
        self._program = engine.layered_program(n_qubits, list(perms))
        signs2_t = None  # the dense path's table; no dense unitary fits in memory beyond 14
        if n_qubits <= 14:
            signs = engine.z_sign_table(n_qubits)
            signs2_t = np.concatenate([signs, signs]).T
        self._tables = engine.ConstantCache({"perms": perms, "signs2_t": signs2_t, "first": first})
        self._noise_tables: noisy.NoiseTables | None = None  # built on first noisy call
        if self.backend == "pennylane":
            self._build_pennylane_qnode()

    def reset_parameters(self) -> None:
        """Re-initialise ``weights`` uniformly in ``[0, 2π)``."""
        nn.init.uniform_(self.weights, 0.0, _TWO_PI)

    def circuit(self) -> tuple[Callable[..., Any], dict[str, Any]]:
        """``circuits.qpcnn_circuit`` with this layer's measurement."""
        return circuits.qpcnn_circuit, {"measurement": self.measurement}

    def circuit_spec(self) -> CircuitSpec:
        """The circuit for the diagnostics (read out as ``<Z>`` even for ``probs``)."""
        weights = self.weights.detach().to("cpu", torch.float64)[None]
        spec = qpcnn_spec(self.in_channels, self.n_qubits, self.depth, weights)
        if self.measurement == "probs":
            spec = replace(spec, name=spec.name + " (layer reads probs; diagnosed on <Z>)")
        return spec

    def shifted_angles(self) -> tuple[int, int]:
        """Parameter shift shifts every ``Rot`` angle; amplitude embedding has no shift rule."""
        return self.depth * self.n_qubits * 3, 0

    def executions_per_call(self, x: Tensor) -> int:
        """One execution per pixel of every image of ``x`` ``(B, C, H, W)``."""
        return x.shape[0] * x.shape[2] * x.shape[3]

    def identity(self) -> nn.Module:
        """The first ``out_channels`` input channels, zero-padded (:class:`ChannelIdentity`)."""
        return ChannelIdentity(self.out_channels)

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
        route = self._route(states.shape[1], states)
        if route == "device":
            probs = self.measurement == "probs"
            out = self._run_device(states.T[None], weights.reshape(1, -1), probs)[0]
            out = out.reshape(self.out_channels, batch, height, width).transpose(0, 1)
            return out.contiguous().to(_output_dtype(x.dtype, real))
        if route == "density":  # noise and/or shots
            out = self._forward_noisy(states, weights, cplx)
            out = out.reshape(self.out_channels, batch, height, width).transpose(0, 1)
            return out.contiguous().to(_output_dtype(x.dtype, real))
        mats = engine.rot_matrices(weights, cplx)
        if route == "gatewise":
            matrices = engine.layer_matrices(mats[None])
            probs = self.measurement == "probs"
            out = engine.run_program(self._program, states[None], matrices, probs)[0]
            out = out.reshape(self.out_channels, batch, height, width).transpose(0, 1)
            return out.contiguous().to(_output_dtype(x.dtype, real))
        unitary = engine.build_unitary(mats, tables["perms"])
        squared = engine.squared_amplitudes(engine.stacked_real(unitary), states)  # (2N, P)
        if self.measurement == "probs":
            out = engine.probabilities(squared)  # (N, P)
        else:
            out = engine.expvals_z(squared, tables["signs2_t"])  # (n, P)
        out = out.reshape(self.out_channels, batch, height, width).transpose(0, 1).contiguous()
        return out.to(_output_dtype(x.dtype, real))

    def _forward_noisy(self, states: Tensor, weights: Tensor, cplx: torch.dtype) -> Tensor:
        """Noise and/or shots: embedded states ``(2^n, P)`` -> ``(n_out, P)``."""
        n, depth = self.n_qubits, self.depth
        program = noisy.layered_noisy_program(n, depth, embedding_noise=False)
        if self._noise_tables is None:
            probs = self.measurement == "probs"
            self._noise_tables = noisy.NoiseTables(
                self.noise, n, "Z", probs, self.shots is not None
            )
        tables = self._noise_tables

        def run(x: Tensor, w: Tensor, sampler: shot_engine.ShotSampler | None = None) -> Tensor:
            matrices = engine.rot_matrices(w, cplx).reshape(1, depth * n, 2, 2)
            what = self.planner.shape.what
            return noisy.run_noisy(what, program, matrices, x, tables, sampler)[0]

        if self.shot_gradients != "parameter-shift":
            return run(states, weights, self._sampler)
        # Weights by the sampled shift rule; amplitude embedding is a state preparation, not a
        # rotation, so the input gradient is that of the exact expectation.
        sampled = shot_engine.parameter_shift(
            lambda x, w: run(x, w, self._sampler), states.detach(), weights, None, None, 0
        )
        exact = run(states, weights.detach())
        return sampled + exact - exact.detach()

    def extra_repr(self) -> str:
        """Summary shown by ``print(module)``."""
        return (
            f"in_channels={self.in_channels}, n_qubits={self.n_qubits}, depth={self.depth}, "
            f"measurement={self.measurement!r}, " + super().extra_repr()
        )
