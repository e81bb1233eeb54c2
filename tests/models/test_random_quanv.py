from __future__ import annotations

import pytest
import torch

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.models import PixelBaseline, RandomQuanvNet
from hqnn_pl.models.feature_cache import FeatureCache
from hqnn_pl.quantum import Quanv2d, RandomQuanv2d
from hqnn_pl.quantum.execution import Execution
from tests.models.conftest import agree_across_backends


def test_quanvolution_is_fixed_and_the_head_matches_the_baseline() -> None:
    quantum, baseline = RandomQuanvNet(5, 3, 16), PixelBaseline(5, 3, 16)
    assert quantum.parameter_counts()["quantum"] == 0  # the random circuit is not trained
    # 3 channels x 4 qubits x 8 x 8 positions = 768 = 3 x 16 x 16 pixels: same head size
    assert quantum.parameter_counts()["trainable"] == baseline.parameter_counts()["trainable"]
    assert quantum(torch.rand(2, 3, 16, 16)).shape == baseline(torch.rand(2, 3, 16, 16)).shape


def test_cache_computes_each_image_once_and_matches_the_circuit() -> None:
    quanv = RandomQuanv2d(seed=3)
    cache = FeatureCache(quanv, max_items=5)
    images = torch.rand(4, 1, 6, 6)
    first = cache(images)
    assert (cache.misses, cache.hits) == (4, 0)
    again = cache(images[[2, 0, 2]])  # repeats within a batch and across epochs
    assert (cache.misses, cache.hits) == (4, 3)
    torch.testing.assert_close(again, first[[2, 0, 2]])
    torch.testing.assert_close(first, quanv(images))
    cache(torch.rand(3, 1, 6, 6))  # 7 distinct images, room for 5: the oldest go first
    assert len(cache) == 5


def test_cache_refuses_a_trainable_extractor() -> None:
    with pytest.raises(ConfigurationError, match="trainable parameters"):
        FeatureCache(Quanv2d())


def test_backends_agree() -> None:
    x = torch.rand(2, 1, 6, 6)
    agree_across_backends(
        RandomQuanvNet, "network.0", x, num_classes=3, in_channels=1, image_size=6,
        cache_features=False,
    )  # fmt: skip


def test_cache_keys_handle_bfloat16_and_tell_dtypes_apart() -> None:
    cache = FeatureCache(RandomQuanv2d(), max_items=10)
    images = torch.rand(2, 1, 4, 4)
    cache(images.bfloat16())
    cache(images)  # same values, other dtype: a different key
    assert (cache.misses, cache.hits) == (4, 0)


def test_stride_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="stride must be a positive integer, got 0"):
        RandomQuanvNet(5, 1, 8, stride=0)


def test_cached_features_refuse_shots() -> None:
    with pytest.raises(ConfigurationError, match=r"cache_features with shots=100 would reuse"):
        RandomQuanvNet(num_classes=5, in_channels=1, image_size=8, execution=Execution(shots=100))
    RandomQuanvNet(
        num_classes=5,
        in_channels=1,
        image_size=8,
        cache_features=False,
        execution=Execution(shots=100),
    )
