"""LightningModules that users name in configs."""

from hqnn_pl.models.base import ImageClassifier
from hqnn_pl.models.parallel import CNN, HQNNParallel

__all__ = ["CNN", "HQNNParallel", "ImageClassifier"]
