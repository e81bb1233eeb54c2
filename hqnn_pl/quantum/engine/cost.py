"""Which circuits the engine accepts: the qubit limit and its error message."""

from __future__ import annotations

from hqnn_pl.errors import ConfigurationError

__all__ = ["MAX_QUBITS", "check_engine_qubits"]


MAX_QUBITS = 12
"""Largest register the exact torch engine accepts.

The engine holds dense ``2^n x 2^n`` complex unitaries (one per circuit and per layer while it
builds them): at 12 qubits that is 16.7 M entries (128 MiB in complex64) per matrix and ``O(8^n)``
work per layer. Beyond that, use ``backend="pennylane"`` (e.g. with ``device="lightning.qubit"``).
"""


def check_engine_qubits(n_qubits: int, what: str) -> None:
    """Raise a ValueError if ``n_qubits`` is outside what the exact torch engine supports.

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
            f"{MAX_QUBITS} (it holds dense 2^n x 2^n unitaries). Use fewer qubits, or "
            f'backend="pennylane" (e.g. device="lightning.qubit") for larger circuits.'
        )
