from __future__ import annotations

import pytest
import torch
from lightning.pytorch import Trainer

from hqnn_pl.datamodules import DigitsDataModule
from hqnn_pl.errors import ConfigurationError
from hqnn_pl.models import CNN, HQNNParallel


def test_hqnn_parallel_has_the_papers_45194_parameters_on_mnist() -> None:
    model = HQNNParallel(num_classes=10, in_channels=1, image_size=28)
    assert model.parameter_counts() == {"trainable": 45194, "quantum": 180, "classical": 45014}


def test_cnn_counterpart_parameters_on_mnist() -> None:
    # HQNN-Parallel's 180 circuit weights become Linear(20, 20): 420 parameters.
    model = CNN(num_classes=10, in_channels=1, image_size=28)
    assert model.parameter_counts() == {"trainable": 45434, "quantum": 0, "classical": 45434}


@pytest.mark.parametrize("model_class", [HQNNParallel, CNN])
def test_forward_shapes_with_three_blocks(model_class: type) -> None:
    model = model_class(num_classes=10, in_channels=3, image_size=32, conv_channels=[16, 32, 64])
    assert model(torch.randn(4, 3, 32, 32)).shape == (4, 10)


def test_n_features_must_be_a_multiple_of_n_qubits() -> None:
    with pytest.raises(ConfigurationError, match=r"n_features \(21\).*n_qubits \(5\).*20 or 25"):
        HQNNParallel(num_classes=10, in_channels=1, image_size=28, n_features=21)


@pytest.mark.parametrize("key", ["n_qubits", "n_features"])
def test_zero_qubits_or_features_name_a_working_value(key: str) -> None:
    message = rf"{key} must be a positive integer, got 0.*{key} "
    with pytest.raises(ConfigurationError, match=message):
        HQNNParallel(num_classes=10, in_channels=1, image_size=28, **{key: 0})


def test_image_too_small_for_the_trunk() -> None:
    with pytest.raises(ConfigurationError, match="image_size 4 is too small for 3 conv blocks"):
        CNN(num_classes=10, in_channels=1, image_size=4, conv_channels=[8, 8, 8])


def test_model_that_disagrees_with_the_data_fails_before_training() -> None:
    model = CNN(num_classes=6, in_channels=1, image_size=16)
    trainer = Trainer(fast_dev_run=True, logger=False, enable_progress_bar=False)
    with pytest.raises(ConfigurationError, match="num_classes: model has 6, data has 10"):
        trainer.fit(model, datamodule=DigitsDataModule(image_size=16))


def test_checkpoint_of_another_architecture_is_refused(tmp_path) -> None:
    trainer = Trainer(max_steps=1, logger=False, enable_progress_bar=False, limit_val_batches=0)
    trainer.fit(HQNNParallel(10, 1, 16), datamodule=DigitsDataModule(image_size=16))
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    with pytest.raises(ConfigurationError, match="depth: checkpoint 3, model 2"):
        HQNNParallel(10, 1, 16, depth=2).on_load_checkpoint(
            torch.load(tmp_path / "model.ckpt", weights_only=False)
        )


def test_backends_agree_on_the_whole_model() -> None:
    from tests.models.conftest import agree_across_backends

    agree_across_backends(
        HQNNParallel, "network.middle", torch.randn(3, 1, 16, 16),
        num_classes=10, in_channels=1, image_size=16,
    )  # fmt: skip


def test_a_validation_monitor_without_validation_data_fails_before_training() -> None:
    from lightning.pytorch.callbacks import ModelCheckpoint

    trainer = Trainer(
        max_epochs=1, logger=False, enable_progress_bar=False,
        callbacks=[ModelCheckpoint(monitor="val/acc", mode="max")],
    )  # fmt: skip
    with pytest.raises(
        ConfigurationError, match="monitors val/acc, but the data has no validation"
    ):
        trainer.fit(CNN(10, 1, 16), datamodule=DigitsDataModule(image_size=16, val_fraction=0.0))


def test_reduce_on_plateau_without_validation_data_fails_before_training() -> None:
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    model = CNN(10, 1, 16, lr_scheduler=lambda optimizer: ReduceLROnPlateau(optimizer))
    trainer = Trainer(
        max_epochs=1, logger=False, enable_progress_bar=False, enable_checkpointing=False
    )
    with pytest.raises(ConfigurationError, match="ReduceLROnPlateau monitors val/loss"):
        trainer.fit(model, datamodule=DigitsDataModule(image_size=16, val_fraction=0.0))
