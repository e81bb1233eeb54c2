"""Batch transforms: per-sample random augmentation of whole uint8 batches, on any device.

torchvision's ``transforms.v2`` draws one set of random parameters per call, so a batched call
would rotate or flip every image of a batch alike. The modules here draw the parameters per
sample and apply them in one vectorised call (an affine sampling grid, a broadcast blend), so
augmenting a batch of 64 costs about as much as one ``v2`` call, on the CPU in a loader worker or
on the GPU after the batch has been moved there. They compose with ``v2.Compose``, ``v2.ToDtype``
and ``v2.Normalize``, which treat a batch (B, C, H, W) as they treat one image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.transforms import v2


class RandomAffineResize(nn.Module):
    """Resize square images to ``size`` with a random rotation, flip and shift per image.

    One bilinear sampling grid does the rotation (uniform in ``[-degrees, degrees]``), the
    horizontal flip (with ``hflip_probability``), the shift (a whole number of pixels, uniform in
    ``[-translate, translate]`` on each axis) and the resize, so upsampling 64 px originals to
    224 px costs one pass over the output. The rotation matches ``v2.functional.rotate``
    (bilinear); corners that come from outside the image are black, as with
    ``v2.RandomRotation``. Images larger than ``size`` are first shrunk with antialiasing. Where
    no transformation is drawn the output equals a bilinear resize.

    Args:
        size: Side of the output images in pixels.
        degrees: Largest rotation angle in degrees.
        hflip_probability: Probability of flipping each image horizontally.
        translate: Largest shift in pixels of the input image, on each axis.
    """

    def __init__(
        self,
        size: int,
        degrees: float = 0.0,
        hflip_probability: float = 0.0,
        translate: float = 0.0,
    ) -> None:
        super().__init__()
        self.size = size
        self.degrees = degrees
        self.hflip_probability = hflip_probability
        self.translate = translate

    def forward(self, images: Tensor) -> Tensor:
        """Augment and resize float images (B, C, H, W) with H == W; returns (B, C, size, size)."""
        batch, _, height, width = images.shape
        if height != width:
            raise ValueError(f"RandomAffineResize needs square images, got {height}x{width}.")
        if not (self.degrees or self.hflip_probability or self.translate):
            return self.resample(images)
        options = {"device": images.device, "dtype": images.dtype}
        angles = (torch.rand(batch, **options) * 2 - 1) * self.degrees
        flips = torch.rand(batch, **options) < self.hflip_probability
        # Whole-pixel shifts (as padding + random crop would give): a fractional shift would
        # blur every training image by bilinear resampling, unlike the sharp val/test images.
        limit = int(self.translate)
        shifts = torch.randint(-limit, limit + 1, (batch, 2), device=images.device).to(**options)
        return self.resample(images, angles, flips, shifts)

    def resample(
        self,
        images: Tensor,
        angles: Tensor | None = None,
        flips: Tensor | None = None,
        shifts: Tensor | None = None,
    ) -> Tensor:
        """Resize to ``size`` with the given per-image rotation, flip and shift.

        Args:
            images: Float images (B, C, H, W), H == W.
            angles: Counter-clockwise rotation of each image in degrees (B,), as
                ``v2.functional.rotate``; ``None`` for none.
            flips: Whether to flip each image horizontally (B,) bool; ``None`` for none.
            shifts: Shift (right, down) of each image in input pixels (B, 2); ``None`` for none.

        Returns:
            Images (B, C, size, size).
        """
        batch, channels, height, width = images.shape
        if height > self.size:
            images = F.interpolate(
                images, size=(self.size, self.size), mode="bilinear", antialias=True
            )
            height = width = self.size
        if angles is None and flips is None and shifts is None:
            if height == self.size:
                return images
            return F.interpolate(images, size=(self.size, self.size), mode="bilinear")
        options = {"device": images.device, "dtype": images.dtype}
        angle = torch.zeros(batch, **options) if angles is None else angles.to(**options)
        angle = angle * (math.pi / 180)
        flip = torch.ones(batch, **options)
        if flips is not None:
            flip = torch.where(flips.to(images.device), -1.0, 1.0).to(**options)
        shift = torch.zeros(batch, 2, **options) if shifts is None else shifts.to(**options)
        shift = shift * (2 / width)
        cos, sin = angle.cos(), angle.sin()
        # The output pixel at (x, y) in [-1, 1] (y down) samples the input at
        # R @ diag(flip, 1) @ (x, y) - shift, R rotating the picture counter-clockwise on screen
        # (so the picture is rotated, then flipped, then shifted).
        theta = torch.stack(
            [
                torch.stack([cos * flip, -sin, -shift[:, 0]], dim=1),
                torch.stack([sin * flip, cos, -shift[:, 1]], dim=1),
            ],
            dim=1,
        )
        # A 1 px replicated border makes the image's own area resample exactly as a bilinear
        # resize does (edges clamped, not faded into the zeros that fill the rotated corners).
        padded = F.pad(images, (1, 1, 1, 1), mode="replicate")
        grid = F.affine_grid(
            theta * (width / (width + 2)),
            [batch, channels, self.size, self.size],
            align_corners=False,
        )
        return F.grid_sample(
            padded, grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )

    def extra_repr(self) -> str:
        """Show the settings in ``print(module)``."""
        return (
            f"size={self.size}, degrees={self.degrees}, "
            f"hflip_probability={self.hflip_probability}, translate={self.translate}"
        )


class RandomColorJitter(nn.Module):
    """Per-image random brightness, contrast and saturation of batches in [0, 1].

    Each factor is drawn per image, uniformly in ``[max(0, 1 - s), 1 + s]`` for strength ``s``,
    and applied with torchvision's formulas (brightness scales, contrast blends with the image's
    mean grey level, saturation blends with its greyscale version), in that order. Hue is not
    changed; saturation leaves single-channel images alone.

    Args:
        brightness: Strength of the brightness change.
        contrast: Strength of the contrast change.
        saturation: Strength of the saturation change.
    """

    def __init__(self, brightness: float = 0.0, contrast: float = 0.0, saturation: float = 0.0):
        super().__init__()
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation

    @staticmethod
    def _factors(strength: float, images: Tensor) -> Tensor:
        low = max(0.0, 1.0 - strength)
        rand = torch.rand(len(images), 1, 1, 1, device=images.device, dtype=images.dtype)
        return low + rand * (1.0 + strength - low)

    @staticmethod
    def _gray(images: Tensor) -> Tensor:
        if images.shape[1] == 1:
            return images
        weights = images.new_tensor([0.2989, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images * weights).sum(dim=1, keepdim=True)

    def forward(self, images: Tensor) -> Tensor:
        """Jitter float images (B, C, H, W) in [0, 1], C being 1 or 3 (RGB)."""
        if self.brightness:
            images = (images * self._factors(self.brightness, images)).clamp(0, 1)
        if self.contrast:
            mean = self._gray(images).mean(dim=(1, 2, 3), keepdim=True)
            factor = self._factors(self.contrast, images)
            images = (factor * images + (1 - factor) * mean).clamp(0, 1)
        if self.saturation:
            factor = self._factors(self.saturation, images)
            images = (factor * images + (1 - factor) * self._gray(images)).clamp(0, 1)
        return images

    def extra_repr(self) -> str:
        """Show the settings in ``print(module)``."""
        return (
            f"brightness={self.brightness}, contrast={self.contrast}, saturation={self.saturation}"
        )


class ExpandChannels(nn.Module):
    """Repeat single-channel images to ``channels`` channels (greyscale to RGB); others pass.

    Args:
        channels: Channels of the output.
    """

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, images: Tensor) -> Tensor:
        """Expand (B, 1, H, W) to (B, channels, H, W)."""
        if images.shape[-3] == 1 and self.channels != 1:
            return images.expand(*images.shape[:-3], self.channels, *images.shape[-2:]).contiguous()
        return images


def batch_transform(
    size: int,
    *,
    degrees: float = 0.0,
    hflip_probability: float = 0.0,
    translate: float = 0.0,
    color_jitter: float = 0.0,
    channels: int | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> v2.Compose:
    """Compose the transform from uint8 batches to the model's float input.

    uint8 -> float in [0, 1] -> colour jitter (RGB only) -> rotation/flip/shift fused with the
    resize -> channel expansion -> per-channel normalisation.

    Args:
        size: Side of the output images.
        degrees: Largest random rotation (0 for none).
        hflip_probability: Probability of a horizontal flip per image.
        translate: Largest random shift in input pixels.
        color_jitter: Strength of random brightness, contrast and saturation (0 for none).
        channels: Expand single-channel images to this many channels; ``None`` keeps them.
        mean: Per-channel mean subtracted at the end; ``None`` skips normalisation.
        std: Per-channel standard deviation divided by at the end.

    Returns:
        A callable mapping uint8 (B, C, H, W) to float32 (B, C', size, size).
    """
    steps: list[nn.Module] = [v2.ToDtype(torch.float32, scale=True)]
    if color_jitter:
        steps.append(RandomColorJitter(color_jitter, color_jitter, color_jitter))
    steps.append(RandomAffineResize(size, degrees, hflip_probability, translate))
    if channels is not None:
        steps.append(ExpandChannels(channels))
    if mean is not None and std is not None:
        steps.append(v2.Normalize(list(mean), list(std)))
    return v2.Compose(steps)
