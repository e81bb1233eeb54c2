"""Quantum layers as ``nn.Module``s, with an exact torch engine and a PennyLane backend.

Every layer runs one circuit from :mod:`hqnn_pl.quantum.circuits` and has two backends:

* ``backend="torch"`` (default): exact batched simulation in plain PyTorch
  (:mod:`hqnn_pl.quantum.engine`; state vectors, or the Heisenberg picture for small
  quanvolution patches), on CPU or CUDA, in the input's floating dtype.
* ``backend="pennylane"``: the same circuit as a torch-interface QNode on any PennyLane device,
  with any diff_method that device supports and optional shots. The batch is passed with
  parameter broadcasting (one QNode call per circuit per forward pass).

Both backends use the same parameters, so a state_dict or checkpoint saved with one backend
loads into a layer with the other, and with ``shots=None`` both give the same outputs.
"""

from hqnn_pl.quantum.layers.parallel import ParallelQuantumLayer
from hqnn_pl.quantum.layers.pointwise import QuantumPointwiseConv2d
from hqnn_pl.quantum.layers.quanv import Quanv2d

__all__ = ["ParallelQuantumLayer", "QuantumPointwiseConv2d", "Quanv2d"]
