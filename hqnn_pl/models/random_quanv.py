"""A fixed random quanvolution first layer (Henderson et al. 2019; car study) and its baseline."""

from __future__ import annotations

from typing import Any

from torch import nn

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.models.ablation import QuantumBlock
from hqnn_pl.models.base import RUNTIME_KEYS, ImageClassifier
from hqnn_pl.models.feature_cache import FeatureCache
from hqnn_pl.models.hybrid import HybridClassifier
from hqnn_pl.models.quanv import conv_output_side
from hqnn_pl.quantum import RandomQuanv2d
from hqnn_pl.quantum.execution import DEFAULT_EXECUTION, Execution, as_execution


def mlp_head(in_features: int, hidden_features: int, num_classes: int) -> nn.Sequential:
    """Flatten -> Linear(hidden) -> ReLU -> Linear(classes)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_features, hidden_features),
        nn.ReLU(),
        nn.Linear(hidden_features, num_classes),
    )


class RandomQuanvNet(HybridClassifier):
    """A seeded random k x k quanvolution (not trained) -> Flatten -> Linear -> ReLU -> Linear.

    Each k x k patch of each channel is RY(pi x)-embedded into k*k qubits, transformed by a fixed
    PennyLane ``RandomLayers`` circuit drawn from ``seed`` and read out as <Z> per qubit, as in
    Henderson et al. (2019) and the car study of Watt et al. (2026). The circuit never changes,
    so with ``cache_features`` its output is computed once per distinct image and reused in
    later epochs (see :class:`~hqnn_pl.models.feature_cache.FeatureCache`). Pixels must lie in
    [0, 1].

    Args:
        num_classes: Number of classes (linked from the datamodule).
        in_channels: Input image channels (linked from the datamodule).
        image_size: Input image side in pixels (linked from the datamodule).
        kernel_size: Side k of the patches (k*k qubits).
        stride: Step between patches.
        n_random_layers: Layers of the random circuit.
        seed: Seed of the random circuit.
        hidden_features: Width of the classifier's hidden layer.
        cache_features: Compute the quanvolution once per distinct image.
        cache_size: Most images whose features are cached.
        quantum_block: ``frozen`` (the random circuit, which never trains) or ``identity`` (the
            patches' pixels instead of the circuit's outputs); see :mod:`hqnn_pl.models.ablation`.
        execution: How the circuits run (see :class:`~hqnn_pl.models.hybrid.HybridClassifier`).
        **kwargs: ``optimizer``, ``lr_scheduler`` (see
            :class:`~hqnn_pl.models.hybrid.HybridClassifier`).
    """

    runtime_hparams = RUNTIME_KEYS | {"cache_size"}

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        kernel_size: int = 2,
        stride: int = 2,
        n_random_layers: int = 1,
        seed: int = 0,
        hidden_features: int = 128,
        cache_features: bool = True,
        cache_size: int = 100_000,
        quantum_block: QuantumBlock = "frozen",
        execution: Execution = DEFAULT_EXECUTION,
        **kwargs: Any,
    ) -> None:
        if quantum_block == "trained":
            raise ConfigurationError(
                "RandomQuanvNet's random circuit has no trainable weights, so quantum_block="
                "'trained' is not available: use frozen (the default) or identity, or HQNNQuanv "
                "for a trainable quanvolution."
            )
        shots = as_execution(execution).shots
        if cache_features and shots is not None:
            raise ConfigurationError(
                f"cache_features with shots={shots} would reuse one shot draw of each image in "
                "every epoch instead of sampling anew: set --model.init_args.cache_features "
                "false (or shots null for exact features)."
            )
        super().__init__(num_classes, in_channels, image_size, execution, quantum_block, **kwargs)

    def configure_network(self) -> nn.Module:
        """Build the (cached) random quanvolution and the MLP classifier."""
        hp = self.hparams
        k, stride = hp.kernel_size, hp.stride
        side = conv_output_side(self.image_size, k, stride)
        quanv: nn.Module = RandomQuanv2d(
            k, stride, hp.n_random_layers, hp.seed, execution=hp.execution
        )
        if hp.cache_features:
            quanv = FeatureCache(quanv, max_items=hp.cache_size)
        features = self.in_channels * k * k * side * side
        return nn.Sequential(quanv, mlp_head(features, hp.hidden_features, self.num_classes))


class PixelBaseline(ImageClassifier):
    """RandomQuanvNet's classical baseline: the same MLP classifier on the raw pixels.

    Args:
        num_classes: Number of classes (linked from the datamodule).
        in_channels: Input image channels (linked from the datamodule).
        image_size: Input image side in pixels (linked from the datamodule).
        hidden_features: Width of the classifier's hidden layer.
        **kwargs: ``optimizer``, ``lr_scheduler`` (see :class:`~hqnn_pl.models.ImageClassifier`).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        hidden_features: int = 128,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, in_channels, image_size, **kwargs)

    def configure_network(self) -> nn.Module:
        """Build the MLP classifier on flattened pixels."""
        features = self.in_channels * self.image_size * self.image_size
        return mlp_head(features, self.hparams.hidden_features, self.num_classes)
