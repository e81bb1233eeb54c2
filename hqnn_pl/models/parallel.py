"""HQNN-Parallel (Senokosov et al. 2024) and the classical CNN it is compared with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from torch import Tensor, nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.models.base import ImageClassifier
from hqnn_pl.models.hybrid import HybridClassifier
from hqnn_pl.models.trunk import ConvTrunk
from hqnn_pl.quantum import ParallelQuantumLayer


class DenseHybridNet(nn.Module):
    """Trunk -> Linear(features, n) + BN -> middle (n -> n) -> BN -> Linear(n, classes).

    The middle is the only difference between HQNN-Parallel (parallel quantum circuits) and its
    classical counterpart (a dense layer with an activation).

    Args:
        trunk: Convolutional feature extractor with an ``out_features`` attribute.
        middle: Module mapping (B, n_features) to (B, n_features).
        n_features: Width n of the dense part.
        num_classes: Number of output logits.
    """

    def __init__(self, trunk: ConvTrunk, middle: nn.Module, n_features: int, num_classes: int):
        super().__init__()
        self.trunk = trunk
        self.encoder = nn.Sequential(
            nn.Linear(trunk.out_features, n_features), nn.BatchNorm1d(n_features)
        )
        self.middle = middle
        self.head = nn.Sequential(nn.BatchNorm1d(n_features), nn.Linear(n_features, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        """Map images (B, C, H, W) to logits (B, num_classes)."""
        return self.head(self.middle(self.encoder(self.trunk(x))))


class HQNNParallel(HybridClassifier):
    """HQNN-Parallel: a conv trunk, then c parallel quantum circuits as the hidden dense layer.

    Senokosov et al., "Quantum machine learning for image classification", Mach. Learn.: Sci.
    Technol. 5 015040 (2024). The n = c * q features of the first dense layer are split into
    c = n / q chunks; each chunk is angle-embedded into its own q-qubit circuit with
    StronglyEntanglingLayers of the given depth, and the Pauli expectation of every qubit is read
    out. With MNIST input and the defaults the model has 45,194 trainable parameters.

    Args:
        num_classes: Number of classes (linked from the datamodule).
        in_channels: Input image channels (linked from the datamodule).
        image_size: Input image side in pixels (linked from the datamodule).
        conv_channels: Output channels of each conv block; two blocks for MNIST, three for CIFAR-10.
        n_features: Width n of the dense part; must be a multiple of ``n_qubits``.
        n_qubits: Qubits q per circuit.
        depth: Number of StronglyEntanglingLayers i in each circuit.
        rotation: Axis of the angle-embedding rotation.
        observable: Pauli operator measured on every qubit.
        **kwargs: ``execution``, ``quantum_block``, ``optimizer``, ``lr_scheduler`` (see
            :class:`~hqnn_pl.models.hybrid.HybridClassifier`).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        conv_channels: Sequence[int] = (16, 32),
        n_features: int = 20,
        n_qubits: int = 5,
        depth: int = 3,
        rotation: Literal["X", "Y", "Z"] = "X",
        observable: Literal["X", "Y", "Z"] = "Y",
        **kwargs: Any,
    ) -> None:
        for name, value in (("n_qubits", n_qubits), ("n_features", n_features)):
            if value < 1:
                raise ConfigurationError(
                    f"{name} must be a positive integer, got {value}: HQNN-Parallel splits "
                    "n_features dense features into n_features / n_qubits circuits (the paper "
                    "uses n_features 20, n_qubits 5)."
                )
        if n_features % n_qubits:
            below = max(n_qubits, n_features // n_qubits * n_qubits)
            nearby = sorted({below, (n_features // n_qubits + 1) * n_qubits})
            divisors = [q for q in range(1, n_features + 1) if n_features % q == 0]
            raise ConfigurationError(
                f"n_features ({n_features}) must be a multiple of n_qubits ({n_qubits}): the "
                "dense features are split into n_features / n_qubits parallel circuits. Try "
                f"n_features {' or '.join(map(str, nearby))}, or n_qubits in {divisors}."
            )
        super().__init__(num_classes, in_channels, image_size, **kwargs)

    def configure_network(self) -> nn.Module:
        """Build trunk, dense encoder, parallel quantum circuits and head."""
        hp = self.hparams
        trunk = ConvTrunk(self.in_channels, self.image_size, tuple(hp.conv_channels))
        quantum = ParallelQuantumLayer(
            hp.n_qubits,
            hp.n_features // hp.n_qubits,
            hp.depth,
            hp.rotation,
            hp.observable,
            execution=hp.execution,
        )
        return DenseHybridNet(trunk, quantum, hp.n_features, self.num_classes)


class CNN(ImageClassifier):
    """The classical counterpart of HQNN-Parallel: the quantum circuits become Linear(n, n) + ReLU.

    Trunk, first dense layer and head are identical to :class:`HQNNParallel`'s.

    Args:
        num_classes: Number of classes (linked from the datamodule).
        in_channels: Input image channels (linked from the datamodule).
        image_size: Input image side in pixels (linked from the datamodule).
        conv_channels: Output channels of each conv block.
        n_features: Width n of the dense part (20 matches HQNN-Parallel's 4 circuits x 5 qubits).
        **kwargs: ``optimizer``, ``lr_scheduler`` (see :class:`~hqnn_pl.models.ImageClassifier`).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        conv_channels: Sequence[int] = (16, 32),
        n_features: int = 20,
        **kwargs: Any,
    ) -> None:
        if n_features < 1:
            raise ConfigurationError(f"n_features must be positive, got {n_features}.")
        super().__init__(num_classes, in_channels, image_size, **kwargs)

    def configure_network(self) -> nn.Module:
        """Build trunk, dense encoder, classical hidden layer and head."""
        n_features = self.hparams.n_features
        trunk = ConvTrunk(self.in_channels, self.image_size, tuple(self.hparams.conv_channels))
        middle = nn.Sequential(nn.Linear(n_features, n_features), nn.ReLU())
        return DenseHybridNet(trunk, middle, n_features, self.num_classes)
