"""RNGStateCheckpoint: random-number-generator states in every checkpoint, for exact resumes."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from lightning.pytorch import Callback


def _numpy_state() -> tuple[str, torch.Tensor, int, int, float]:
    """NumPy's legacy global state with the key array as a tensor (loads with weights_only)."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    keys_tensor = torch.from_numpy(keys.astype(np.int64))
    return str(kind), keys_tensor, int(position), int(has_gauss), float(gauss)


class RNGStateCheckpoint(Callback):
    """Save the torch, CUDA, NumPy and Python RNG states in checkpoints and restore them on resume.

    Lightning restores weights, optimiser, schedulers and loop counters but not the global random
    states. A shuffling ``DataLoader`` draws its permutation from torch's global generator at the
    start of every epoch, so without this callback a run resumed from ``last.ckpt`` shuffles
    epoch ``k + 1`` differently from an uninterrupted run. With it, a run resumed from an
    end-of-epoch checkpoint continues exactly as the uninterrupted run would (under
    ``deterministic: true``). A mid-epoch checkpoint (``on_exception.ckpt``) resumes the right
    weights and step but not the rest of that epoch's batch order. Each process saves and
    restores its own states; checkpoints are written by rank zero, so with DDP every rank
    resumes with rank zero's states (the distributed sampler shuffles with seed + epoch and
    does not depend on them). The CLI adds this callback to every run.
    """

    def state_dict(self) -> dict[str, Any]:
        """The current random states of this process."""
        state: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "numpy": _numpy_state(),
            "python": random.getstate(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the random states saved in a checkpoint."""
        if "torch" in state_dict:
            torch.set_rng_state(state_dict["torch"])
        if "numpy" in state_dict:
            kind, keys, position, has_gauss, gauss = state_dict["numpy"]
            keys = keys.numpy().astype(np.uint32)
            np.random.set_state((kind, keys, position, has_gauss, gauss))
        if "python" in state_dict:
            random.setstate(state_dict["python"])
        cuda = state_dict.get("cuda")
        if (
            cuda is not None
            and torch.cuda.is_available()
            and len(cuda) == torch.cuda.device_count()
        ):
            torch.cuda.set_rng_state_all(cuda)
