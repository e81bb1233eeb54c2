"""What a fit will train, and on how many threads: shared by the CLI and hqnn-pl-compare."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from hqnn_pl.errors import ConfigurationError

#: Trainer settings whose value 0 means that a fit trains no step.
NO_TRAINING_VALUES = ("max_epochs", "max_steps", "limit_train_batches")


def check_trains(trainer: Mapping[str, Any] | None) -> None:
    """Refuse trainer settings under which a fit trains no step (its test would be untrained).

    Args:
        trainer: The ``trainer`` section of a parsed or resolved config.

    Raises:
        ConfigurationError: Naming the setting and the fix.
    """
    for key in NO_TRAINING_VALUES:
        value = (trainer or {}).get(key)
        if value is not None and not isinstance(value, bool) and value == 0:
            raise ConfigurationError(
                f"--trainer.{key} {value}: this fit would train no step, and its test would "
                f"report an untrained model. Give --trainer.{key} of at least 1; to evaluate a "
                "trained checkpoint, run `hqnn-pl test --ckpt_path <file>`."
            )


def set_threads(threads: int | None) -> None:
    """Use ``threads`` torch intra-op threads (0 or None: torch's default)."""
    if threads is None or threads == 0:
        return
    if threads < 0:
        raise ConfigurationError(
            f"--threads {threads}: give a positive number of threads, or 0 for torch's default."
        )
    torch.set_num_threads(threads)
