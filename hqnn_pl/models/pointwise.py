"""QPCNN (Ning et al. 2024): a small CNN with a quantum 1x1 convolution, and its classical twin."""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor, nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.models.base import ImageClassifier
from hqnn_pl.models.hybrid import HybridClassifier
from hqnn_pl.quantum import QuantumPointwiseConv2d


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Conv(3x3, padding 1) -> BatchNorm -> ReLU -> MaxPool(2)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


class PointwiseNet(nn.Module):
    """conv block -> pointwise (1x1) layer -> BatchNorm -> conv block -> flatten -> Linear.

    Args:
        in_channels: Input image channels.
        image_size: Input image side (at least 4: each conv block halves it).
        stem_channels: Channels of the first conv block, i.e. the pointwise layer's input.
        pointwise: The 1x1 layer, with an ``out_channels`` attribute.
        hidden_channels: Channels of the second conv block.
        num_classes: Number of output logits.
    """

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        stem_channels: int,
        pointwise: nn.Module,
        hidden_channels: int,
        num_classes: int,
    ) -> None:
        super().__init__()
        if image_size < 4:
            raise ConfigurationError(
                f"image_size {image_size} is too small for QPCNN's two pooling blocks: "
                "use images of at least 4 px."
            )
        width: int = pointwise.out_channels  # type: ignore[assignment]
        self.stem = conv_block(in_channels, stem_channels)
        self.pointwise = pointwise
        self.norm = nn.BatchNorm2d(width)
        self.body = conv_block(width, hidden_channels)
        side = image_size // 4
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(hidden_channels * side * side, num_classes)
        )

    @classmethod
    def around(cls, pointwise: nn.Module, model: ImageClassifier) -> PointwiseNet:
        """The network of ``model`` (its data shape, ``stem_channels``, ``hidden_channels``).

        Args:
            pointwise: The 1x1 layer.
            model: The LightningModule whose hyperparameters size the network.

        Returns:
            The network.
        """
        hp = model.hparams
        return cls(
            model.in_channels, model.image_size, hp.stem_channels, pointwise,
            hp.hidden_channels, model.num_classes,
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        """Map images (B, C, H, W) to logits (B, num_classes)."""
        return self.head(self.body(self.norm(self.pointwise(self.stem(x)))))


class QPCNN(HybridClassifier):
    """Quantum pointwise CNN: the 1x1 convolution after the first block is a quantum circuit.

    At every pixel the ``stem_channels``-vector is L2-normalised and amplitude-encoded into
    ceil(log2(stem_channels)) qubits; one StronglyEntanglingLayers block of the given depth,
    shared by all pixels, entangles them, and each measured qubit gives one feature map (or the
    2^n basis probabilities with ``measurement: probs``). Ning, Li, Chen, "Quantum Pointwise
    Convolution" (arXiv:2412.01241, 2024) evaluate it on Fashion-MNIST and CIFAR-10.

    Args:
        num_classes: Number of classes (linked from the datamodule).
        in_channels: Input image channels (linked from the datamodule).
        image_size: Input image side in pixels (linked from the datamodule).
        stem_channels: Channels entering the quantum 1x1 convolution (8 -> 3 qubits).
        depth: StronglyEntanglingLayers in the shared circuit.
        measurement: ``expval`` (<Z> per qubit) or ``probs`` (basis probabilities).
        hidden_channels: Channels of the conv block after the quantum layer.
        **kwargs: ``execution``, ``quantum_block``, ``optimizer``, ``lr_scheduler`` (see
            :class:`~hqnn_pl.models.hybrid.HybridClassifier`).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        stem_channels: int = 8,
        depth: int = 2,
        measurement: Literal["expval", "probs"] = "expval",
        hidden_channels: int = 16,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, in_channels, image_size, **kwargs)

    def configure_network(self) -> nn.Module:
        """Build conv block, quantum 1x1 convolution, conv block and classifier."""
        hp = self.hparams
        pointwise = QuantumPointwiseConv2d(
            hp.stem_channels, hp.depth, hp.measurement, execution=hp.execution
        )
        return PointwiseNet.around(pointwise, self)


class PointwiseCNN(ImageClassifier):
    """QPCNN's classical counterpart: the same network with a classical 1x1 convolution.

    By default the 1x1 convolution has as many output maps as QPCNN's quantum layer measures
    qubits (ceil(log2(stem_channels))), so the two networks differ only in that layer.

    Args:
        num_classes: Number of classes (linked from the datamodule).
        in_channels: Input image channels (linked from the datamodule).
        image_size: Input image side in pixels (linked from the datamodule).
        stem_channels: Channels entering the 1x1 convolution.
        pointwise_channels: Output maps of the 1x1 convolution; ``None`` matches QPCNN's
            ``expval`` output (ceil(log2(stem_channels)), at least 1).
        hidden_channels: Channels of the conv block after the 1x1 convolution.
        **kwargs: ``optimizer``, ``lr_scheduler`` (see :class:`~hqnn_pl.models.ImageClassifier`).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        stem_channels: int = 8,
        pointwise_channels: int | None = None,
        hidden_channels: int = 16,
        **kwargs: Any,
    ) -> None:
        if stem_channels < 1 or hidden_channels < 1:
            raise ConfigurationError(
                f"stem_channels and hidden_channels must be positive, got {stem_channels} and "
                f"{hidden_channels}."
            )
        super().__init__(num_classes, in_channels, image_size, **kwargs)

    def configure_network(self) -> nn.Module:
        """Build conv block, classical 1x1 convolution, conv block and classifier."""
        hp = self.hparams
        width = hp.pointwise_channels or max(1, (hp.stem_channels - 1).bit_length())
        return PointwiseNet.around(nn.Conv2d(hp.stem_channels, width, kernel_size=1), self)
