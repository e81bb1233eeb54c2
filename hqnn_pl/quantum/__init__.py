"""Quantum layers of hqnn-pl: circuits defined once in PennyLane, executed exactly in torch.

* :mod:`hqnn_pl.quantum.circuits`: the circuits as PennyLane quantum functions (drawing, the
  ``pennylane`` backend, test oracle).
* :mod:`hqnn_pl.quantum.engine`: exact batched state-vector execution in plain PyTorch.
* :mod:`hqnn_pl.quantum.layers`: the ``nn.Module`` layers with ``backend="torch"|"pennylane"``.
"""

from hqnn_pl.quantum.engine import MAX_QUBITS
from hqnn_pl.quantum.layers import ParallelQuantumLayer, QuantumPointwiseConv2d, Quanv2d

__all__ = ["MAX_QUBITS", "ParallelQuantumLayer", "QuantumPointwiseConv2d", "Quanv2d"]
