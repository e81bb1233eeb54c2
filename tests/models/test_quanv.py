from __future__ import annotations

import pytest
import torch

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.models import HQNNQuanv, QuanvCNN
from tests.models.conftest import agree_across_backends


def test_kernel_parameter_counts_match_the_paper() -> None:
    # Senokosov et al.: the quantum kernel has 4 weights, CNN1's 4, CNN4's 16.
    quantum = HQNNQuanv(10, 1, 14)
    assert quantum.parameter_counts()["quantum"] == 4
    assert QuanvCNN(10, 1, 14, out_channels=1).network[0].weight.numel() == 4
    assert QuanvCNN(10, 1, 14, out_channels=4).network[0].weight.numel() == 16
    # 14 px, 2x2 stride 2 -> 4 maps of 7x7 -> Linear(196, 10)
    assert quantum.parameter_counts()["trainable"] == 4 + 196 * 10 + 10


@pytest.mark.parametrize("model", [HQNNQuanv(10, 1, 14), QuanvCNN(10, 1, 14, out_channels=1)])
def test_forward_shape(model) -> None:
    assert model(torch.rand(3, 1, 14, 14)).shape == (3, 10)


def test_backends_agree() -> None:
    x = torch.rand(2, 1, 6, 6)
    agree_across_backends(HQNNQuanv, "network.0", x, num_classes=3, in_channels=1, image_size=6)


@pytest.mark.parametrize("model_class", [HQNNQuanv, QuanvCNN])
def test_image_smaller_than_the_kernel(model_class) -> None:
    with pytest.raises(ConfigurationError, match="image_size 1 is smaller than kernel_size 2"):
        model_class(10, 1, 1)
