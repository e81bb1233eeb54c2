"""Fixtures of the callback tests (shared with the W&B, sweep, DDP and resume tests)."""

from tests.callbacks.helpers import wandb_offline

__all__ = ["wandb_offline"]
