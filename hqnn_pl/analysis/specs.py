"""What the diagnostics need to know about one quantum layer's circuit.

:func:`circuit_spec` turns a quantum layer of :mod:`hqnn_pl.quantum.layers` into a
:class:`CircuitSpec`: the layer's PennyLane quantum function (from
:mod:`hqnn_pl.quantum.circuits`) with its static settings, the shape of one circuit's weights,
how inputs are encoded, the actual weights of every circuit of the layer, and the family of
same-shaped circuits at other qubit counts and depths (for the gradient-variance scan).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch
from torch import Tensor, nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import ParallelQuantumLayer, QuantumPointwiseConv2d, Quanv2d, circuits

__all__ = ["CircuitSpec", "InputKind", "circuit_spec", "quantum_layers"]

InputKind = Literal["angle", "pixel", "amplitude"]
"""How inputs enter: rotation angles, pixels in [0, 1] as ``RY(π x)``, or amplitudes."""


@dataclass(frozen=True)
class CircuitSpec:
    """One circuit structure of a quantum layer, as the diagnostics see it.

    Attributes:
        name: Short description, e.g. ``"parallel(n=5, depth=3, RX, <Y>)"``.
        qfunc: The PennyLane quantum function ``qfunc(inputs, weights, **kwargs)``.
        kwargs: Its static keyword arguments.
        n_qubits: Wires of one circuit.
        n_inputs: Inputs of one circuit.
        weight_shape: Shape of one circuit's weights.
        input_kind: How inputs are encoded (see :data:`InputKind`).
        circuit_weights: The actual weights of every circuit of the layer,
            ``(n_circuits, *weight_shape)`` float64.
        trainable: Whether the weights are trained (False: a fixed random circuit).
        family: ``(n_qubits, depth) -> CircuitSpec`` for the gradient-variance scan, or None when
            the circuit has a fixed size.
        depth: Layers of the trainable block (None for fixed-size blocks).
    """

    name: str
    qfunc: Callable[..., Any]
    kwargs: dict[str, Any]
    n_qubits: int
    n_inputs: int
    weight_shape: tuple[int, ...]
    input_kind: InputKind
    circuit_weights: Tensor
    trainable: bool = True
    family: Callable[[int, int], CircuitSpec] | None = field(default=None, repr=False)
    depth: int | None = None

    @property
    def input_scale(self) -> float:
        """Factor from an embedding angle to the input that produces it (``1/π`` for pixels)."""
        return 1.0 / math.pi if self.input_kind == "pixel" else 1.0

    def random_weights(self, count: int, generator: torch.Generator) -> Tensor:
        """``count`` weight draws, uniform in ``[0, 2π)`` like the layers' initialisation.

        Args:
            count: Number of draws.
            generator: Seeded generator.

        Returns:
            Float64 tensor ``(count, *weight_shape)``.
        """
        shape = (count, *self.weight_shape)
        return torch.rand(shape, generator=generator, dtype=torch.float64) * (2 * math.pi)

    def random_inputs(self, count: int, generator: torch.Generator) -> Tensor:
        """``count`` inputs from the encoding's natural range.

        Angles are uniform in ``[0, 2π)``, pixels in ``[0, 1]``, amplitude vectors have
        uniform entries in ``[0, 1)`` (non-negative like post-ReLU feature maps).

        Args:
            count: Number of inputs.
            generator: Seeded generator.

        Returns:
            Float64 tensor ``(count, n_inputs)``.
        """
        values = torch.rand((count, self.n_inputs), generator=generator, dtype=torch.float64)
        return values * (2 * math.pi) if self.input_kind == "angle" else values


def _parallel_spec(
    n_qubits: int, depth: int, rotation: str, observable: str, weights: Tensor | None = None
) -> CircuitSpec:
    shape = (depth, n_qubits, 3)
    if weights is None:
        weights = torch.zeros(0, *shape, dtype=torch.float64)

    def family(n: int, d: int) -> CircuitSpec:
        return _parallel_spec(n, d, rotation, observable)

    return CircuitSpec(
        name=f"parallel(n_qubits={n_qubits}, depth={depth}, R{rotation} embedding, <{observable}>)",
        qfunc=circuits.parallel_circuit,
        kwargs={"rotation": rotation, "observable": observable},
        n_qubits=n_qubits,
        n_inputs=n_qubits,
        weight_shape=shape,
        input_kind="angle",
        circuit_weights=weights,
        family=family,
        depth=depth,
    )


def _qpcnn_spec(
    in_channels: int, n_qubits: int, depth: int, weights: Tensor | None = None
) -> CircuitSpec:
    shape = (depth, n_qubits, 3)
    if weights is None:
        weights = torch.zeros(0, *shape, dtype=torch.float64)

    def family(n: int, d: int) -> CircuitSpec:
        return _qpcnn_spec(2**n, n, d)

    return CircuitSpec(
        name=(
            f"qpcnn(in_channels={in_channels}, n_qubits={n_qubits}, depth={depth}, "
            "amplitude embedding, <Z>)"
        ),
        qfunc=circuits.qpcnn_circuit,
        kwargs={"measurement": "expval"},
        n_qubits=n_qubits,
        n_inputs=in_channels,
        weight_shape=shape,
        input_kind="amplitude",
        circuit_weights=weights,
        family=family,
        depth=depth,
    )


def circuit_spec(layer: nn.Module) -> CircuitSpec:
    """The :class:`CircuitSpec` of one of hqnn-pl's quantum layers.

    Args:
        layer: A ``ParallelQuantumLayer``, ``Quanv2d`` or ``QuantumPointwiseConv2d``.

    Returns:
        Its circuit spec, with the layer's current weights.

    Raises:
        ConfigurationError: For a module that is not one of these layers.
    """
    if isinstance(layer, ParallelQuantumLayer):
        weights = layer.weights.detach().to("cpu", torch.float64)
        return _parallel_spec(
            layer.n_qubits, layer.depth, layer.rotation, layer.observable, weights
        )
    if isinstance(layer, QuantumPointwiseConv2d):
        weights = layer.weights.detach().to("cpu", torch.float64)[None]
        spec = _qpcnn_spec(layer.in_channels, layer.n_qubits, layer.depth, weights)
        if layer.measurement == "probs":
            spec = replace(spec, name=spec.name + " (layer reads probs; diagnosed on <Z>)")
        return spec
    if isinstance(layer, Quanv2d):
        if layer.trainable:
            return CircuitSpec(
                name="quanv trainable block (4 qubits, RY(pi x) embedding, <Z>)",
                qfunc=circuits.quanv_trainable_circuit,
                kwargs={},
                n_qubits=4,
                n_inputs=4,
                weight_shape=(4,),
                input_kind="pixel",
                circuit_weights=layer.weights.detach().to("cpu", torch.float64)[None],
            )
        n = layer.n_qubits
        return CircuitSpec(
            name=(
                f"quanv random (RandomLayers, {layer.n_random_layers} layer(s), {n} qubits, "
                f"seed={layer.seed}, RY(pi x) embedding, <Z>)"
            ),
            qfunc=circuits.quanv_random_circuit,
            kwargs={"seed": layer.seed},
            n_qubits=n,
            n_inputs=n,
            weight_shape=(layer.n_random_layers, n),
            input_kind="pixel",
            circuit_weights=layer.random_weights.detach().to("cpu", torch.float64)[None],
            trainable=False,
        )
    raise ConfigurationError(
        f"{type(layer).__name__} is not a quantum layer the diagnostics know; expected "
        "ParallelQuantumLayer, Quanv2d or QuantumPointwiseConv2d."
    )


def quantum_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The quantum layers of ``model`` the diagnostics can analyse, with their module names.

    Args:
        model: Any module.

    Returns:
        ``(name, layer)`` pairs in module order.
    """
    kinds = (ParallelQuantumLayer, Quanv2d, QuantumPointwiseConv2d)
    return [(name, m) for name, m in model.named_modules() if isinstance(m, kinds)]
