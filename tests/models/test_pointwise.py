from __future__ import annotations

import pytest
import torch

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.models import QPCNN, PointwiseCNN
from tests.models.conftest import agree_across_backends


def test_quantum_and_classical_pointwise_layers_have_the_same_width() -> None:
    quantum, classical = QPCNN(10, 1, 28, stem_channels=8), PointwiseCNN(10, 1, 28, stem_channels=8)
    assert quantum.network.pointwise.out_channels == classical.network.pointwise.out_channels == 3
    assert quantum.parameter_counts()["quantum"] == 2 * 3 * 3  # depth 2 x 3 qubits x 3 angles
    for model in (quantum, classical):
        assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_probs_measurement_gives_two_to_the_n_maps() -> None:
    model = QPCNN(10, 3, 32, stem_channels=4, measurement="probs")
    assert model.network.pointwise.out_channels == 4
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_backends_agree() -> None:
    x = torch.rand(2, 1, 8, 8)
    agree_across_backends(
        QPCNN, "network.pointwise", x, num_classes=4, in_channels=1, image_size=8, stem_channels=4
    )


def test_channel_count_beyond_the_qubit_limit() -> None:
    with pytest.raises(ConfigurationError, match="qubits"):
        QPCNN(10, 1, 28, stem_channels=2**25)  # 25 qubits: past the engine's MAX_QUBITS


def test_image_too_small() -> None:
    with pytest.raises(ConfigurationError, match="image_size 2 is too small"):
        PointwiseCNN(10, 1, 2)
