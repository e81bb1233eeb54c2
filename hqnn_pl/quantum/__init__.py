"""Quantum layers of hqnn-pl: circuits defined once in PennyLane, executed exactly in torch.

* :mod:`hqnn_pl.quantum.circuits`: the circuits as PennyLane quantum functions (drawing, the
  ``pennylane`` backend, test oracle).
* :mod:`hqnn_pl.quantum.execution`: :class:`Execution`, how a circuit runs (backend, shots,
  noise, method, route).
* :mod:`hqnn_pl.quantum.engine`: exact batched execution in plain PyTorch, and the planner of
  routes.
* :mod:`hqnn_pl.quantum.layers`: the ``nn.Module`` layers, all :class:`QuantumLayer`.
* :mod:`hqnn_pl.quantum.spec`: :class:`~hqnn_pl.quantum.spec.CircuitSpec`, a circuit as the
  tools see it.
"""

from hqnn_pl.quantum.engine import MAX_QUBITS
from hqnn_pl.quantum.execution import Execution
from hqnn_pl.quantum.layers import (
    CircuitLayer,
    ParallelQuantumLayer,
    QuantumLayer,
    QuantumPointwiseConv2d,
    Quanv2d,
    RandomQuanv2d,
)

__all__ = [
    "MAX_QUBITS",
    "CircuitLayer",
    "Execution",
    "ParallelQuantumLayer",
    "QuantumLayer",
    "QuantumPointwiseConv2d",
    "Quanv2d",
    "RandomQuanv2d",
]
