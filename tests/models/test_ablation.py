from __future__ import annotations

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything
from torch.utils.data import DataLoader, TensorDataset

from hqnn_pl.callbacks.parameter_count import count_parameters
from hqnn_pl.errors import ConfigurationError
from hqnn_pl.models import CNN, QPCNN, HQNNParallel, HQNNQuanv, RandomQuanvNet
from hqnn_pl.models.ablation import PatchIdentity, apply_quantum_block
from hqnn_pl.quantum import ParallelQuantumLayer, QuantumPointwiseConv2d, Quanv2d

MODELS = [
    (HQNNParallel, {"image_size": 8, "conv_channels": [4], "n_features": 8, "n_qubits": 4},
     ParallelQuantumLayer),
    (HQNNQuanv, {"image_size": 8}, Quanv2d),
    (QPCNN, {"image_size": 8}, QuantumPointwiseConv2d),
]  # fmt: skip


def _layer_output_shapes(model: torch.nn.Module, layer_type: type, x: torch.Tensor) -> list:
    shapes = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: shapes.append(tuple(out.shape)))
        for m in model.modules()
        if isinstance(m, layer_type)
    ]
    model(x)
    for hook in hooks:
        hook.remove()
    return shapes


@pytest.mark.parametrize(("cls", "kwargs", "layer_type"), MODELS)
def test_modes_keep_shapes_and_counts(cls, kwargs, layer_type) -> None:
    x = torch.rand(3, 1, 8, 8)
    trained = cls(num_classes=10, in_channels=1, quantum_block="trained", **kwargs)
    (quantum_shape,) = _layer_output_shapes(trained, layer_type, x)
    counts = {"trained": count_parameters(trained)}
    for mode in ("frozen", "identity"):
        model = cls(num_classes=10, in_channels=1, quantum_block=mode, **kwargs)
        assert model(x).shape == (3, 10)
        counts[mode] = count_parameters(model)
        if mode == "identity":
            assert not any(isinstance(m, layer_type) for m in model.modules())
            # The stand-in sits where the circuit was and gives the circuit's output shape.
            replaced = next(
                m for n, m in model.named_modules()
                if n and n in dict(trained.named_modules())
                and isinstance(dict(trained.named_modules())[n], layer_type)
            )  # fmt: skip
            out = []
            replaced.register_forward_hook(lambda _m, _i, o, out=out: out.append(tuple(o.shape)))
            model(x)
            assert out == [quantum_shape]
    q = counts["trained"]["quantum"]
    assert q > 0
    assert counts["frozen"]["quantum"] == 0 and counts["frozen"]["frozen"] == q
    assert counts["frozen"]["trainable"] == counts["trained"]["trainable"] - q
    assert counts["identity"]["quantum"] == 0 and counts["identity"]["frozen"] == 0
    assert counts["identity"]["total"] == counts["trained"]["total"] - q


def test_patch_identity_puts_each_pixel_where_its_qubit_was() -> None:
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    out = PatchIdentity(2, 2)(x)
    assert out.shape == (1, 8, 2, 2)
    # Output channel c*4 + j is pixel j (row-major) of the 2x2 patch of channel c.
    patch = x[0, 1, 2:4, 0:2].reshape(-1)
    assert torch.equal(out[0, 4:8, 1, 0], patch)


def _fit(model: torch.nn.Module, steps: int = 6) -> None:
    images = torch.rand(48, 1, 8, 8)
    labels = torch.randint(0, 10, (48,))
    loader = DataLoader(TensorDataset(images, labels), batch_size=16)
    trainer = Trainer(
        max_epochs=2, limit_train_batches=steps // 2, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
        num_sanity_val_steps=0, limit_val_batches=0,
    )  # fmt: skip
    trainer.fit(model, loader)


@pytest.mark.parametrize(("cls", "kwargs", "layer_type"), MODELS)
def test_frozen_circuit_is_bit_identical_after_training(cls, kwargs, layer_type) -> None:
    seed_everything(3)
    frozen = cls(num_classes=10, in_channels=1, quantum_block="frozen", **kwargs)
    seed_everything(3)
    trained = cls(num_classes=10, in_channels=1, quantum_block="trained", **kwargs)
    layer = next(m for m in frozen.modules() if isinstance(m, layer_type))
    start = layer.weights.detach().clone()
    # Same seed, same initial circuit weights: frozen keeps the seeded initialisation.
    trained_layer = next(m for m in trained.modules() if isinstance(m, layer_type))
    assert torch.equal(start, trained_layer.weights.detach())
    head_start = [p.detach().clone() for p in frozen.parameters() if p.requires_grad]
    _fit(frozen)
    _fit(trained)
    assert torch.equal(layer.weights.detach(), start)
    assert not torch.equal(trained_layer.weights.detach(), start)
    after = [p.detach() for p in frozen.parameters() if p.requires_grad]
    assert any(not torch.equal(a, b) for a, b in zip(head_start, after, strict=True))


def test_ablation_needs_a_quantum_block() -> None:
    cnn = CNN(num_classes=10, in_channels=1, image_size=8, conv_channels=[4], n_features=8)
    with pytest.raises(ConfigurationError, match="CNN has no quantum block"):
        apply_quantum_block(cnn.network, "frozen", "CNN")
    with pytest.raises(ConfigurationError, match="not a mode"):
        HQNNQuanv(num_classes=10, in_channels=1, image_size=8, quantum_block="off")


def test_random_quanvolution_cannot_be_trained() -> None:
    with pytest.raises(ConfigurationError, match=r"frozen .*or identity"):
        RandomQuanvNet(num_classes=10, in_channels=1, image_size=8, quantum_block="trained")
    model = RandomQuanvNet(num_classes=10, in_channels=1, image_size=8, quantum_block="identity")
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10)
