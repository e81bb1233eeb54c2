from __future__ import annotations

import torch
from torch import nn


def agree_across_backends(model_class: type, quantum_attr: str, x: torch.Tensor, **kwargs) -> None:
    """The same weights give the same logits with the torch and the pennylane backend."""
    # Imported here, not at conftest import: importing PennyLane before Lightning changes how
    # the CLI parses int|float flags such as --trainer.limit_predict_batches=1 (tests/test_predict).
    from hqnn_pl.quantum import Execution, QuantumLayer

    torch.manual_seed(0)
    fast = model_class(**kwargs, execution=Execution(backend="torch")).eval()
    oracle = model_class(**kwargs, execution=Execution(backend="pennylane")).eval()
    oracle.load_state_dict(fast.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fast(x), oracle(x), atol=1e-5, rtol=1e-5)
    layer: nn.Module = fast.get_submodule(quantum_attr)
    assert isinstance(layer, QuantumLayer)
