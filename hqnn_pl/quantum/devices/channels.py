"""Per-gate noise channels of a device's calibration, as Aer's ``NoiseModel.from_backend``.

For every instruction of the device's :class:`~qiskit.transpiler.Target` on given physical
qubits, Aer's ``basic_device_gate_errors`` (``qiskit_aer/noise/device/models.py``) builds:

* thermal relaxation on each qubit of the gate, from that qubit's ``T1``, ``T2`` (truncated to
  ``2 T1``) and the gate's duration, at temperature 0 (no excitation); the qubits' channels are
  tensored;
* a depolarizing channel ``rho -> (1 - λ) rho + λ Tr(rho) I / d`` on all the gate's qubits whose
  ``λ = d (e - r) / (d F_r - 1)`` makes the composed channel's average gate infidelity the
  calibrated gate error ``e`` (``r = 1 - F_r`` is the relaxation's infidelity; none when
  ``e <= r``), capped at ``4^n / (4^n - 1)``;
* the depolarizing channel first, then relaxation, after the gate.

Readout is a confusion matrix per qubit: ``p(1|0)`` and ``p(0|1)`` from the measure
instruction's ``prob_meas1_prep0`` / ``prob_meas0_prep1`` when the target has them, else its
symmetric ``error``. Everything is a NumPy Liouville superoperator acting on the row-major
``vec(rho)`` (index ``(row, column)``, first qubit most significant).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "average_gate_fidelity",
    "depolarizing_superop",
    "gate_noise",
    "readout_confusion",
    "thermal_relaxation_superop",
    "unitary_superop",
]


def unitary_superop(unitary: np.ndarray) -> np.ndarray:
    """``vec(U rho U†) = (U ⊗ U*) vec(rho)`` for row-major ``vec``."""
    return np.kron(unitary, unitary.conj())


def depolarizing_superop(param: float, n_qubits: int) -> np.ndarray:
    """``rho -> (1 - λ) rho + λ Tr(rho) I / d`` on ``n_qubits`` qubits."""
    dim = 2**n_qubits
    identity = np.eye(dim).reshape(-1)
    return (1 - param) * np.eye(dim * dim) + param / dim * np.outer(identity, identity)


def thermal_relaxation_superop(t1: float, t2: float, time: float) -> np.ndarray:
    """Amplitude damping to ``|0>`` with ``T1`` and dephasing with ``T2`` over ``time``."""
    p_reset = 1 - math.exp(-time / t1) if t1 != math.inf else 0.0
    coherence = math.exp(-time / t2) if t2 != math.inf else 1.0
    superop = np.zeros((4, 4))
    superop[0, 0] = 1.0
    superop[0, 3] = p_reset
    superop[3, 3] = 1 - p_reset
    superop[1, 1] = superop[2, 2] = coherence
    return superop.astype(complex)


def average_gate_fidelity(superop: np.ndarray) -> float:
    """``(d F_pro + 1) / (d + 1)`` with the process fidelity ``Tr(S) / d^2``."""
    dim = math.isqrt(superop.shape[0])
    process = np.trace(superop).real / dim**2
    return float((dim * process + 1) / (dim + 1))


def _kron_qubits(superops: list[np.ndarray]) -> np.ndarray:
    """Tensor one-qubit superoperators into one on their qubits (first most significant)."""
    n = len(superops)
    out = superops[0]
    for s in superops[1:]:
        out = np.kron(out, s)
    # kron of superops orders indices (r0 c0 r1 c1 ...); reorder to (r0 r1 ... c0 c1 ...).
    tensor = out.reshape([2] * (4 * n))
    order_in = [2 * i for i in range(n)] + [2 * i + 1 for i in range(n)]
    perm = order_in + [2 * n + a for a in order_in]
    return tensor.transpose(perm).reshape(4**n, 4**n)


def _relax_params(target: Any, qubit: int) -> tuple[float, float]:
    props = target.qubit_properties[qubit] if target.qubit_properties else None
    t1 = getattr(props, "t1", None)
    t2 = getattr(props, "t2", None)
    if t1 is not None and t2 is not None:
        t2 = min(t2, 2 * t1)
    elif t1 is not None:
        t2 = 2 * t1
    return (math.inf if t1 is None else t1), (math.inf if t2 is None else t2)


def gate_noise(target: Any, name: str, qubits: tuple[int, ...]) -> np.ndarray | None:
    """The noise channel after ``name`` on physical ``qubits``, as Aer's ``from_backend``.

    Args:
        target: The device's target.
        name: Instruction name (``sx``, ``cz``, ...).
        qubits: Physical qubits, in the instruction's order (first most significant here).

    Returns:
        The ``(4^m, 4^m)`` superoperator, or None when the calibration gives no error.
    """
    props = target[name].get(tuple(qubits)) if name in target else None
    if props is None:
        return None
    relax = None
    if props.duration:
        relax = _kron_qubits(
            [thermal_relaxation_superop(*_relax_params(target, q), props.duration) for q in qubits]
        )
    depol = None
    error = props.error
    if error:
        relax_fid = average_gate_fidelity(relax) if relax is not None else 1.0
        relax_infid = 1 - relax_fid
        if error > relax_infid:
            m = len(qubits)
            dim = 2**m
            error = min(error, dim / (dim + 1))
            param = dim * (error - relax_infid) / (dim * relax_fid - 1)
            param = min(param, 4**m / (4**m - 1))
            depol = depolarizing_superop(param, m)
    if depol is not None and relax is not None:
        return relax @ depol
    return depol if depol is not None else relax


def readout_confusion(target: Any, qubit: int) -> np.ndarray:
    """``C[m, b] = p(measure m | state b)`` of a physical qubit (identity without data)."""
    props = target["measure"].get((qubit,)) if "measure" in target else None
    if props is None:
        return np.eye(2)
    if hasattr(props, "prob_meas1_prep0") and hasattr(props, "prob_meas0_prep1"):
        p10, p01 = props.prob_meas1_prep0, props.prob_meas0_prep1
    else:
        p10 = p01 = props.error or 0.0
    return np.array([[1 - p10, p01], [p10, 1 - p01]])
