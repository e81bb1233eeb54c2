"""A generic hybrid model around a user's own PennyLane circuit, named by import path."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.models.hybrid import HybridClassifier
from hqnn_pl.models.trunk import ConvTrunk
from hqnn_pl.quantum.layers.circuit import CircuitLayer

__all__ = ["CircuitClassifier", "CircuitNet", "resolve_circuit"]


def resolve_circuit(path: str | Callable[..., Any]) -> Callable[..., Any]:
    """The quantum function named by ``path`` (``package.module.function``), or ``path`` itself.

    Args:
        path: An import path, or a callable.

    Returns:
        The function.

    Raises:
        ConfigurationError: One line naming the path and the fix when the module or the
            attribute is missing or not callable.
    """
    if callable(path):
        return path
    module_name, _, attribute = str(path).rpartition(".")
    fix = (
        "name a function as package.module.function and put its module on PYTHONPATH (e.g. "
        "hqnn_pl.examples.circuits.reuploading_ansatz)"
    )
    if not module_name:
        raise ConfigurationError(f"circuit {path!r} is not an import path; {fix}.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigurationError(
            f"circuit {path!r}: cannot import module {module_name!r} ({err}); {fix}."
        ) from err
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ConfigurationError(
            f"circuit {path!r}: module {module_name!r} has no function {attribute!r}; {fix}."
        )
    return function


class CircuitNet(nn.Module):
    """Trunk -> Linear + BN -> CircuitLayer -> BN -> Linear(classes).

    Args:
        trunk: Convolutional feature extractor with an ``out_features`` attribute.
        quantum: The circuit layer (or its ablation stand-in's width, see ``out_features``).
        num_classes: Number of output logits.
    """

    def __init__(self, trunk: ConvTrunk, quantum: CircuitLayer, num_classes: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.encoder = nn.Sequential(
            nn.Linear(trunk.out_features, quantum.in_features), nn.BatchNorm1d(quantum.in_features)
        )
        self.middle = quantum
        self.head = nn.Sequential(
            nn.BatchNorm1d(quantum.out_features), nn.Linear(quantum.out_features, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Map images (B, C, H, W) to logits (B, num_classes)."""
        return self.head(self.middle(self.encoder(self.trunk(x))))


class CircuitClassifier(HybridClassifier):
    """A conv trunk, then ``n_circuits`` copies of a user's PennyLane circuit, then a linear head.

    The shape of HQNN-Parallel with any circuit: the trunk's features go through
    ``Linear(., n_circuits * n_inputs)`` + BatchNorm into the circuits (chunk ``k`` to copy
    ``k``), whose measurements go through BatchNorm and ``Linear(., num_classes)``. The circuit is
    a quantum function written the ``qml.qnn.TorchLayer`` way, named by import path and compiled
    to the torch engine (:class:`~hqnn_pl.quantum.CircuitLayer`)::

        model:
          class_path: CircuitClassifier
          init_args:
            circuit: my_package.circuits.my_ansatz
            weight_shapes: {theta: [2, 4, 3], mix: [2, 4]}
            n_qubits: 4

    Args:
        num_classes: Number of classes (linked from the datamodule).
        in_channels: Input image channels (linked from the datamodule).
        image_size: Input image side in pixels (linked from the datamodule).
        circuit: Import path of the quantum function ``circuit(inputs, **weights)``.
        weight_shapes: Shape of each weight argument, by name.
        n_qubits: Wires ``0..n_qubits-1`` of the circuit.
        n_inputs: Features per circuit (default ``n_qubits``).
        n_circuits: Copies of the circuit side by side, each with its own weights.
        conv_channels: Output channels of each conv block.
        seed: Seed of the circuits' initial weights (None: the run's seed).
        **kwargs: ``execution``, ``quantum_block``, ``optimizer``, ``lr_scheduler`` (see
            :class:`~hqnn_pl.models.hybrid.HybridClassifier`).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        circuit: str,
        weight_shapes: Mapping[str, Sequence[int] | int],
        n_qubits: int,
        n_inputs: int | None = None,
        n_circuits: int = 1,
        conv_channels: Sequence[int] = (16, 32),
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        resolve_circuit(circuit)  # fail before anything is built, in one line
        super().__init__(num_classes, in_channels, image_size, **kwargs)

    def configure_network(self) -> nn.Module:
        """Build trunk, dense encoder, the compiled circuits and head."""
        hp = self.hparams
        trunk = ConvTrunk(self.in_channels, self.image_size, tuple(hp.conv_channels))
        shapes = {k: (v,) if isinstance(v, int) else tuple(v) for k, v in hp.weight_shapes.items()}
        quantum = CircuitLayer(
            resolve_circuit(hp.circuit), shapes, hp.n_qubits, hp.n_inputs, hp.n_circuits,
            execution=hp.execution, seed=hp.seed,
        )  # fmt: skip
        return CircuitNet(trunk, quantum, self.num_classes)
