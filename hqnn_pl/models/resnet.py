"""A torchvision ResNet backbone with a 6-qubit variational head (car study) or a linear head."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal
from urllib.error import URLError

import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn
from torchvision import models

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.models.base import RUNTIME_KEYS, ImageClassifier
from hqnn_pl.models.hybrid import HybridClassifier
from hqnn_pl.quantum import ParallelQuantumLayer
from hqnn_pl.quantum.execution import Execution

ResNetName = Literal["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


def build_backbone(name: str, weights: str | None) -> tuple[nn.Module, int]:
    """Create a torchvision ResNet without its ``fc`` layer.

    Args:
        name: torchvision model name, e.g. ``resnet50``.
        weights: torchvision weights name (``DEFAULT``, ``IMAGENET1K_V2``, ...) or ``None``.

    Returns:
        The backbone (images -> (B, features)) and its number of output features.
    """
    try:
        backbone = models.get_model(name, weights=weights)
    except (URLError, OSError, RuntimeError) as error:
        raise ConfigurationError(
            f"Could not load the pretrained weights {weights!r} of {name} ({error}). Download "
            "them once on a machine with network (they are cached under $TORCH_HOME/hub/"
            "checkpoints, ~/.cache/torch by default, and can be copied there), or set "
            "`weights: null` to start from random weights."
        ) from error
    except (KeyError, ValueError) as error:
        raise ConfigurationError(
            f"Unknown weights {weights!r} for {name}: use one of "
            f"{[w.name for w in models.get_model_weights(name)]} or null ({error})."
        ) from error
    features = backbone.fc.in_features
    backbone.fc = nn.Identity()
    return backbone, features


class ScaledTanh(nn.Module):
    """Angles ``tanh(h) * s * pi`` with a trainable scale ``s`` (initially 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, h: Tensor) -> Tensor:
        """Map pre-activations to rotation angles in (-s pi, s pi)."""
        return torch.tanh(h) * self.scale * math.pi


class _ResNetModel(ImageClassifier):
    """Backbone freezing and a separate backbone learning rate for the ResNet models.

    The backbone's settings are this class's; :class:`ResNetHQNN` adds its circuit's. Pretrained
    weights and the fine-tuning settings only matter for training: a checkpoint
    loads with other values (e.g. ``weights: null`` to evaluate it offline, or an unfrozen
    backbone for a second fine-tuning stage).

    Args:
        num_classes: Number of classes (linked from the datamodule).
        in_channels: Input image channels (linked from the datamodule; must be 3).
        image_size: Input image side in pixels (linked from the datamodule).
        backbone: torchvision ResNet name.
        weights: torchvision pretrained weights name (``DEFAULT``, ``IMAGENET1K_V2``, ...),
            downloaded on first use; ``null`` for random initialisation.
        freeze_backbone: Freeze the backbone except ``trainable_layers``.
        trainable_layers: Backbone children left trainable when frozen, e.g. ``[layer4]``.
        backbone_lr: Learning rate of the backbone's parameters (the car study fine-tuned
            layer4 at 1e-5 with the head at 1e-3); ``None`` uses the optimiser's.
        **kwargs: ``optimizer``, ``lr_scheduler`` (see :class:`~hqnn_pl.models.ImageClassifier`).
    """

    runtime_hparams = RUNTIME_KEYS | {
        "weights",
        "freeze_backbone",
        "trainable_layers",
        "backbone_lr",
    }
    _frozen_children: tuple[str, ...] = ()

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        backbone: ResNetName = "resnet50",
        weights: str | None = "DEFAULT",
        freeze_backbone: bool = False,
        trainable_layers: Sequence[str] = (),
        backbone_lr: float | None = None,
        **kwargs: Any,
    ) -> None:
        self._check_inputs(in_channels, backbone_lr)
        super().__init__(num_classes, in_channels, image_size, **kwargs)
        self._freeze(freeze_backbone, trainable_layers)

    def _check_inputs(self, in_channels: int, backbone_lr: float | None) -> None:
        if in_channels != 3:
            raise ConfigurationError(
                f"ResNet backbones take 3-channel images, but the data has {in_channels}: use a "
                "datamodule that yields RGB images."
            )
        if backbone_lr is not None and backbone_lr < 0:
            raise ConfigurationError(f"backbone_lr must be >= 0, got {backbone_lr}.")

    def _freeze(self, freeze_backbone: bool, trainable_layers: Sequence[str]) -> None:
        names = {name for name, _ in self.network.backbone.named_children()}
        unknown = sorted(set(trainable_layers) - names)
        if unknown:
            raise ConfigurationError(
                f"trainable_layers {unknown} are not children of the backbone; choose from "
                f"{sorted(names)}."
            )
        if trainable_layers and not freeze_backbone:
            rank_zero_warn(
                f"trainable_layers {list(trainable_layers)} has no effect without "
                "freeze_backbone: true (the whole backbone trains)."
            )
        if freeze_backbone:
            for name, child in self.network.backbone.named_children():
                child.requires_grad_(name in trainable_layers)
            self._frozen_children = tuple(
                name for name, _ in self.network.backbone.named_children()
                if name not in trainable_layers
            )  # fmt: skip
            self.train(self.training)

    def train(self, mode: bool = True) -> _ResNetModel:
        """Switch modes; frozen backbone blocks stay in eval mode (BatchNorm statistics fixed)."""
        super().train(mode)
        for name in self._frozen_children:
            self.network.backbone.get_submodule(name).eval()
        return self

    def parameter_groups(self) -> Any:
        """Put the backbone in its own group with ``backbone_lr`` when that is set."""
        backbone_lr = self.hparams.get("backbone_lr")
        if backbone_lr is None:
            return super().parameter_groups()
        backbone = [p for p in self.network.backbone.parameters() if p.requires_grad]
        in_backbone = {id(p) for p in backbone}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in in_backbone]
        return [{"params": rest}] + ([{"params": backbone, "lr": backbone_lr}] if backbone else [])


class ResNetHQNNNet(nn.Module):
    """Backbone -> Linear(features, 128) -> ReLU -> Linear(128, q) -> angles -> circuit -> Linear.

    Args:
        backbone: Feature extractor (images -> (B, features)).
        features: Its number of output features.
        n_qubits: Qubits of the variational circuit.
        depth: StronglyEntanglingLayers of the circuit.
        num_classes: Number of output logits.
        execution: How the circuit runs.
    """

    def __init__(
        self,
        backbone: nn.Module,
        features: int,
        n_qubits: int,
        depth: int,
        num_classes: int,
        execution: Execution,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.projection = nn.Sequential(
            nn.Linear(features, 128), nn.ReLU(), nn.Linear(128, n_qubits), ScaledTanh()
        )
        self.circuit = ParallelQuantumLayer(
            n_qubits=n_qubits, n_circuits=1, depth=depth, rotation="X", observable="Z",
            execution=execution,
        )  # fmt: skip
        self.head = nn.Linear(n_qubits, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Map images (B, 3, H, W) to logits (B, num_classes)."""
        return self.head(self.circuit(self.projection(self.backbone(x))))


class ResNetLinearNet(nn.Module):
    """Backbone -> Linear(features, classes).

    Args:
        backbone: Feature extractor (images -> (B, features)).
        features: Its number of output features.
        num_classes: Number of output logits.
    """

    def __init__(self, backbone: nn.Module, features: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """Map images (B, 3, H, W) to logits (B, num_classes)."""
        return self.head(self.backbone(x))


class ResNetHQNN(HybridClassifier, _ResNetModel):
    """A ResNet backbone with a variational quantum head (Watt, Shadoyan, Nguyen 2026).

    The backbone's features are projected to q angles ``tanh(h) * s * pi`` (trainable s),
    RX-embedded into q qubits, entangled by StronglyEntanglingLayers, read out as <Z> per qubit
    and mapped to the classes by a linear layer.

    Args:
        num_classes: Number of classes (linked from the datamodule).
        in_channels: Input image channels (linked from the datamodule; must be 3).
        image_size: Input image side in pixels (linked from the datamodule).
        n_qubits: Qubits of the variational circuit.
        depth: StronglyEntanglingLayers of the circuit.
        **kwargs: The backbone's settings (``backbone``, ``weights``, ``freeze_backbone``,
            ``trainable_layers``, ``backbone_lr``; see :class:`ResNetClassifier`) and
            ``execution``, ``quantum_block``, ``optimizer``, ``lr_scheduler`` (see
            :class:`~hqnn_pl.models.hybrid.HybridClassifier`).
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        n_qubits: int = 6,
        depth: int = 2,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_classes, in_channels, image_size, **kwargs)

    def configure_network(self) -> nn.Module:
        """Build the backbone and the quantum head."""
        hp = self.hparams
        backbone, features = build_backbone(hp.backbone, hp.weights)
        return ResNetHQNNNet(
            backbone, features, hp.n_qubits, hp.depth, self.num_classes, hp.execution
        )


class ResNetClassifier(_ResNetModel):
    """The plain ResNet baseline: the same backbone with a linear head.

    Args:
        num_classes: Number of classes (linked from the datamodule).
        in_channels: Input image channels (linked from the datamodule; must be 3).
        image_size: Input image side in pixels (linked from the datamodule).
        backbone: torchvision ResNet name.
        weights: torchvision pretrained weights name, downloaded on first use; ``null`` for
            random initialisation.
        freeze_backbone: Freeze the backbone except ``trainable_layers``.
        trainable_layers: Backbone children left trainable when frozen, e.g. ``[layer4]``.
        backbone_lr: Learning rate of the backbone's parameters; ``None`` uses the optimiser's.
        **kwargs: ``optimizer``, ``lr_scheduler`` (see :class:`~hqnn_pl.models.ImageClassifier`).
    """

    def configure_network(self) -> nn.Module:
        """Build the backbone and the linear head."""
        backbone, features = build_backbone(self.hparams.backbone, self.hparams.weights)
        return ResNetLinearNet(backbone, features, self.num_classes)
