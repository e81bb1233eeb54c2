"""Which method runs a circuit: a cost model of qubits, depth and batch, and memory estimates.

Two exact state-vector methods run the layered circuits (StronglyEntanglingLayers, QPCNN, the
ResNet head, RandomLayers):

* ``"dense"`` (:mod:`~hqnn_pl.quantum.engine.dense`): builds ``U(θ)`` as a ``2^n x 2^n`` matrix,
  ``O(L 8^n)`` per circuit, then one ``O(4^n P)`` matmul for the batch. Few ATen calls, so it
  wins for few qubits and large batches. On CPU, 4-8 qubits, the build runs in NumPy
  (:mod:`~hqnn_pl.quantum.engine.host_unitary`), about three times cheaper per unit of work.
* ``"gatewise"`` (:mod:`~hqnn_pl.quantum.engine.gatewise`): ``O(G 2^n P)`` for ``G`` gates, a few
  state vectors of memory whatever the depth (adjoint backward). Wins from about 7 qubits at
  batch 256, and for any circuit of more than a few qubits at small batches.

:func:`choose_method` compares the modelled time of one forward and backward pass (constants
fitted on a 2-core x86 CPU, one thread: the ratio matters, not the absolute figure);
:func:`check_memory` refuses a call whose estimated memory exceeds what is available, stating
the estimate and the batch or qubit count that would fit.
"""

from __future__ import annotations

import math
import os

import torch

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum.engine.gatewise import FUSE_WIRES

__all__ = [
    "MAX_QUBITS",
    "METHODS",
    "available_memory",
    "check_engine_qubits",
    "check_memory",
    "choose_method",
    "dense_bytes",
    "dense_cost",
    "gatewise_bytes",
    "gatewise_cost",
]

METHODS = ("auto", "dense", "gatewise")
"""Values of the layers' ``method`` option (Quanv2d adds ``"heisenberg"``)."""

MAX_QUBITS = 24
"""Largest register the exact torch engine accepts at all.

Beyond this, the index tables of a circuit alone (``2^n`` int64 per CNOT pattern) are hundreds
of MiB. Below it, what fits is decided by :func:`check_memory` from the batch, the method and
the memory available, not by a fixed cap.
"""

# Modelled nanoseconds per unit of work (fwd + bwd, float32, 1 thread), fitted to measurements.
_DENSE_BUILD_NS = 0.65  # per (layer x 8^n) of the unitary build, in torch
_HOST_BUILD_NS = 0.2  # the same, built in NumPy with its written-out backward (host_unitary.py)
_DENSE_APPLY_NS = 1.0  # per (4^n x sample) of the batched matmul and its backward
_GATE_NS = 3.8  # per (2^n x sample x 2^b) of each fused gate, forward and adjoint backward
_OP_NS = 150_000.0  # per gate-wise op (Python and dispatch overhead, forward and backward)
_DENSE_FIXED_NS = 4_000_000.0  # the dense path's ~800 small ATen calls
_STATES_IN_FLIGHT = 6  # state-sized complex buffers alive during the gate-wise backward


def check_engine_qubits(n_qubits: int, what: str) -> None:
    """Raise if ``n_qubits`` is outside what the exact torch engine supports.

    Args:
        n_qubits: Number of qubits of one circuit.
        what: Human-readable description of where the qubit count comes from, used in the
            message (e.g. ``"n_qubits=13"``).

    Raises:
        ConfigurationError: If ``n_qubits`` is below 1 or above :data:`MAX_QUBITS`.
    """
    if n_qubits < 1:
        raise ConfigurationError(f"{what}: a circuit needs at least 1 qubit, got {n_qubits}.")
    if n_qubits > MAX_QUBITS:
        raise ConfigurationError(
            f"{what} needs {n_qubits} qubits, but the exact torch engine supports at most "
            f"{MAX_QUBITS} (a state vector of 2^{n_qubits} amplitudes per sample). Use fewer "
            f'qubits, or backend="pennylane" (e.g. device="lightning.qubit").'
        )


def _fused_width(n_qubits: int) -> int:
    """Sum of ``2^b`` over the fused blocks of one layer of single-qubit gates."""
    full, rest = divmod(n_qubits, FUSE_WIRES)
    return full * 2**FUSE_WIRES + (2**rest if rest else 0)


def dense_cost(n_qubits: int, layers: int, circuits: int, batch: int, host: bool = False) -> float:
    """Modelled nanoseconds of one forward and backward pass of the dense method.

    ``host``: the unitary is built in NumPy (CPU, see ``host_unitary.use_host``), about three
    times cheaper per unit of build work than in torch.
    """
    dim = 2**n_qubits
    build = (_HOST_BUILD_NS if host else _DENSE_BUILD_NS) * layers * dim**3
    apply = _DENSE_APPLY_NS * dim * dim * batch
    return circuits * (build + apply) + _DENSE_FIXED_NS


def gatewise_cost(n_qubits: int, layers: int, circuits: int, batch: int) -> float:
    """Modelled nanoseconds of one forward and backward pass of the gate-wise method."""
    work = 2**n_qubits * batch * layers * (_fused_width(n_qubits) + 1)
    ops = layers * (math.ceil(n_qubits / FUSE_WIRES) + 1)
    return circuits * _GATE_NS * work + _OP_NS * ops + _DENSE_FIXED_NS


def dense_bytes(n_qubits: int, layers: int, circuits: int, batch: int, real_bytes: int) -> int:
    """Estimated peak memory of the dense method (unitaries kept for autograd, the batch)."""
    dim = 2**n_qubits
    unitaries = 3 * (layers + 2) * dim * dim * 2 * real_bytes
    states = 6 * dim * batch * real_bytes
    return circuits * (unitaries + states)


def gatewise_bytes(n_qubits: int, circuits: int, batch: int, real_bytes: int) -> int:
    """Estimated peak memory of the gate-wise method (a few state vectors, any depth)."""
    return _STATES_IN_FLIGHT * circuits * 2**n_qubits * batch * 2 * real_bytes


def choose_method(
    method: str,
    n_qubits: int,
    layers: int,
    circuits: int,
    batch: int,
    real_bytes: int = 4,
    host: bool = False,
) -> str:
    """The method that runs a layered circuit: ``method`` itself unless it is ``"auto"``.

    ``"auto"`` takes the faster of the two by :func:`dense_cost` / :func:`gatewise_cost`, unless
    the dense one would not fit in memory.

    Args:
        method: ``"auto"``, ``"dense"`` or ``"gatewise"``.
        n_qubits: Qubits per circuit.
        layers: Layers of single-qubit gates (depth, plus one for a basis change).
        circuits: Circuits run side by side.
        batch: Samples per circuit.
        real_bytes: 4 for float32, 8 for float64.
        host: Whether the dense method would build the unitary on the host (NumPy).

    Returns:
        ``"dense"`` or ``"gatewise"``.
    """
    if method != "auto":
        return method
    if dense_bytes(n_qubits, layers, circuits, batch, real_bytes) > 2**30:
        return "gatewise"
    dense = dense_cost(n_qubits, layers, circuits, batch, host)
    gatewise = gatewise_cost(n_qubits, layers, circuits, batch)
    return "dense" if dense <= gatewise else "gatewise"


def available_memory(device: torch.device) -> int:
    """Bytes that a new allocation can use on ``device`` (free GPU memory, or available RAM)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - POSIX fallback
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


def check_memory(
    what: str,
    method: str,
    n_qubits: int,
    layers: int,
    circuits: int,
    batch: int,
    real_bytes: int,
    device: torch.device,
) -> None:
    """Raise a clear error before a call whose estimated memory exceeds what is available.

    Args:
        what: The layer, for the message.
        method: ``"dense"`` or ``"gatewise"`` (the method that will run).
        n_qubits: Qubits per circuit.
        layers: Layers of single-qubit gates.
        circuits: Circuits run side by side.
        batch: Samples per circuit.
        real_bytes: 4 for float32, 8 for float64.
        device: Where it runs.

    Raises:
        ConfigurationError: Naming the estimate, the memory available, and the largest batch
            (or qubit count) that fits, or the other method.
    """

    def estimate(n: int, p: int) -> int:
        if method == "dense":
            return dense_bytes(n, layers, circuits, p, real_bytes)
        return gatewise_bytes(n, circuits, p, real_bytes)

    needed = estimate(n_qubits, batch)
    if needed < 2**28:  # below 256 MiB: not worth a system call
        return
    free = available_memory(device)
    if needed <= free:
        return
    fits_batch = batch
    while fits_batch > 0 and estimate(n_qubits, fits_batch) > free:
        fits_batch //= 2
    fits_qubits = n_qubits
    while fits_qubits > 1 and estimate(fits_qubits, batch) > free:
        fits_qubits -= 1
    fix = f"use a batch of at most {fits_batch}" if fits_batch > 0 else "no batch fits at this size"
    fix += f", or at most {fits_qubits} qubits at this batch"
    if method == "dense":
        fix += ', or method="gatewise" (memory independent of depth)'
    raise ConfigurationError(
        f"{what}: method={method!r} at {n_qubits} qubits x {circuits} circuit(s) x batch {batch} "
        f"needs about {_gib(needed)}, but {_gib(free)} is available on {device}; {fix}."
    )
