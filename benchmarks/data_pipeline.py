"""Does data loading starve the model? Medical MNIST at 224 px with augmentation vs HQNNParallel.

Measures, in one run on the current machine, images per second of:

1. The Medical MNIST training pipeline at ``--image_size`` (224 by default) with the paper's
   augmentation (random rotation up to 10 degrees, random horizontal flip), for
   ``num_workers`` 0, 1 and 2, in two forms:

   - ``per-image``: what a plain torchvision recipe does, every epoch: open and decode each JPEG,
     then ``v2.Resize(224)``, ``v2.RandomRotation(10)``, ``v2.RandomHorizontalFlip()`` on that
     one image;
   - ``cached``: :class:`~hqnn_pl.datamodules.MedicalMNISTDataModule`: every image decoded once
     at setup into memory as 64x64 uint8, batches resized and augmented per image in one
     vectorised resampling, in the loader (``transform_on: loader``); on a GPU also
     ``transform_on: device`` (uint8 batches moved to the GPU and augmented there).

2. One HQNNParallel training step (forward, cross-entropy, backward, Adam step) at the same
   batch and image size, on the GPU when there is one, else on the CPU.

A pipeline faster than the model keeps it busy; a ratio below 1 means the model waits for data.
Pipelines are timed alone: while training on a CPU, loader workers and the model share the cores.

Without ``--data_dir`` it runs on generated fake Medical MNIST files (64x64 greyscale JPEGs in
the six class folders, ``--fake_per_class`` each), and says so.

Usage::

    python benchmarks/data_pipeline.py [--data_dir PATH] [--image_size 224] [--batch_size 64]
        [--batches 20] [--workers 0 1 2] [--fake_per_class 500]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from machine import describe_machine
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from hqnn_pl.datamodules import MedicalMNISTDataModule
from hqnn_pl.datamodules.datasets import list_images
from hqnn_pl.models import HQNNParallel


def write_fake_medical_mnist(root: Path, per_class: int, seed: int = 0) -> Path:
    """Six class folders of 64x64 greyscale JPEGs with smooth, scan-like content."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:64]
    for label, name in enumerate(MedicalMNISTDataModule.classes):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            cy, cx = rng.uniform(20, 44, 2)
            radius = rng.uniform(10, 24) + 2 * label
            disk = np.exp(-(((yy - cy) ** 2 + (xx - cx) ** 2) / radius**2))
            pixels = 200 * disk + rng.normal(0, 12, (64, 64))
            image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "L")
            image.save(folder / f"{i:06d}.jpeg", quality=90)
    return root


class PerImageDataset(Dataset):
    """The plain recipe: decode one JPEG per item and augment it alone with transforms.v2."""

    def __init__(self, paths: list[Path], labels: Tensor, size: int) -> None:
        self.paths = paths
        self.labels = labels
        self.transform = v2.Compose(
            [
                v2.Grayscale(num_output_channels=3),
                v2.Resize((size, size), antialias=True),
                v2.RandomRotation(10),
                v2.RandomHorizontalFlip(),
                v2.PILToTensor(),
                v2.ToDtype(torch.float32, scale=True),
            ]
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        with Image.open(self.paths[index]) as image:
            return self.transform(image.convert("L")), self.labels[index]


def loader_rate(
    loader: DataLoader,
    batches: int,
    device: torch.device,
    transform: Callable[[Tensor], Tensor] | None = None,
    warmup: int = 2,
) -> float:
    """Images per second of ``loader`` (optionally moved to ``device`` and transformed there)."""
    iterator = iter(loader)
    for _ in range(warmup):  # includes starting the workers
        next(iterator)
    count = 0
    start = time.perf_counter()
    for _ in range(batches):
        try:
            x, _ = next(iterator)
        except StopIteration:
            iterator = iter(loader)
            x, _ = next(iterator)
        if transform is not None:
            x = transform(x.to(device, non_blocking=True))
        count += len(x)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return count / (time.perf_counter() - start)


def model_rate(image_size: int, batch_size: int, device: torch.device, steps: int) -> float:
    """Images per second of HQNNParallel training steps: forward, loss, backward, Adam."""
    model = HQNNParallel(num_classes=6, in_channels=3, image_size=image_size).to(device)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(batch_size, 3, image_size, image_size, device=device)
    y = torch.randint(0, 6, (batch_size,), device=device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()

    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return steps * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data_dir", type=Path, default=None, help="real Medical MNIST folder")
    parser.add_argument("--image_size", type=int, default=224)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=20, help="timed batches per pipeline")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--model_steps", type=int, default=5, help="timed training steps")
    parser.add_argument("--fake_per_class", type=int, default=500)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"Machine: {describe_machine(device)}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.data_dir is None:
            data_dir = write_fake_medical_mnist(Path(tmp) / "medical-mnist", args.fake_per_class)
            n = 6 * args.fake_per_class
            print(
                f"Data: FAKE Medical-MNIST-format files (6 classes x {args.fake_per_class} "
                "64x64 greyscale JPEGs, generated in a temporary folder); pass --data_dir for "
                "the real data."
            )
        else:
            data_dir = args.data_dir
            print(f"Data: {data_dir}")
        dm = MedicalMNISTDataModule(
            data_dir=data_dir,
            image_size=args.image_size,
            batch_size=args.batch_size,
            transform_on="loader",
        )
        start = time.perf_counter()
        dm.setup("fit")
        seconds = time.perf_counter() - start
        n = len(dm.images)
        print(
            f"Setup (decode every image once, split): {n:,} images in {seconds:.2f} s "
            f"({n / seconds:,.0f} images/s; the real 58,954 would take about "
            f"{58954 / (n / seconds):.0f} s), {dm.images.numel() / 2**20:.0f} MiB in memory"
        )
        root = dm.dataset_root()
        paths = [p for name in dm.classes for p in list_images(root / name)]
        labels = torch.cat(
            [torch.full((len(list_images(root / c)),), i) for i, c in enumerate(dm.classes)]
        )
        print(
            f"\nTraining pipeline at {args.image_size} px with augmentation, batch "
            f"{args.batch_size}, {args.batches} timed batches:"
        )
        rows: list[tuple[str, int, float]] = []
        for workers in args.workers:
            per_image = DataLoader(
                PerImageDataset(paths, labels, args.image_size),
                batch_size=args.batch_size,
                shuffle=True,
                num_workers=workers,
                persistent_workers=workers > 0,
            )
            rate = loader_rate(per_image, args.batches, device)
            rows.append(("per-image (decode + v2 per image)", workers, rate))
            dm.num_workers = workers
            rate = loader_rate(dm.train_dataloader(), args.batches, device)
            rows.append(("cached, batch augment in loader", workers, rate))
            if device.type == "cuda":
                dm.transform_on = "device"
                rate = loader_rate(
                    dm.train_dataloader(),
                    args.batches,
                    device,
                    transform=dm.batch_transform(train=True),
                )
                rows.append(("cached, batch augment on GPU", workers, rate))
                dm.transform_on = "loader"
        model = model_rate(args.image_size, args.batch_size, device, args.model_steps)
        width = max(len(name) for name, _, _ in rows)
        print(f"  {'pipeline':<{width}}  workers  images/s  vs model")
        for name, workers, rate in rows:
            verdict = "ok" if rate >= model else "STARVES the model"
            print(
                f"  {name:<{width}}  {workers:>7}  {rate:>8,.0f}  {rate / model:>7.1f}x  {verdict}"
            )
        print(
            f"\nHQNNParallel training step (6 classes, 3x{args.image_size}x{args.image_size}, "
            f"batch {args.batch_size}, on {device.type}): {model:,.0f} images/s"
        )


if __name__ == "__main__":
    main()
