"""The project's quantum circuits, each defined once as a PennyLane quantum function.

These functions are the single source of truth for the circuits: the ``pennylane`` backend of
the layers in :mod:`hqnn_pl.quantum.layers` executes them as QNodes, the layers' ``draw``
methods render them, and the tests use them (on ``default.qubit``) as the oracle for the exact
torch engine in :mod:`hqnn_pl.quantum.engine`.

Every quantum function takes ``(inputs, weights)`` first. ``inputs`` may carry a leading batch
dimension (PennyLane parameter broadcasting); ``weights`` are one circuit's weights. Wires are
``0..n-1``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pennylane as qml

from hqnn_pl.errors import ConfigurationError

__all__ = [
    "DIFF_METHODS",
    "PAULI_OPS",
    "make_qnode",
    "parallel_circuit",
    "qpcnn_circuit",
    "quanv_random_circuit",
    "quanv_trainable_block",
    "quanv_trainable_circuit",
    "quanv_trainable_unitary",
    "random_layers_unitary",
]

PAULI_OPS: dict[str, Callable[[int], qml.operation.Operator]] = {
    "X": qml.PauliX,
    "Y": qml.PauliY,
    "Z": qml.PauliZ,
}

DIFF_METHODS: tuple[str, ...] = (
    "best",
    "backprop",
    "adjoint",
    "parameter-shift",
    "finite-diff",
    "spsa",
    "hadamard",
    "device",
)
"""Differentiation methods accepted by ``qml.QNode`` (a given device supports a subset)."""

# Gradient transforms that cannot differentiate broadcasted tapes w.r.t. broadcasted parameters:
# QNodes using them get ``qml.transforms.broadcast_expand`` (still one QNode call per batch).
_TRANSFORM_DIFF_METHODS = frozenset({"parameter-shift", "finite-diff", "spsa", "hadamard"})


def parallel_circuit(
    inputs: Any, weights: Any, rotation: str = "X", observable: str = "Y"
) -> list[Any]:
    """One circuit of HQNN-Parallel: angle embedding, strongly entangling layers, Pauli expvals.

    Args:
        inputs: Rotation angles of shape ``(n,)`` or ``(batch, n)``.
        weights: StronglyEntanglingLayers weights of shape ``(depth, n, 3)``.
        rotation: Embedding rotation, ``"X"``, ``"Y"`` or ``"Z"``.
        observable: Pauli measured on every qubit, ``"X"``, ``"Y"`` or ``"Z"``.

    Returns:
        ``[<P_0>, ..., <P_{n-1}>]`` measurement processes.
    """
    wires = range(weights.shape[-2])
    qml.AngleEmbedding(inputs, wires=wires, rotation=rotation)
    qml.StronglyEntanglingLayers(weights, wires=wires)
    return [qml.expval(PAULI_OPS[observable](w)) for w in wires]


def _ry_pi_embedding(inputs: Any, n_qubits: int) -> None:
    """Apply ``RY(π x_j)`` on wire ``j`` (the quanvolution pixel encoding)."""
    for j in range(n_qubits):
        qml.RY(math.pi * inputs[..., j], wires=j)


def quanv_trainable_block(weights: Any) -> None:
    """The trainable gates of the HQNN-Quanv block, on wires 0-3.

    ``RX(w0)`` on 0, ``RX(w1)`` on 1, ``CNOT(2, 3)``, ``CNOT(0, 2)``, ``CNOT(0, 3)``, ``RY(w2)`` on
    0, ``RY(w3)`` on 3.

    Args:
        weights: The 4 trainable angles, shape ``(4,)`` or ``(batch, 4)`` (broadcast).
    """
    qml.RX(weights[..., 0], wires=0)
    qml.RX(weights[..., 1], wires=1)
    qml.CNOT(wires=[2, 3])
    qml.CNOT(wires=[0, 2])
    qml.CNOT(wires=[0, 3])
    qml.RY(weights[..., 2], wires=0)
    qml.RY(weights[..., 3], wires=3)


def quanv_trainable_circuit(inputs: Any, weights: Any) -> list[Any]:
    """The trainable 4-qubit quanvolution circuit of HQNN-Quanv.

    ``RY(π x_j)`` on wire ``j``, then :func:`quanv_trainable_block` and ``<Z>`` on every wire.

    Args:
        inputs: Pixel values of a 2x2 patch in row-major order, shape ``(4,)`` or ``(batch, 4)``.
        weights: The 4 trainable angles.

    Returns:
        ``[<Z_0>, ..., <Z_3>]`` measurement processes.
    """
    _ry_pi_embedding(inputs, 4)
    quanv_trainable_block(weights)
    return [qml.expval(qml.PauliZ(w)) for w in range(4)]


def quanv_trainable_unitary(weights: np.ndarray) -> np.ndarray:
    """Matrix of :func:`quanv_trainable_block`.

    Args:
        weights: Angles of shape ``(4,)`` or ``(batch, 4)``.

    Returns:
        Complex array of shape ``(16, 16)`` or ``(batch, 16, 16)`` (wire 0 most significant).
    """
    weights = np.asarray(weights, dtype=np.float64)
    matrix = qml.matrix(quanv_trainable_block, wire_order=range(4))(weights)
    return np.asarray(matrix, dtype=np.complex128)


def quanv_random_circuit(inputs: Any, weights: Any, seed: int = 0) -> list[Any]:
    """Random quanvolution circuit (Henderson et al. 2019; PennyLane's quanvolution demo).

    ``RY(π x_j)`` on wire ``j``, then ``qml.RandomLayers(weights, seed=seed)`` and ``<Z>`` on every
    wire.

    Args:
        inputs: Pixel values of a ``k x k`` patch in row-major order, shape ``(k*k,)`` or
            ``(batch, k*k)``.
        weights: RandomLayers angles of shape ``(n_random_layers, k*k)``.
        seed: Seed of RandomLayers' random gate structure.

    Returns:
        ``[<Z_0>, ..., <Z_{k*k-1}>]`` measurement processes.
    """
    n_qubits = weights.shape[-1]
    _ry_pi_embedding(inputs, n_qubits)
    qml.RandomLayers(weights, wires=range(n_qubits), seed=seed)
    return [qml.expval(qml.PauliZ(w)) for w in range(n_qubits)]


def random_layers_unitary(weights: np.ndarray, seed: int) -> np.ndarray:
    """Matrix of ``qml.RandomLayers(weights, wires=range(n), seed=seed)``.

    Args:
        weights: RandomLayers angles of shape ``(n_random_layers, n)``.
        seed: Seed of RandomLayers' random gate structure.

    Returns:
        Complex array of shape ``(2^n, 2^n)`` (wire 0 most significant).
    """
    n_qubits = weights.shape[-1]
    op = qml.RandomLayers(np.asarray(weights, dtype=np.float64), wires=range(n_qubits), seed=seed)
    return np.asarray(qml.matrix(op, wire_order=range(n_qubits)), dtype=np.complex128)


def qpcnn_circuit(inputs: Any, weights: Any, measurement: str = "expval") -> Any:
    """Quantum pointwise convolution of QPCNN: amplitude embedding and strongly entangling layers.

    The channel vector is L2-normalised and zero-padded to ``2^n`` amplitudes by
    ``qml.AmplitudeEmbedding`` (a zero vector cannot be normalised; the layer replaces it by
    ``|0...0>`` before calling this function).

    Args:
        inputs: Channel vector of shape ``(C,)`` or ``(batch, C)`` with ``C <= 2^n``.
        weights: StronglyEntanglingLayers weights of shape ``(depth, n, 3)``.
        measurement: ``"expval"`` for ``<Z>`` on every qubit, ``"probs"`` for the ``2^n``
            basis-state probabilities.

    Returns:
        The measurement process(es).
    """
    wires = range(weights.shape[-2])
    qml.AmplitudeEmbedding(inputs, wires=wires, normalize=True, pad_with=0.0)
    qml.StronglyEntanglingLayers(weights, wires=wires)
    if measurement == "probs":
        return qml.probs(wires=wires)
    return [qml.expval(qml.PauliZ(w)) for w in wires]


def _format_choices(choices: Sequence[str]) -> str:
    return ", ".join(repr(c) for c in choices)


def make_qnode(
    qfunc: Callable[..., Any],
    n_qubits: int,
    device: str = "default.qubit",
    diff_method: str = "backprop",
    shots: int | None = None,
    example_args: tuple[Any, ...] | None = None,
    **circuit_kwargs: Any,
) -> qml.QNode:
    """Build a torch-interface QNode for one of this module's quantum functions.

    Shots are passed to the QNode (``qml.QNode(..., shots=shots)``), which is how PennyLane
    >= 0.42 wants them (device-level shots are deprecated). Gradient-transform diff methods
    (parameter-shift, finite-diff, spsa, hadamard) cannot differentiate broadcasted parameters,
    so their QNodes are wrapped in ``qml.transforms.broadcast_expand``: still one QNode call per
    batch, which PennyLane expands into one tape per sample internally.

    Args:
        qfunc: Quantum function taking ``(inputs, weights, **circuit_kwargs)``.
        n_qubits: Number of wires of the device.
        device: PennyLane device name, e.g. ``"default.qubit"`` or ``"lightning.qubit"``.
        diff_method: QNode differentiation method, one of :data:`DIFF_METHODS`.
        shots: Number of shots, or None for exact expectation values.
        example_args: Example ``(inputs, weights)``. When given, ``"best"`` is resolved on them
            and the QNode is executed once, so that a device that cannot run the requested
            diff_method / shots combination fails here rather than at the first forward pass.
        **circuit_kwargs: Static keyword arguments bound to ``qfunc`` (e.g. ``rotation="X"``).

    Returns:
        The QNode (possibly wrapped by ``broadcast_expand``); call it as ``qnode(inputs, weights)``.

    Raises:
        ConfigurationError: For an unknown device, an unknown diff_method, invalid shots, or (with
            ``example_args``) a device that does not support the diff_method with these shots.
    """
    if shots is not None and (isinstance(shots, bool) or not isinstance(shots, int) or shots < 1):
        raise ConfigurationError(f"shots must be None (exact) or a positive int; got {shots!r}.")
    if diff_method not in DIFF_METHODS:
        raise ConfigurationError(
            f"Unknown diff_method {diff_method!r}. Valid choices: {_format_choices(DIFF_METHODS)} "
            "(which ones work depends on the device and shots)."
        )
    try:
        dev = qml.device(device, wires=n_qubits)
    except Exception as err:  # PennyLane raises DeviceError (or plugin-specific errors)
        available = sorted(qml.plugin_devices)
        raise ConfigurationError(
            f"Unknown or unusable PennyLane device {device!r} ({err}). "
            f"Installed devices: {_format_choices(available)}."
        ) from err
    func = functools.partial(qfunc, **circuit_kwargs) if circuit_kwargs else qfunc
    try:
        qnode = qml.QNode(func, dev, interface="torch", diff_method=diff_method, shots=shots)
        resolved = diff_method
        if diff_method == "best":
            resolved = "parameter-shift" if shots is not None else "backprop"
            if example_args is not None:
                resolved = qml.workflow.get_best_diff_method(qnode)(*example_args)
        if resolved in _TRANSFORM_DIFF_METHODS:
            qnode = qml.transforms.broadcast_expand(qnode)
        if example_args is not None:
            qnode(*example_args)
    except Exception as err:  # QuantumFunctionError: unsupported diff_method/shots combination
        hint = (
            'with shots, use diff_method="parameter-shift" (or "finite-diff"/"spsa")'
            if shots is not None
            else 'e.g. diff_method="adjoint" for lightning.qubit, "backprop" for default.qubit'
        )
        raise ConfigurationError(
            f"PennyLane device {device!r} cannot run this circuit with "
            f"diff_method={diff_method!r} and shots={shots!r}: {err} ({hint}; valid choices: "
            f"{_format_choices(DIFF_METHODS)})."
        ) from err
    return qnode
