"""The convolutional trunk shared by HQNN-Parallel and its classical counterpart."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from hqnn_pl.errors import ConfigurationError


class ConvTrunk(nn.Module):
    """Blocks of Conv(5x5, padding 2) -> BatchNorm -> ReLU -> MaxPool(2), then flatten.

    Senokosov et al. (2024) use two blocks (16 and 32 channels) for MNIST and Medical MNIST and
    three for CIFAR-10. Each block halves the image side, so ``image_size`` must be at least
    ``2 ** len(channels)``.

    Args:
        in_channels: Channels of the input images.
        image_size: Side of the square input images in pixels.
        channels: Output channels of each block; its length is the trunk's depth.
    """

    def __init__(self, in_channels: int, image_size: int, channels: Sequence[int] = (16, 32)):
        super().__init__()
        if len(channels) == 0:
            raise ConfigurationError("conv_channels must name at least one block, e.g. [16, 32].")
        side = image_size // 2 ** len(channels)
        if side < 1:
            raise ConfigurationError(
                f"image_size {image_size} is too small for {len(channels)} conv blocks (each "
                f"halves the image): use images of at least {2 ** len(channels)} px or fewer "
                "conv_channels."
            )
        blocks: list[nn.Module] = []
        previous = in_channels
        for width in channels:
            blocks += [
                nn.Conv2d(previous, width, kernel_size=5, padding=2),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            previous = width
        blocks.append(nn.Flatten())
        self.layers = nn.Sequential(*blocks)
        self.out_features = previous * side * side

    def forward(self, x: Tensor) -> Tensor:
        """Map images (B, C, H, W) to flat features (B, out_features)."""
        return self.layers(x)
