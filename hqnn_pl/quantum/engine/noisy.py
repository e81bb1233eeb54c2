"""The torch backend's noisy and finite-shot execution: functions of tensors and programs.

A layer hands over its circuit as a :class:`~hqnn_pl.quantum.engine.density.NoisyProgram`, the
matrices of its gates and the embedded states; :func:`run_noisy` evolves the measured
observables through the noise model (:mod:`hqnn_pl.quantum.engine.density`) and either returns
exact expectations or, with a sampler, estimates sampled from the measured distribution
(:mod:`hqnn_pl.quantum.engine.shots`). :func:`dense_shots` samples noise-free circuits from their
squared amplitudes, and :func:`pauli_transfer_expvals` runs exact noisy product-state circuits
(quanvolutions) in the Pauli-transfer picture.
"""

from __future__ import annotations

import math

import numpy as np
import pennylane as qml
import torch
from torch import Tensor

from hqnn_pl.quantum.engine import cost, density, pauli_transfer, shots
from hqnn_pl.quantum.engine.dense import expvals_z, probabilities
from hqnn_pl.quantum.engine.gates import product_state
from hqnn_pl.quantum.engine.tables import (
    ConstantCache,
    strongly_entangling_cnots,
    z_sign_table,
)
from hqnn_pl.quantum.noise import Noise

__all__ = [
    "NoiseTables",
    "PauliTables",
    "angle_states",
    "dense_shots",
    "layered_noisy_program",
    "pauli_transfer_expvals",
    "pixel_states",
    "quanv_trainable_program",
    "random_layers_noisy_program",
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


def layered_noisy_program(n_qubits: int, depth: int, embedding_noise: bool) -> density.NoisyProgram:
    """StronglyEntanglingLayers as written: ``Rot`` on every wire, then its CNOTs, per layer.

    Args:
        n_qubits: Wires.
        depth: Layers; gate ``layer * n_qubits + j`` is the ``Rot`` of wire ``j``.
        embedding_noise: Whether the embedding's gates are noisy (angle embedding: yes;
            amplitude embedding, a state preparation: no).

    Returns:
        The program.
    """
    ops: list[tuple[str, int, int]] = []
    for layer, pairs in enumerate(strongly_entangling_cnots(n_qubits, depth)):
        ops.extend(("gate", j, layer * n_qubits + j) for j in range(n_qubits))
        ops.extend(("cnot", c, t) for c, t in pairs)
    return density.NoisyProgram(n_qubits, tuple(ops), embedding_noise)


def angle_states(chunks: Tensor, rotation: str, cplx: torch.dtype) -> Tensor:
    """Product states of angle-embedded chunks ``(B, C, n)`` -> ``(C, 2^n, B)`` (with phases).

    Args:
        chunks: Rotation angles, batch first.
        rotation: ``"X"``, ``"Y"`` or ``"Z"``.
        cplx: Complex dtype (the RX embedding's states are complex).

    Returns:
        The states, batch last.
    """
    angles = chunks.permute(1, 2, 0)  # (C, n, B)
    half = angles / 2
    if rotation == "X":  # RX|0> = cos|0> - i sin|1>
        factors = torch.stack([torch.cos(half).to(cplx), -1j * torch.sin(half).to(cplx)], dim=-2)
    elif rotation == "Y":
        factors = torch.stack([torch.cos(half), torch.sin(half)], dim=-2)
    else:  # RZ|0> is |0> up to a phase; zero-times-input keeps the input in the graph
        zeros = angles * 0
        factors = torch.stack([zeros + 1, zeros], dim=-2)
    return product_state(factors)


def pixel_states(pixels: Tensor) -> Tensor:
    """``RY(π x)|0>`` product states of pixels ``(n, P)`` -> ``(2^n, P)``."""
    half = pixels * (math.pi / 2)
    return product_state(torch.stack([torch.cos(half), torch.sin(half)], dim=1))


def dense_shots(
    squared: Tensor, signs2_t: Tensor, signs: Tensor, sampler: shots.ShotSampler | None
) -> Tensor:
    """Noise-free ``<Z_j>`` from squared amplitudes, exact or sampled.

    Args:
        squared: ``(C, 2N, P)`` squared real and imaginary amplitudes.
        signs2_t: ``(n, 2N)`` doubled sign table.
        signs: ``(N, n)`` eigenvalues of ``Z_j`` per outcome.
        sampler: Shot sampler, or None for exact expectations.

    Returns:
        ``(C, n, P)``.
    """
    exact = expvals_z(squared, signs2_t)
    if sampler is None:
        return exact
    return sampler.estimate(probabilities(squared), signs, False, exact)


def quanv_trainable_program(
    weights: Tensor, cplx: torch.dtype
) -> tuple[density.NoisyProgram, Tensor]:
    """HQNN-Quanv's trainable block gate by gate, and its gate matrices ``(1, 4, 2, 2)``."""
    matrices = torch.stack(
        [
            density.rotation_matrices("X", weights[0], cplx),
            density.rotation_matrices("X", weights[1], cplx),
            density.rotation_matrices("Y", weights[2], cplx),
            density.rotation_matrices("Y", weights[3], cplx),
        ]
    )[None]
    ops = (
        ("gate", 0, 0), ("gate", 1, 1), ("cnot", 2, 3), ("cnot", 0, 2), ("cnot", 0, 3),
        ("gate", 0, 2), ("gate", 3, 3),
    )  # fmt: skip
    return density.NoisyProgram(4, ops, True), matrices


def random_layers_noisy_program(
    angles: np.ndarray, seed: int
) -> tuple[density.NoisyProgram, np.ndarray]:
    """``qml.RandomLayers`` gate by gate as decomposed by PennyLane, and its gate matrices.

    Args:
        angles: RandomLayers angles ``(n_layers, n)``.
        seed: Seed of RandomLayers' gate structure.

    Returns:
        The program and complex ``(G, 2, 2)`` gate matrices.
    """
    n = angles.shape[-1]
    ops: list[tuple[str, int, int]] = []
    mats: list[np.ndarray] = []
    for op in qml.RandomLayers(angles, wires=range(n), seed=seed).decomposition():
        wires = [int(w) for w in op.wires]
        if op.name == "CNOT":
            ops.append(("cnot", wires[0], wires[1]))
        else:
            ops.append(("gate", wires[0], len(mats)))
            mats.append(np.asarray(qml.matrix(op), dtype=np.complex128))
    program = density.NoisyProgram(n, tuple(ops), True)
    return program, np.stack(mats) if mats else np.zeros((0, 2, 2), np.complex128)


class PauliTables(ConstantCache):
    """Pauli-transfer matrices of a noise model's channels and of CNOT, per device and dtype.

    Args:
        noise: The noise model, or None.
    """

    def __init__(self, noise: Noise | None) -> None:
        gate = noise is not None and noise.has_gate_noise
        readout = noise is not None and noise.readout > 0
        cnot = np.eye(4)[[0, 1, 3, 2]]
        super().__init__(
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


def pauli_transfer_expvals(
    program: density.NoisyProgram, matrices: Tensor, pixels: Tensor, tables: PauliTables
) -> Tensor:
    """Exact noisy ``<Z_j>`` of ``RY(π x)``-embedded pixels in the Pauli-transfer picture.

    ``<Z_j>`` is carried back as Pauli coefficients (:mod:`hqnn_pl.quantum.engine.
    pauli_transfer`) and evaluated on the Bloch vectors ``(1, sin π x, cos π x)`` of every pixel.

    Args:
        program: The circuit's gates.
        matrices: Its gate matrices ``(G, 2, 2)``.
        pixels: ``(n, P)``.
        tables: The noise's :class:`PauliTables`.

    Returns:
        ``(n, P)``.
    """
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
