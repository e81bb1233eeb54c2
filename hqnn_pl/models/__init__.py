"""LightningModules that users name in configs, each next to its classical counterpart."""

from hqnn_pl.models.base import ImageClassifier
from hqnn_pl.models.circuit import CircuitClassifier
from hqnn_pl.models.parallel import CNN, HQNNParallel
from hqnn_pl.models.pointwise import QPCNN, PointwiseCNN
from hqnn_pl.models.quanv import HQNNQuanv, QuanvCNN
from hqnn_pl.models.random_quanv import PixelBaseline, RandomQuanvNet
from hqnn_pl.models.resnet import ResNetClassifier, ResNetHQNN

__all__ = [
    "CNN",
    "QPCNN",
    "CircuitClassifier",
    "HQNNParallel",
    "HQNNQuanv",
    "ImageClassifier",
    "PixelBaseline",
    "PointwiseCNN",
    "QuanvCNN",
    "RandomQuanvNet",
    "ResNetClassifier",
    "ResNetHQNN",
]
