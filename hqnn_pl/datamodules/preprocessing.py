"""Whole-tensor preprocessing for datasets small enough to hold in memory."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def to_float_images(images: Tensor, max_value: float) -> Tensor:
    """Scale integer images to [0, 1] and add a channel axis when there is none.

    Args:
        images: (N, H, W) or (N, C, H, W) pixel values in [0, ``max_value``].
        max_value: The largest possible pixel value (255 for uint8 images, 16 for sklearn digits).

    Returns:
        Float32 images (N, C, H, W) in [0, 1].
    """
    images = images.float() / max_value
    return images.unsqueeze(1) if images.dim() == 3 else images


def resize_images(images: Tensor, size: int, batch: int = 4096) -> Tensor:
    """Resize square images bilinearly (with antialiasing when shrinking), in chunks.

    Args:
        images: Float images (N, C, H, W).
        size: Target side in pixels.
        batch: Images resized per call, to bound peak memory.

    Returns:
        Images (N, C, size, size), clamped to the input's range.
    """
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    chunks = [
        F.interpolate(
            chunk, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        for chunk in images.split(batch)
    ]
    return torch.cat(chunks).clamp_(images.min(), images.max())


def standardize(images: Tensor, mean: float, std: float) -> Tensor:
    """Return ``(images - mean) / std``."""
    return (images - mean) / std
