"""Every quantum model passes ``method`` to its layer; a checkpoint loads under either method."""

from __future__ import annotations

import pytest
import torch

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.models import QPCNN, HQNNParallel, HQNNQuanv, RandomQuanvNet, ResNetHQNN
from hqnn_pl.quantum import QuantumLayer
from hqnn_pl.quantum.execution import Execution

# (model class, constructor arguments, an input, two methods that must give the same logits)
CASES = [
    (HQNNParallel, {"num_classes": 3, "in_channels": 1, "image_size": 16}, (2, 1, 16, 16),
     ("dense", "gatewise")),
    (HQNNQuanv, {"num_classes": 3, "in_channels": 1, "image_size": 6}, (2, 1, 6, 6),
     ("heisenberg", "auto")),
    (QPCNN, {"num_classes": 3, "in_channels": 1, "image_size": 8, "stem_channels": 4},
     (2, 1, 8, 8), ("dense", "gatewise")),
    (RandomQuanvNet, {"num_classes": 3, "in_channels": 1, "image_size": 6,
                      "cache_features": False}, (2, 1, 6, 6), ("dense", "gatewise")),
    (ResNetHQNN, {"num_classes": 3, "in_channels": 3, "image_size": 32, "backbone": "resnet18",
                  "weights": None}, (2, 3, 32, 32), ("dense", "gatewise")),
]  # fmt: skip


def _quantum_layer(model: torch.nn.Module) -> QuantumLayer:
    return next(m for m in model.modules() if isinstance(m, QuantumLayer))


@pytest.mark.parametrize(("model_class", "kwargs", "shape", "methods"), CASES)
def test_method_reaches_the_layer_and_both_methods_agree(
    model_class: type, kwargs: dict, shape: tuple[int, ...], methods: tuple[str, str]
) -> None:
    torch.manual_seed(0)
    first = model_class(**kwargs, execution=Execution(method=methods[0])).eval()
    second = model_class(**kwargs, execution=Execution(method=methods[1])).eval()
    assert _quantum_layer(first).execution.method == methods[0]
    assert _quantum_layer(second).execution.method == methods[1]
    second.load_state_dict(first.state_dict())
    second.check_hyperparameters(dict(first.hparams))  # a checkpoint loads under either method
    x = torch.rand(shape)
    with torch.no_grad():
        torch.testing.assert_close(first(x), second(x), atol=1e-5, rtol=1e-5)


def test_unknown_method_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigurationError, match=r"Unknown method 'fast'.*'gatewise'"):
        HQNNParallel(
            num_classes=3, in_channels=1, image_size=16, execution=Execution(method="fast")
        )
