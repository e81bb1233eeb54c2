"""What the diagnostics need to know about one quantum layer's circuit.

:func:`circuit_spec` asks a quantum layer of :mod:`hqnn_pl.quantum.layers` for its
:class:`~hqnn_pl.quantum.spec.CircuitSpec` (the layer's own hook, see
:meth:`~hqnn_pl.quantum.QuantumLayer.circuit_spec`); :func:`quantum_layers` lists a model's.
"""

from __future__ import annotations

from torch import nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum.layers import is_quantum_layer, quantum_layers
from hqnn_pl.quantum.spec import CircuitSpec, InputKind

__all__ = ["CircuitSpec", "InputKind", "circuit_spec", "quantum_layers"]


def circuit_spec(layer: nn.Module) -> CircuitSpec:
    """The :class:`CircuitSpec` of one of hqnn-pl's quantum layers.

    Args:
        layer: A :class:`~hqnn_pl.quantum.QuantumLayer`.

    Returns:
        Its circuit spec, with the layer's current weights.

    Raises:
        ConfigurationError: For a module that is not one of these layers.
    """
    if is_quantum_layer(layer):
        return layer.circuit_spec()
    raise ConfigurationError(
        f"{type(layer).__name__} is not a quantum layer the diagnostics know; expected a "
        "QuantumLayer (ParallelQuantumLayer, Quanv2d, RandomQuanv2d, QuantumPointwiseConv2d)."
    )
