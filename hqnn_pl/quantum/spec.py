"""What the tools need to know about one circuit of a quantum layer: :class:`CircuitSpec`.

Every quantum layer describes its circuit with :meth:`~hqnn_pl.quantum.layers.QuantumLayer.
circuit_spec`: the PennyLane quantum function (from :mod:`hqnn_pl.quantum.circuits`) with its
static settings, the shape of one circuit's weights, how inputs are encoded, the actual weights
of every circuit of the layer, and the family of same-shaped circuits at other qubit counts and
depths (for the gradient-variance scan).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

__all__ = ["CircuitSpec", "InputKind"]

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

    @classmethod
    def layered(
        cls,
        name: str,
        circuit: tuple[Callable[..., Any], dict[str, Any]],
        sizes: tuple[int, int, int],
        input_kind: InputKind,
        weights: Tensor | None,
        family: Callable[[int, int], CircuitSpec],
    ) -> CircuitSpec:
        """The spec of a StronglyEntanglingLayers circuit: weights ``(C, depth, n, 3)``.

        Args:
            name: Short description.
            circuit: The PennyLane quantum function and its static keyword arguments.
            sizes: ``(n_qubits, depth, n_inputs)``.
            input_kind: How inputs are encoded.
            weights: The circuits' weights, or None for a family member without weights.
            family: ``(n_qubits, depth) -> CircuitSpec`` for the gradient-variance scan.

        Returns:
            The spec.
        """
        n_qubits, depth, n_inputs = sizes
        shape = (depth, n_qubits, 3)
        if weights is None:
            weights = torch.zeros(0, *shape, dtype=torch.float64)
        return cls(
            name=name, qfunc=circuit[0], kwargs=circuit[1], n_qubits=n_qubits,
            n_inputs=n_inputs, weight_shape=shape, input_kind=input_kind,
            circuit_weights=weights, family=family, depth=depth,
        )  # fmt: skip

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
