"""Quantum layers as ``nn.Module``s, with an exact torch engine and a PennyLane backend.

Every layer is a :class:`QuantumLayer` (the one test of "is a quantum layer"), runs one circuit
from :mod:`hqnn_pl.quantum.circuits`, takes one :class:`~hqnn_pl.quantum.execution.Execution`
and has two backends:

* ``backend="torch"`` (default): exact batched simulation in plain PyTorch
  (:mod:`hqnn_pl.quantum.engine`; state vectors, or the Heisenberg picture for small
  quanvolution patches), on CPU or CUDA, in the input's floating dtype.
* ``backend="pennylane"``: the same circuit as a torch-interface QNode on any PennyLane device,
  with any diff_method that device supports and optional shots. The batch is passed with
  parameter broadcasting (one QNode call per circuit per forward pass).

Both backends use the same parameters, so a state_dict or checkpoint saved with one backend
loads into a layer with the other, and without shots both give the same outputs. Adding a
circuit touches its definition in ``circuits.py``, its layer module here, and its tests.
"""

from hqnn_pl.quantum.layers.base import QuantumLayer, is_quantum_layer, quantum_layers
from hqnn_pl.quantum.layers.circuit import CircuitLayer
from hqnn_pl.quantum.layers.parallel import ParallelQuantumLayer
from hqnn_pl.quantum.layers.pointwise import QuantumPointwiseConv2d
from hqnn_pl.quantum.layers.quanv import Quanv2d
from hqnn_pl.quantum.layers.random_quanv import RandomQuanv2d

__all__ = [
    "CircuitLayer",
    "ParallelQuantumLayer",
    "QuantumLayer",
    "QuantumPointwiseConv2d",
    "Quanv2d",
    "RandomQuanv2d",
    "is_quantum_layer",
    "quantum_layers",
]
