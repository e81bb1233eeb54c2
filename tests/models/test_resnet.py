from __future__ import annotations

import pytest
import torch

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.models import ResNetClassifier, ResNetHQNN
from tests.models.conftest import agree_across_backends


def test_quantum_head_shapes_and_counts() -> None:
    model = ResNetHQNN(7, 3, 32, backbone="resnet18", weights=None)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 7)
    assert model.parameter_counts()["quantum"] == 6 * 2 * 3  # 6 qubits, depth 2
    assert model.network.projection[2].out_features == 6


def test_resnet50_baseline_has_torchvisions_parameter_count() -> None:
    model = ResNetClassifier(10, 3, 32, weights=None)
    # torchvision's resnet50 has 25,557,032 parameters with its 1000-class fc (2048*1000+1000).
    assert model.parameter_counts()["trainable"] == 25_557_032 - 2_049_000 + 20_490


def test_frozen_backbone_with_layer4_at_its_own_learning_rate() -> None:
    model = ResNetHQNN(
        5, 3, 32, backbone="resnet18", weights=None, freeze_backbone=True,
        trainable_layers=["layer4"], backbone_lr=1e-5,
    )  # fmt: skip
    backbone = model.network.backbone
    assert not any(p.requires_grad for p in backbone.layer1.parameters())
    assert all(p.requires_grad for p in backbone.layer4.parameters())
    optimizer = model.configure_optimizers()
    head_group, backbone_group = optimizer.param_groups
    assert backbone_group["lr"] == 1e-5 and head_group["lr"] == 1e-3
    assert sum(p.numel() for p in backbone_group["params"]) == sum(
        p.numel() for p in backbone.layer4.parameters()
    )


def test_backends_agree() -> None:
    x = torch.rand(2, 3, 32, 32)
    agree_across_backends(
        ResNetHQNN, "network.circuit", x, num_classes=3, in_channels=3, image_size=32,
        backbone="resnet18", weights=None,
    )  # fmt: skip


def test_pretrained_weights_offline_say_how_to_get_them(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty cache: torchvision must download

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("torch.hub.download_url_to_file", offline)
    with pytest.raises(ConfigurationError, match=r"weights: null"):
        ResNetClassifier(10, 3, 32, backbone="resnet18", weights="DEFAULT")


def test_bad_inputs() -> None:
    with pytest.raises(ConfigurationError, match="3-channel images"):
        ResNetClassifier(10, 1, 32, weights=None)
    with pytest.raises(ConfigurationError, match="trainable_layers"):
        ResNetClassifier(10, 3, 32, backbone="resnet18", weights=None, trainable_layers=["layer9"])
    with pytest.raises(ConfigurationError, match="Unknown weights"):
        ResNetClassifier(10, 3, 32, backbone="resnet18", weights="NOT_A_WEIGHT")


def test_frozen_blocks_keep_their_batchnorm_statistics() -> None:
    model = ResNetClassifier(
        3, 3, 32, backbone="resnet18", weights=None, freeze_backbone=True,
        trainable_layers=["layer4"],
    ).train()  # fmt: skip
    backbone = model.network.backbone
    before = backbone.bn1.running_mean.clone()
    model(torch.rand(4, 3, 32, 32))
    assert torch.equal(backbone.bn1.running_mean, before)
    assert not backbone.layer1.training and backbone.layer4.training


def test_checkpoint_with_pretrained_weights_loads_with_weights_null() -> None:
    trained = ResNetClassifier(3, 3, 32, backbone="resnet18", weights=None, backbone_lr=1e-5)
    saved = dict(trained.hparams) | {"weights": "IMAGENET1K_V1", "freeze_backbone": True}
    ResNetClassifier(3, 3, 32, backbone="resnet18", weights=None).check_hyperparameters(saved)
    with pytest.raises(ConfigurationError, match="backbone: checkpoint 'resnet50'"):
        trained.check_hyperparameters(saved | {"backbone": "resnet50"})
