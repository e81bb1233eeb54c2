"""Aer's density-matrix simulation of a compiled device circuit: the reference of the tests.

The very circuit the torch engine runs (``CompiledCircuit.circuit``, its parameters bound) runs
on ``AerSimulator(method="density_matrix", noise_model=NoiseModel.from_backend(backend))``;
readout errors are applied to the saved probabilities of the wires' final qubits with the noise
model's own ``ReadoutError`` matrices. An amplitude embedding is an ideal ``initialize``.
"""

from __future__ import annotations

import numpy as np
from qiskit import QuantumCircuit
from qiskit_aer import AerSimulator
from qiskit_aer.noise import NoiseModel

from hqnn_pl.quantum.devices.compile import CompiledCircuit

_CACHE: dict[int, tuple] = {}


def aer_simulator(backend) -> tuple[AerSimulator, NoiseModel]:
    """Aer's density-matrix simulator with ``NoiseModel.from_backend(backend)`` (one thread)."""
    if id(backend) not in _CACHE:
        noise_model = NoiseModel.from_backend(backend)
        sim = AerSimulator(method="density_matrix", noise_model=noise_model, max_parallel_threads=1)
        _CACHE[id(backend)] = (sim, noise_model, backend)
    return _CACHE[id(backend)][:2]


def _preparation(state: np.ndarray) -> np.ndarray:
    """A real orthogonal matrix whose first column is ``state`` (a Householder reflection)."""
    v = np.zeros_like(state)
    v[0] = 1.0
    v = v - state
    if np.linalg.norm(v) < 1e-12:
        return np.eye(len(state))
    return np.eye(len(state)) - 2 * np.outer(v, v) / (v @ v)


def aer_outputs(
    compiled: CompiledCircuit,
    backend,
    inputs: np.ndarray,
    weights: np.ndarray,
    probs: bool = False,
) -> np.ndarray:
    """Outputs ``(B, J)`` of Aer on a batch: ``<Z_j>`` per wire or the ``2^n`` probabilities.

    Args:
        compiled: The compiled circuit.
        backend: The device's backend.
        inputs: ``(B, n_inputs)`` inputs (or ``(B, 2^n)`` state vectors for an amplitude
            embedding).
        weights: Flattened weights of the circuit.
        probs: Return outcome probabilities (wire 0 most significant).
    """
    sim, noise_model = aer_simulator(backend)
    tqc = compiled.circuit
    physical = list(compiled.physical)
    final = [physical[p] for p in compiled.final]
    initial = [physical[p] for p in compiled.initial]
    n = len(final)
    readout = {}
    for q in final:
        error = noise_model._local_readout_errors.get((q,))
        readout[q] = np.eye(2) if error is None else np.asarray(error.probabilities).T
    circuits = []
    for row in inputs:
        binds = {}
        for p in tqc.parameters:
            binds[p] = float(weights[p.index]) if p.vector.name == "w" else float(row[p.index])
        bound = tqc.assign_parameters(binds)
        if compiled.amplitude:
            # An ideal state preparation: a 'unitary' instruction, which the noise model leaves
            # noise-free (Aer's density-matrix method has no 'initialize').
            qc = QuantumCircuit(*tqc.qregs)
            qc.unitary(
                _preparation(np.asarray(row, float)), [initial[j] for j in reversed(range(n))]
            )
            bound = qc.compose(bound)
        # Qiskit orders saved probabilities little-endian: final[-1] is bit 0, i.e. wire 0 MSB.
        bound.save_probabilities(qubits=list(reversed(final)))
        circuits.append(bound)
    result = sim.run(circuits).result()
    rows = []
    for index in range(len(circuits)):
        p = np.asarray(result.data(index)["probabilities"]).reshape([2] * n)
        for j, q in enumerate(final):  # axis j is wire j; confusion C[m, b]
            p = np.moveaxis(np.tensordot(readout[q], p, axes=([1], [j])), 0, j)
        flat = p.reshape(-1)
        if probs:
            rows.append(flat)
        else:
            bits = (np.arange(2**n)[:, None] >> (n - 1 - np.arange(n))) & 1
            rows.append(flat @ (1 - 2 * bits))
    return np.array(rows)
