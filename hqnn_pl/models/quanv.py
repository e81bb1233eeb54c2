"""HQNN-Quanv (Senokosov et al. 2024) and its classical counterparts CNN1 and CNN4."""

from __future__ import annotations

from typing import Any

from torch import nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.models.base import ImageClassifier
from hqnn_pl.models.hybrid import HybridClassifier
from hqnn_pl.quantum import Quanv2d


def conv_output_side(image_size: int, kernel_size: int, stride: int) -> int:
    """Side of a valid (unpadded) convolution's output, with a clear error when it is empty.

    Args:
        image_size: Input side in pixels.
        kernel_size: Kernel side in pixels.
        stride: Step between patches.

    Returns:
        ``(image_size - kernel_size) // stride + 1``.
    """
    if stride < 1:
        raise ConfigurationError(f"stride must be a positive integer, got {stride}.")
    if image_size < kernel_size:
        raise ConfigurationError(
            f"image_size {image_size} is smaller than kernel_size {kernel_size}: use larger "
            "images (data.init_args.image_size) or a smaller kernel."
        )
    return (image_size - kernel_size) // stride + 1


class HQNNQuanv(HybridClassifier):
    """HQNN-Quanv: a trainable 2x2 quanvolution (4 qubits, 4 weights) -> flatten -> Linear.

    Each 2x2 patch of each channel is RY(pi x)-embedded into 4 qubits, passed through the paper's
    trainable block (RX(w0) q0, RX(w1) q1, CNOT(2,3), CNOT(0,2), CNOT(0,3), RY(w2) q0, RY(w3) q3)
    and read out as <Z> on every qubit: 4 output channels per input channel. Pixels must lie in
    [0, 1], so use the datamodule with ``normalize: false``. The paper's protocol: 500 training
    and 100 test MNIST images at 14x14, 20 epochs, mean +- std over 10 seeds.

    Args:
        num_classes: Number of classes (linked from the datamodule).
        in_channels: Input image channels (linked from the datamodule).
        image_size: Input image side in pixels (linked from the datamodule).
        stride: Step of the 2x2 quanvolution kernel.
        **kwargs: ``execution``, ``quantum_block``, ``optimizer``, ``lr_scheduler`` (see
            :class:`~hqnn_pl.models.hybrid.HybridClassifier`).
    """

    def __init__(
        self, num_classes: int, in_channels: int, image_size: int, stride: int = 2, **kwargs: Any
    ) -> None:
        super().__init__(num_classes, in_channels, image_size, **kwargs)

    def configure_network(self) -> nn.Module:
        """Build quanvolution, flatten and the linear classifier."""
        stride = self.hparams.stride
        side = conv_output_side(self.image_size, 2, stride)
        quanv = Quanv2d(2, stride, execution=self.hparams.execution)
        features = self.in_channels * 4 * side * side
        return nn.Sequential(quanv, nn.Flatten(), nn.Linear(features, self.num_classes))


class QuanvCNN(ImageClassifier):
    """HQNN-Quanv's classical counterparts: Conv2d(in, 1 or 4, 2, stride 2) -> flatten -> Linear.

    ``out_channels: 1`` is the paper's CNN1 (4 kernel weights, as many as the quantum kernel),
    ``out_channels: 4`` its CNN4 (16 kernel weights, as many output channels as the quantum one).

    Args:
        num_classes: Number of classes (linked from the datamodule).
        in_channels: Input image channels (linked from the datamodule).
        image_size: Input image side in pixels (linked from the datamodule).
        out_channels: Output channels of the 2x2 convolution (1: CNN1, 4: CNN4).
        stride: Step of the 2x2 kernel.
        bias: Give the convolution a bias per output channel.
        **kwargs: ``optimizer``, ``lr_scheduler`` (see :class:`~hqnn_pl.models.ImageClassifier`).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        out_channels: int = 4,
        stride: int = 2,
        bias: bool = True,
        **kwargs: Any,
    ) -> None:
        if out_channels < 1 or stride < 1:
            raise ConfigurationError(
                f"out_channels and stride must be positive, got {out_channels} and {stride}."
            )
        super().__init__(num_classes, in_channels, image_size, **kwargs)

    def configure_network(self) -> nn.Module:
        """Build the 2x2 convolution, flatten and the linear classifier."""
        hp = self.hparams
        side = conv_output_side(self.image_size, 2, hp.stride)
        conv = nn.Conv2d(self.in_channels, hp.out_channels, 2, stride=hp.stride, bias=hp.bias)
        features = hp.out_channels * side * side
        return nn.Sequential(conv, nn.Flatten(), nn.Linear(features, self.num_classes))
