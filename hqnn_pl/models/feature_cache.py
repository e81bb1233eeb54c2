"""Memoising a fixed feature extractor per image, so a random quanvolution runs once per image."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import torch
from torch import Tensor, nn

from hqnn_pl.errors import ConfigurationError


class FeatureCache(nn.Module):
    """Run a fixed (parameter-free) extractor once per distinct image and reuse its output.

    The cache lives in the model and is keyed by the image's content (a BLAKE2 digest of its
    bytes), not by a dataset index. So it survives epochs, needs no cooperation from the
    datamodule, works per rank under DDP, and stays correct under data augmentation: an augmented
    image is a new key. Features are kept on the CPU, least recently used first out once
    ``max_items`` is reached. The cache is not saved in checkpoints: it is rebuilt on demand.

    Args:
        extractor: A module without trainable parameters, e.g. ``RandomQuanv2d``.
        max_items: Most images whose features are kept.
    """

    def __init__(self, extractor: nn.Module, max_items: int = 100_000) -> None:
        super().__init__()
        if any(p.requires_grad for p in extractor.parameters()):
            raise ConfigurationError(
                f"FeatureCache needs a fixed extractor, but {type(extractor).__name__} has "
                "trainable parameters: caching would freeze them."
            )
        if max_items < 1:
            raise ConfigurationError(f"max_items must be positive, got {max_items}.")
        self.extractor = extractor
        self.max_items = max_items
        self._store: OrderedDict[bytes, Tensor] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._store)

    def clear(self) -> None:
        """Forget every cached feature (e.g. after changing the extractor)."""
        self._store.clear()
        self.hits = self.misses = 0

    @staticmethod
    def _key(image: Tensor) -> bytes:
        digest = hashlib.blake2b(image.view(torch.uint8).numpy().tobytes(), digest_size=16)
        digest.update(f"{image.dtype}{tuple(image.shape)}".encode())
        return digest.digest()

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        """Return the extractor's output for a batch, computing only the images not seen yet."""
        keys = [self._key(image) for image in x.detach().cpu().contiguous()]
        missing = [i for i, key in enumerate(keys) if key not in self._store]
        fresh: dict[bytes, Tensor] = {}
        if missing:
            features = self.extractor(x[missing]).cpu()
            fresh = {keys[i]: feature for i, feature in zip(missing, features, strict=True)}
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        rows = []
        for key in keys:
            row = fresh.get(key)
            if row is None:
                row = self._store[key]
                self._store.move_to_end(key)
            rows.append(row)
        for key, row in fresh.items():
            self._store[key] = row
        while len(self._store) > self.max_items:
            self._store.popitem(last=False)
        return torch.stack(rows).to(x.device)
