from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms import v2

from hqnn_pl.datamodules.datasets import BatchCollate, TensorImageDataset, stratified_split
from hqnn_pl.datamodules.transforms import (
    ExpandChannels,
    RandomAffineResize,
    RandomColorJitter,
    batch_transform,
)


def blob() -> torch.Tensor:
    image = torch.zeros(1, 1, 32, 32)
    image[..., 4:10, 20:28] = 1.0
    return image


@pytest.mark.parametrize("angle", [30.0, -10.0])
def test_rotation_matches_torchvision(angle: float) -> None:
    ours = RandomAffineResize(32).resample(blob(), angles=torch.tensor([angle]))
    reference = v2.functional.rotate(blob(), angle, interpolation=v2.InterpolationMode.BILINEAR)
    assert torch.allclose(ours, reference, atol=1e-5)


def test_flip_shift_and_plain_resize_are_exact() -> None:
    module = RandomAffineResize(32)
    assert torch.allclose(
        module.resample(blob(), flips=torch.tensor([True])), blob().flip(-1), atol=1e-5
    )
    shifted = torch.zeros_like(blob())
    shifted[..., 2:, 3:] = blob()[..., :-2, :-3]
    moved = module.resample(blob(), shifts=torch.tensor([[3.0, 2.0]]))
    assert torch.allclose(moved, shifted, atol=1e-5)
    small = torch.rand(3, 1, 64, 64)
    upsampled = RandomAffineResize(224).resample(small, angles=torch.zeros(3))
    assert torch.allclose(
        upsampled, F.interpolate(small, size=(224, 224), mode="bilinear"), atol=1e-5
    )


def test_random_parameters_are_drawn_per_image_and_bounded() -> None:
    torch.manual_seed(0)
    batch = blob().expand(32, -1, -1, -1)
    out = RandomAffineResize(32, degrees=10.0, hflip_probability=0.5)(batch)
    flipped = out[..., :16].sum(dim=(1, 2, 3)) > out[..., 16:].sum(dim=(1, 2, 3))
    assert 4 < int(flipped.sum()) < 28  # about half flipped
    unflipped = out[~flipped]
    assert len({round(float(x.square().sum()), 4) for x in unflipped}) == len(unflipped)


def test_colour_jitter_factors_and_identity() -> None:
    images = torch.rand(64, 3, 8, 8) * 0.5
    assert torch.equal(RandomColorJitter()(images), images)
    ratio = RandomColorJitter(brightness=0.2)(images) / images
    per_image = ratio.flatten(1)
    assert torch.allclose(per_image.min(dim=1).values, per_image.max(dim=1).values, atol=1e-5)
    assert float(per_image.min()) >= 0.8 - 1e-6 and float(per_image.max()) <= 1.2 + 1e-6
    grey = torch.rand(4, 1, 8, 8)
    assert RandomColorJitter(0.2, 0.2, 0.2)(grey).shape == grey.shape


def test_batch_transform_from_uint8_to_normalised_rgb() -> None:
    images = torch.randint(0, 256, (5, 1, 16, 16), dtype=torch.uint8)
    out = batch_transform(8, channels=3, mean=[0.5] * 3, std=[0.5] * 3)(images)
    assert out.shape == (5, 3, 8, 8) and out.dtype == torch.float32
    assert float(out.min()) >= -1 and float(out.max()) <= 1
    assert torch.equal(ExpandChannels(3)(out), out)


def test_stratified_split_rounds_half_up_per_class_and_covers_everything() -> None:
    labels = torch.tensor([0] * 5 + [1] * 3 + [2] * 10)
    train, val, test = stratified_split(labels, [0.6, 0.2, 0.2], torch.Generator().manual_seed(0))
    assert [torch.bincount(labels[part], minlength=3).tolist() for part in (train, val, test)] == [
        [3, 1, 6],
        [1, 1, 2],
        [1, 1, 2],
    ]
    assert torch.equal(torch.cat([train, val, test]).sort().values, torch.arange(18))


def test_tensor_dataset_serves_whole_batches_to_the_collate() -> None:
    images = torch.arange(6 * 4, dtype=torch.uint8).view(6, 1, 2, 2)
    dataset = TensorImageDataset(images, torch.arange(6), torch.tensor([1, 3, 5]))
    x, y = BatchCollate()(dataset.__getitems__([0, 2]))
    assert torch.equal(x, images[[1, 5]]) and y.tolist() == [1, 5]
    x, y = BatchCollate(lambda batch: batch.float())([dataset[0], dataset[1]])
    assert x.dtype == torch.float32 and y.tolist() == [1, 3]


def test_loader_workers_are_seeded_per_rank() -> None:
    import random

    import numpy as np

    from hqnn_pl.datamodules import DigitsDataModule

    dm = DigitsDataModule()

    def draws(rank: int) -> tuple[float, float, float]:
        dm.trainer = type("FakeTrainer", (), {"global_rank": rank})()
        init = dm._loader(
            torch.utils.data.TensorDataset(torch.zeros(1)), "train", True
        ).worker_init_fn
        torch.manual_seed(123)
        init(0)
        return random.random(), float(np.random.rand()), float(torch.rand(()))

    assert draws(0) == draws(0)
    assert draws(0) != draws(1)


def test_shift_augmentation_moves_whole_pixels_without_blurring() -> None:
    from hqnn_pl.datamodules.transforms import RandomAffineResize

    torch.manual_seed(0)
    images = torch.rand(16, 1, 12, 12)
    shifted = RandomAffineResize(12, translate=3.0)(images)
    assert not torch.equal(shifted, images)
    for source, out in zip(images, shifted, strict=True):
        # Every output pixel is an original pixel value (or 0, shifted in from outside): no
        # pixel is a bilinear mix of two neighbours.
        candidates = torch.cat([source.flatten(), torch.zeros(1)])
        distance = (out.flatten()[:, None] - candidates[None, :]).abs().min(dim=1).values
        assert distance.max() < 1e-5
