"""HQNN-Parallel's quantum layer: parallel angle-embedded strongly entangling circuits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hqnn_pl.quantum import circuits, engine
from hqnn_pl.quantum.engine import noisy
from hqnn_pl.quantum.engine import shots as shot_engine
from hqnn_pl.quantum.engine.planner import CircuitShape
from hqnn_pl.quantum.execution import Execution
from hqnn_pl.quantum.layers.base import (
    _PAULIS,
    _TWO_PI,
    Pauli,
    QuantumLayer,
    _check_choice,
    _check_positive_ints,
    _exact_precision,
    _output_dtype,
)
from hqnn_pl.quantum.spec import CircuitSpec

__all__ = ["ROUTES", "ParallelQuantumLayer", "parallel_spec"]

ROUTES = ("dense", "host_unitary", "host_readout", "shifted", "gatewise", "dense_shots", "density")
"""The routes of :class:`ParallelQuantumLayer` on the torch backend."""


def parallel_spec(
    n_qubits: int, depth: int, rotation: str, observable: str, weights: Tensor | None = None
) -> CircuitSpec:
    """The :class:`CircuitSpec` of one parallel circuit (weights ``(C, depth, n, 3)`` or none).

    Args:
        n_qubits: Qubits.
        depth: StronglyEntanglingLayers.
        rotation: Embedding rotation axis.
        observable: Measured Pauli.
        weights: The circuits' weights, or None (a family member without weights).

    Returns:
        The spec, with the family of the same circuit at other sizes.
    """
    return CircuitSpec.layered(
        f"parallel(n_qubits={n_qubits}, depth={depth}, R{rotation} embedding, <{observable}>)",
        (circuits.parallel_circuit, {"rotation": rotation, "observable": observable}),
        (n_qubits, depth, n_qubits),
        "angle",
        weights,
        lambda n, d: parallel_spec(n, d, rotation, observable),
    )


class ParallelQuantumLayer(QuantumLayer):
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
        n_qubits: Qubits per circuit (features per chunk); the torch backend takes what memory
            allows (see ``method``).
        n_circuits: Number of parallel circuits.
        depth: Number of StronglyEntanglingLayers per circuit.
        rotation: Axis of the angle-embedding rotation: ``"X"``, ``"Y"`` or ``"Z"``.
        observable: Pauli measured on every qubit: ``"X"``, ``"Y"`` or ``"Z"``.
        execution: How the circuits run (:class:`~hqnn_pl.quantum.execution.Execution`:
            backend, shots, noise, method, route; a mapping of its fields; None: exact torch).
    """

    def __init__(
        self,
        n_qubits: int = 5,
        n_circuits: int = 4,
        depth: int = 3,
        rotation: Pauli = "X",
        observable: Pauli = "Y",
        execution: Execution | None = None,
    ) -> None:
        _check_positive_ints(n_qubits=n_qubits, n_circuits=n_circuits, depth=depth)
        _check_choice("rotation", rotation, _PAULIS)
        _check_choice("observable", observable, _PAULIS)
        shape = CircuitShape(
            f"ParallelQuantumLayer(n_qubits={n_qubits})",
            n_qubits,
            depth + (observable != "Z"),
            n_circuits,
            depth * n_qubits * 3,
            ROUTES,
        )
        super().__init__(execution, shape)
        self.n_circuits = n_circuits
        self.depth = depth
        self.rotation = rotation
        self.observable = observable
        self.in_features = n_circuits * n_qubits
        self.out_features = n_circuits * n_qubits
        self.weights = nn.Parameter(torch.empty(n_circuits, depth, n_qubits, 3))
        self.reset_parameters()
        self._dense_tables: engine.ConstantCache | None = None  # built on first dense call
        self._gate_tables: engine.ConstantCache | None = None
        self._host: engine.HostCircuit | None = None  # the dense tables in NumPy, on first use
        self._noise_tables: noisy.NoiseTables | None = None  # built on first noisy call
        if self.backend == "pennylane":
            self._build_pennylane_qnode()

    def reset_parameters(self) -> None:
        """Re-initialise ``weights`` uniformly in ``[0, 2π)``."""
        nn.init.uniform_(self.weights, 0.0, _TWO_PI)

    def _tables(self, dense: bool) -> engine.ConstantCache:
        if dense:
            if self._dense_tables is None:
                self._dense_tables = engine.ConstantCache(self._make_tables())
            return self._dense_tables
        if self._gate_tables is None:
            perms = list(engine.strongly_entangling_permutations(self.n_qubits, self.depth))
            if self.observable != "Z":
                perms.append(None)
            self._program = engine.layered_program(self.n_qubits, perms)
            basis = engine.pauli_basis_change(self.observable, 1)
            self._gate_tables = engine.ConstantCache({"basis": basis, "phase": self._phase()})
        return self._gate_tables

    def _phase(self) -> np.ndarray | None:
        """The RX embedding's per-qubit phase ``diag(1, -i)``, to fold into the first layer.

        Shaped ``(depth, 1, 1, 2)`` to scale the columns of every layer's gates in one broadcast
        product (ones past the first layer); None for RY/RZ embeddings, which need none.
        """
        if self.rotation != "X":
            return None
        phase = np.ones((self.depth, 1, 1, 2), dtype=complex)
        phase[0, 0, 0, 1] = -1.0j
        return phase

    def _make_tables(self) -> dict[str, np.ndarray | None]:
        n = self.n_qubits
        signs = engine.z_sign_table(n)
        return {
            "perms": engine.strongly_entangling_permutations(n, self.depth),
            "basis": None,  # X/Y measurement: one constant matrix after the layers instead
            "basis_unitary": engine.pauli_basis_change(self.observable, n),
            "phase": self._phase(),
            "signs2_t": np.concatenate([signs, signs]).T,
        }

    def _host_circuit(self) -> engine.HostCircuit:
        """The dense tables as NumPy arrays, for ``engine.host_stacked_unitary``."""
        if self._host is None:
            tables = self._make_tables()
            self._host = engine.HostCircuit(
                tables["perms"], tables["phase"], tables["basis_unitary"]
            )
        return self._host

    def _dense_unitary(
        self, weights: Tensor, tables: dict[str, Tensor | None], cplx: torch.dtype
    ) -> Tensor:
        """The circuits' unitaries ``(..., C, N, N)`` from weights ``(..., C, depth, n, 3)``.

        The trainable layers as one dense matrix each, then the basis change of an X/Y
        measurement as a constant product (no gradient flows into it).
        """
        unitary = engine.build_unitary(self._layer_gates(weights, tables, cplx), tables["perms"])
        if tables["basis_unitary"] is not None:
            unitary = tables["basis_unitary"] @ unitary
        return unitary

    def circuit(self) -> tuple[Callable[..., Any], dict[str, Any]]:
        """``circuits.parallel_circuit`` with this layer's rotation and observable."""
        return circuits.parallel_circuit, {"rotation": self.rotation, "observable": self.observable}

    def circuit_spec(self) -> CircuitSpec:
        """The circuit for the diagnostics, with the weights of every circuit."""
        weights = self.weights.detach().to("cpu", torch.float64)
        return parallel_spec(self.n_qubits, self.depth, self.rotation, self.observable, weights)

    def shifted_angles(self) -> tuple[int, int]:
        """Parameter shift shifts every ``Rot`` angle and every embedding angle of a circuit."""
        return self.depth * self.n_qubits * 3, self.n_qubits

    def executions_per_call(self, x: Tensor) -> int:
        """One execution per circuit per sample of ``x`` ``(..., n_circuits * n_qubits)``."""
        return x.numel() // self.in_features * self.n_circuits

    def identity(self) -> nn.Module:
        """The features pass through unchanged (``nn.Identity``)."""
        return nn.Identity()

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
        self.check_input_features(
            x,
            f"n_circuits={self.n_circuits} x n_qubits={self.n_qubits}",
            "change n_circuits / n_qubits",
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

    def _layer_gates(
        self, weights: Tensor, tables: dict[str, Tensor | None], cplx: torch.dtype
    ) -> Tensor:
        """Every layer's single-qubit gates: ``(..., depth, n, 3)`` -> ``(..., L, n, 2, 2)``.

        The ``Rot`` gates with the RX embedding's phase folded into the first layer, then, for
        an X or Y measurement, one layer of basis changes.
        """
        mats = engine.rot_matrices(weights, cplx)
        if tables["phase"] is not None:  # scales column 1 of every first-layer gate
            mats = mats * tables["phase"]  # (depth, 1, 1, 2): ones past the first layer
        if tables["basis"] is not None:  # the gate-wise method's tables
            basis = tables["basis"].expand(*mats.shape[:-4], 1, self.n_qubits, 2, 2)
            mats = torch.cat([mats, basis], dim=-4)
        return mats

    def _embedded_states(self, chunks: Tensor) -> Tensor:
        """Real product states of the embedded chunks ``(B, C, n)`` -> ``(C, 2^n, B)``.

        The embedding's phase is folded into the gates (:meth:`_layer_gates`), so the states
        are real; the batch is last (see ``engine.product_state``).
        """
        angles = chunks.permute(1, 2, 0)  # (C, n, B)
        if self.rotation == "Z":
            # RZ|0> is |0> up to a global phase: the outputs do not depend on the inputs (the
            # zero-times-input terms keep them in the autograd graph with zero gradient).
            zeros = angles * 0
            factors = torch.stack([zeros + 1, zeros], dim=-2)
        else:
            half = angles / 2
            factors = torch.stack([torch.cos(half), torch.sin(half)], dim=-2)  # (C, n, 2, B)
        return engine.product_state(factors)

    def _forward_torch(self, chunks: Tensor, weights: Tensor, cplx: torch.dtype) -> Tensor:
        """Exact engine: chunks ``(B, C, n)`` -> expectation values ``(B, C, n)``."""
        route = self._route(chunks.shape[0], chunks)
        if route == "device":
            out = self._run_device(chunks.transpose(0, 1), weights.flatten(1))
            return out.permute(2, 0, 1)
        if route in ("dense_shots", "density"):
            return self._forward_noisy(route, chunks, weights, cplx)
        if route == "gatewise":
            tables = self._tables(False).get(chunks.device, chunks.dtype)
            states = self._embedded_states(chunks)  # (C, N, B)
            matrices = engine.layer_matrices(self._layer_gates(weights, tables, cplx))
            expvals = engine.run_program(self._program, states, matrices)  # (C, n, B)
            return expvals.permute(2, 0, 1)
        tables = self._tables(True).get(chunks.device, chunks.dtype)
        if route == "host_readout":  # small circuits on CPU: the whole circuit in NumPy
            return engine.host_angle_readout(
                chunks,
                weights,
                self._host_circuit(),
                tables["signs2_t"].numpy(),
                self.rotation != "Z",
                lambda c, w: self._dense_expvals(c, w, tables, cplx).permute(2, 0, 1),
            )
        # Three ways to the same [Re U; Im U] and its gradient, by circuit size and device:
        # built in NumPy with a written-out backward pass (CPU, 4-8 qubits), differentiated by
        # shifted unitaries (2-4 qubits off the CPU), or by autograd through the torch build.
        if route == "shifted":
            expvals = engine.shifted_readout(
                lambda w: self._dense_unitary(w, tables, cplx),
                self._embedded_states(chunks),
                weights,
                tables["signs2_t"],
            )
            return expvals.permute(2, 0, 1)
        if route == "host_unitary":
            stacked = engine.host_stacked_unitary(
                weights, self._host_circuit(), lambda w: self._dense_stacked(w, tables, cplx)
            )
        else:
            stacked = self._dense_stacked(weights, tables, cplx)
        return self._readout(stacked, chunks, tables).permute(2, 0, 1)

    def _forward_noisy(
        self, route: str, chunks: Tensor, weights: Tensor, cplx: torch.dtype
    ) -> Tensor:
        """Noise and/or shots: chunks ``(B, C, n)`` -> ``(B, C, n)`` (sampled shift rule)."""
        if self._noise_tables is None:
            self._noise_tables = noisy.NoiseTables(
                self.noise, self.n_qubits, self.observable, False, self.shots is not None
            )

        def run(x: Tensor, w: Tensor) -> Tensor:
            if route == "dense_shots":  # probabilities from the dense unitary
                tables = self._tables(True).get(x.device, x.dtype)
                unitary = engine.stacked_real(self._dense_unitary(w, tables, cplx))
                squared = engine.squared_amplitudes(unitary, self._embedded_states(x))
                signs = self._noise_tables.get(x.device, x.dtype)["signs"]
                out = noisy.dense_shots(squared, tables["signs2_t"], signs, self._sampler)
                return out.permute(2, 0, 1)
            n, depth = self.n_qubits, self.depth
            program = noisy.layered_noisy_program(n, depth, embedding_noise=True)
            matrices = engine.rot_matrices(w, cplx).reshape(self.n_circuits, depth * n, 2, 2)
            states = noisy.angle_states(x, self.rotation, cplx)  # (C, N, B)
            out = noisy.run_noisy(
                self.planner.shape.what, program, matrices, states, self._noise_tables,
                self._sampler,
            )  # fmt: skip
            return out.permute(2, 0, 1)

        if self.shot_gradients == "parameter-shift":
            return shot_engine.parameter_shift(
                run, chunks, weights, 1.0, circuit_dim=1, x_out_dim=2
            )
        return run(chunks, weights)

    def _readout(self, stacked: Tensor, chunks: Tensor, tables: dict[str, Tensor | None]) -> Tensor:
        """``<Z_j>`` ``(C, n, B)`` of the embedded chunks under ``[Re U; Im U]``."""
        squared = engine.squared_amplitudes(stacked, self._embedded_states(chunks))  # (C, 2N, B)
        return engine.expvals_z(squared, tables["signs2_t"])

    def _dense_stacked(
        self, weights: Tensor, tables: dict[str, Tensor | None], cplx: torch.dtype
    ) -> Tensor:
        """``[Re U; Im U]`` ``(C, 2N, N)`` by differentiable torch ops."""
        return engine.stacked_real(self._dense_unitary(weights, tables, cplx))

    def _dense_expvals(
        self, chunks: Tensor, weights: Tensor, tables: dict[str, Tensor | None], cplx: torch.dtype
    ) -> Tensor:
        """The dense method op by op in torch (autograd throughout): ``(C, n, B)``."""
        return self._readout(self._dense_stacked(weights, tables, cplx), chunks, tables)
