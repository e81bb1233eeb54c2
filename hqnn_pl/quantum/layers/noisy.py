"""The torch backend's noisy and finite-shot execution, shared by every layer.

A layer hands over its circuit as a :class:`~hqnn_pl.quantum.engine.density.NoisyProgram`, the
matrices of its gates and the noise-free embedded states; this module evolves the measured
observables through the noise model (:mod:`hqnn_pl.quantum.engine.density`) and either returns
exact expectations or, with ``shots``, estimates sampled from the measured distribution
(:mod:`hqnn_pl.quantum.engine.shots`).
"""

from __future__ import annotations

import math

import numpy as np
import pennylane as qml
import torch
from torch import Tensor

from hqnn_pl.quantum.engine import cost, density, pauli_transfer, shots
from hqnn_pl.quantum.engine.gates import product_state, rot_matrices
from hqnn_pl.quantum.engine.tables import (
    ConstantCache,
    strongly_entangling_cnots,
    z_sign_table,
)
from hqnn_pl.quantum.noise import Noise

__all__ = [
    "NoiseTables",
    "parallel_forward",
    "pointwise_forward",
    "quanv_forward",
    "run_noisy",
]


class NoiseTables:
    """Constant tables of a layer's noisy execution, per device and dtype.

    Args:
        noise: The noise model (None: noise-free, e.g. shots only).
        n_qubits: Qubits of the circuit.
        observable: Measured Pauli on every wire.
        probs: Whether the layer measures basis-state probabilities (QPCNN ``probs``).
        sampled: Whether outputs are sampled (then all ``2^n`` outcome projectors are evolved).
    """

    def __init__(
        self, noise: Noise | None, n_qubits: int, observable: str, probs: bool, sampled: bool
    ) -> None:
        tables = {}
        if sampled or probs:
            tables["observables"] = density.projector_observables(observable, n_qubits)
            tables["signs"] = z_sign_table(n_qubits)
        else:
            tables["observables"] = density.pauli_observables(observable, n_qubits)
        tables["gate_noise"] = None
        tables["readout"] = None
        if noise is not None and noise.has_gate_noise:
            tables["gate_noise"] = density.adjoint_superop(noise.gate_kraus())
        if noise is not None and noise.readout > 0:
            tables["readout"] = density.adjoint_superop(noise.readout_kraus())
        self.probs = probs
        self.sampled = sampled
        self.n_observables = len(tables["observables"])
        self._cache = ConstantCache(tables)

    def get(self, device: torch.device, real: torch.dtype) -> dict[str, Tensor | None]:
        """The tables as tensors on ``device`` for computations in ``real``."""
        return self._cache.get(device, real)


def run_noisy(
    what: str,
    program: density.NoisyProgram,
    matrices: Tensor,
    states: Tensor,
    tables: NoiseTables,
    sampler: shots.ShotSampler | None,
) -> Tensor:
    """Outputs of ``C`` circuits on a batch: exact under noise, or sampled with shots.

    Args:
        what: The layer, for memory errors.
        program: The circuit's gates.
        matrices: Complex ``(C, G, 2, 2)`` gate matrices.
        states: Embedded states ``(C, N, P)`` or ``(N, P)``, batch last.
        tables: The layer's :class:`NoiseTables`.
        sampler: Shot sampler, or None for exact expectations.

    Returns:
        Real ``(C, n_out, P)``: ``<P_j>`` per wire, or the ``2^n`` probabilities for ``probs``.
    """
    real = states.real.dtype if states.is_complex() else states.dtype
    consts = tables.get(states.device, real)
    n_circuits = matrices.shape[0]
    density.check_density_memory(
        what,
        program.n_qubits,
        n_circuits,
        tables.n_observables,
        states.shape[-1],
        torch.finfo(real).bits // 8,
        cost.available_memory(states.device),
    )
    ops = density.evolve_observables(
        program, matrices, consts["observables"], consts["gate_noise"], consts["readout"]
    )
    values = density.expectations(ops, states)  # (C, K, P)
    if not tables.sampled:
        return values
    probs = values.clamp_min(0.0)
    exact = probs if tables.probs else torch.einsum("ckp,kj->cjp", probs, consts["signs"])
    if sampler is None:
        return exact
    return sampler.estimate(probs, consts["signs"], tables.probs, exact)


def _tables(layer: object, observable: str, probs: bool = False) -> NoiseTables:
    """The layer's :class:`NoiseTables`, built on first use."""
    tables = getattr(layer, "_noise_tables", None)
    if tables is None:
        tables = NoiseTables(
            layer.noise, layer.n_qubits, observable, probs, layer.shots is not None
        )
        layer._noise_tables = tables
    return tables


def _layered_program(n_qubits: int, depth: int, embedding_noise: bool) -> density.NoisyProgram:
    """StronglyEntanglingLayers as written: ``Rot`` on every wire, then its CNOTs, per layer."""
    ops: list[tuple[str, int, int]] = []
    for layer, pairs in enumerate(strongly_entangling_cnots(n_qubits, depth)):
        ops.extend(("gate", j, layer * n_qubits + j) for j in range(n_qubits))
        ops.extend(("cnot", c, t) for c, t in pairs)
    return density.NoisyProgram(n_qubits, tuple(ops), embedding_noise)


def parallel_forward(layer: object, chunks: Tensor, weights: Tensor, cplx: torch.dtype) -> Tensor:
    """Noisy / sampled :class:`~hqnn_pl.quantum.layers.ParallelQuantumLayer`: ``(B, C, n)``."""

    def run(x: Tensor, w: Tensor) -> Tensor:
        return _parallel(layer, x, w, cplx)

    if layer.shot_gradients == "parameter-shift":
        return shots.parameter_shift(run, chunks, weights, 1.0, circuit_dim=1, x_out_dim=2)
    return run(chunks, weights)


def _parallel(layer: object, chunks: Tensor, weights: Tensor, cplx: torch.dtype) -> Tensor:
    if layer.noise is None and layer.n_qubits <= _DENSE_SHOT_QUBITS:
        return _parallel_dense_shots(layer, chunks, weights, cplx)
    n, depth, n_circuits = layer.n_qubits, layer.depth, layer.n_circuits
    program = _layered_program(n, depth, embedding_noise=True)
    matrices = rot_matrices(weights, cplx).reshape(n_circuits, depth * n, 2, 2)
    angles = chunks.permute(1, 2, 0)  # (C, n, B)
    half = angles / 2
    if layer.rotation == "X":  # RX|0> = cos|0> - i sin|1>
        factors = torch.stack([torch.cos(half).to(cplx), -1j * torch.sin(half).to(cplx)], dim=-2)
    elif layer.rotation == "Y":
        factors = torch.stack([torch.cos(half), torch.sin(half)], dim=-2)
    else:  # RZ|0> is |0> up to a phase; zero-times-input keeps the input in the graph
        zeros = angles * 0
        factors = torch.stack([zeros + 1, zeros], dim=-2)
    states = product_state(factors)  # (C, N, B)
    out = run_noisy(
        layer._engine_what,
        program,
        matrices,
        states,
        _tables(layer, layer.observable),
        layer._sampler,
    )
    return out.permute(2, 0, 1)


_DENSE_SHOT_QUBITS = 10
"""Noise-free shots up to this many qubits take their distribution from the dense engine."""


def _parallel_dense_shots(
    layer: object, chunks: Tensor, weights: Tensor, cplx: torch.dtype
) -> Tensor:
    """Noise-free shots: probabilities from the dense unitary (no density matrices needed)."""
    from hqnn_pl.quantum import engine

    tables = layer._tables(True).get(chunks.device, chunks.dtype)
    states = layer._embedded_states(chunks)  # as in the exact path
    unitary = layer._dense_unitary(weights, tables, cplx)
    squared = engine.squared_amplitudes(engine.stacked_real(unitary), states)  # (C, 2N, B)
    exact = engine.expvals_z(squared, tables["signs2_t"])  # (C, n, B)
    if layer._sampler is None:
        return exact.permute(2, 0, 1)
    signs = _tables(layer, layer.observable).get(chunks.device, chunks.dtype)["signs"]
    out = layer._sampler.estimate(engine.probabilities(squared), signs, False, exact)
    return out.permute(2, 0, 1)


def quanv_forward(layer: object, patches: Tensor, cplx: torch.dtype) -> Tensor:
    """Noisy / sampled :class:`~hqnn_pl.quantum.layers.Quanv2d`.

    Args:
        layer: The layer.
        patches: ``(N, H', W', k, k)`` pixel patches.
        cplx: Complex compute dtype.

    Returns:
        ``(N, k*k, H', W')``.
    """
    flat = patches.flatten(-2)  # (N, H', W', k*k)

    def run(x: Tensor, w: Tensor | None) -> Tensor:
        return _quanv(layer, x, w, cplx)

    if not layer.trainable:
        return run(flat, None)
    weights = layer.weights.to(device=patches.device, dtype=patches.dtype)
    if layer.shot_gradients == "parameter-shift":
        return shots.parameter_shift(run, flat, weights, math.pi, circuit_dim=None, x_out_dim=1)
    return run(flat, weights)


def _quanv(layer: object, flat: Tensor, w: Tensor | None, cplx: torch.dtype) -> Tensor:
    groups, out_h, out_w, n = flat.shape
    pixels = flat.permute(3, 0, 1, 2).reshape(n, -1)
    if layer.trainable:
        matrices = torch.stack(
            [
                density.rotation_matrices("X", w[0], cplx),
                density.rotation_matrices("X", w[1], cplx),
                density.rotation_matrices("Y", w[2], cplx),
                density.rotation_matrices("Y", w[3], cplx),
            ]
        )[None]
        ops = (
            ("gate", 0, 0), ("gate", 1, 1), ("cnot", 2, 3), ("cnot", 0, 2), ("cnot", 0, 3),
            ("gate", 0, 2), ("gate", 3, 3),
        )  # fmt: skip
        program = density.NoisyProgram(4, ops, True)
    else:
        program, gate_mats = _random_program(layer)
        matrices = torch.as_tensor(gate_mats).to(device=flat.device, dtype=cplx)[None]
    if layer._sampler is None and n <= _PAULI_MAX_QUBITS:  # exact: the Pauli-transfer path
        out = _quanv_pauli(layer, program, matrices[0], pixels)
    else:
        half = pixels * (math.pi / 2)  # RY(π x)|0>
        states = product_state(torch.stack([torch.cos(half), torch.sin(half)], dim=1))  # (2^n, P)
        out = run_noisy(
            layer._engine_what, program, matrices, states, _tables(layer, "Z"), layer._sampler
        )[0]
    return out.view(n, groups, out_h, out_w).transpose(0, 1)


_PAULI_MAX_QUBITS = 5
"""Exact noisy quanvolutions up to this many qubits run in the Pauli-transfer picture."""


def _quanv_pauli(
    layer: object, program: density.NoisyProgram, matrices: Tensor, pixels: Tensor
) -> Tensor:
    """Exact noisy quanvolution in the Pauli-transfer picture: ``(G, 2, 2)`` gates -> ``(n, P)``.

    ``<Z_j>`` is carried back as Pauli coefficients (:mod:`hqnn_pl.quantum.engine.
    pauli_transfer`) and evaluated on the ``RY(π x)|0>`` Bloch vectors ``(1, sin π x, cos π x)``
    of every pixel.
    """
    tables = getattr(layer, "_pauli_tables", None)
    if tables is None:
        noise = layer.noise
        gate = noise is not None and noise.has_gate_noise
        readout = noise is not None and noise.readout > 0
        cnot = np.eye(4)[[0, 1, 3, 2]]
        tables = ConstantCache(
            {
                "noise": pauli_transfer.channel_ptm(noise.gate_kraus()) if gate else None,
                "readout": (
                    np.diag(pauli_transfer.channel_ptm(noise.readout_kraus())).copy()
                    if readout
                    else None
                ),
                "cnot": pauli_transfer.channel_ptm([cnot]),
            }
        )
        layer._pauli_tables = tables
    consts = tables.get(pixels.device, pixels.dtype)
    coefficients = pauli_transfer.evolve_pauli(
        program.n_qubits,
        program.ops,
        pauli_transfer.unitary_ptm(matrices),
        consts["noise"],
        consts["cnot"],
        consts["readout"],
        program.embedding_noise,
    )
    angles = pixels * math.pi
    bloch = torch.stack([torch.ones_like(angles), torch.sin(angles), torch.cos(angles)], dim=1)
    return pauli_transfer.real_product_expectations(coefficients, bloch)


def _random_program(layer: object) -> tuple[density.NoisyProgram, np.ndarray]:
    """``qml.RandomLayers`` of a random Quanv2d, gate by gate as decomposed by PennyLane."""
    angles = layer.random_weights.detach().to("cpu", torch.float64).numpy()
    key = angles.tobytes()
    cached = getattr(layer, "_noisy_random", None)
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    n = layer.n_qubits
    ops: list[tuple[str, int, int]] = []
    mats: list[np.ndarray] = []
    for op in qml.RandomLayers(angles, wires=range(n), seed=layer.seed).decomposition():
        wires = [int(w) for w in op.wires]
        if op.name == "CNOT":
            ops.append(("cnot", wires[0], wires[1]))
        else:
            ops.append(("gate", wires[0], len(mats)))
            mats.append(np.asarray(qml.matrix(op), dtype=np.complex128))
    program = density.NoisyProgram(n, tuple(ops), True)
    gate_mats = np.stack(mats) if mats else np.zeros((0, 2, 2), np.complex128)
    layer._noisy_random = (key, program, gate_mats)
    return program, gate_mats


def pointwise_forward(layer: object, states: Tensor, weights: Tensor, cplx: torch.dtype) -> Tensor:
    """Noisy / sampled :class:`~hqnn_pl.quantum.layers.QuantumPointwiseConv2d`.

    Args:
        layer: The layer.
        states: Amplitude-embedded states ``(2^n, P)`` (no noise after state preparation).
        weights: ``(depth, n, 3)``.
        cplx: Complex compute dtype.

    Returns:
        ``(n_out, P)``.
    """
    n, depth = layer.n_qubits, layer.depth
    program = _layered_program(n, depth, embedding_noise=False)
    tables = _tables(layer, "Z", probs=layer.measurement == "probs")

    def run(x: Tensor, w: Tensor, sampler: shots.ShotSampler | None = layer._sampler) -> Tensor:
        matrices = rot_matrices(w, cplx).reshape(1, depth * n, 2, 2)
        return run_noisy(layer._engine_what, program, matrices, x, tables, sampler)[0]

    if layer.shot_gradients != "parameter-shift":
        return run(states, weights)
    # Weights by the sampled shift rule; amplitude embedding is a state preparation, not a
    # rotation, so the input gradient is that of the exact expectation.
    sampled = shots.parameter_shift(run, states.detach(), weights, None, None, 0)
    exact = run(states, weights.detach(), None)
    return sampled + exact - exact.detach()
