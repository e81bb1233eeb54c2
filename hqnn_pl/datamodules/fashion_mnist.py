"""Fashion-MNIST: 70,000 28x28 greyscale images of clothing in 10 classes, as IDX files."""

from __future__ import annotations

from pathlib import Path

from torchvision import datasets

from hqnn_pl.datamodules.idx import locate_idx_files
from hqnn_pl.datamodules.mnist import IDX_FILES, MNISTDataModule

#: Where Debian's ``dataset-fashion-mnist`` package installs the four ``.gz`` IDX files.
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST (Xiao, Rasul and Vollgraf 2017), 60,000 train and 10,000 test images.

    The files have MNIST's names and format, so everything works as for
    :class:`~hqnn_pl.datamodules.MNISTDataModule`: the four IDX files (plain or ``.gz``) are read
    from ``data_dir/FashionMNIST/raw`` (where torchvision downloads them),
    ``data_dir/FashionMNIST``, ``data_dir/raw`` or ``data_dir`` itself, so Debian's
    ``dataset-fashion-mnist`` package works offline with
    ``data_dir: /usr/share/datasets/fashion-mnist``.

    Args:
        data_dir: Folder holding (or receiving) the data, e.g.
            ``/usr/share/datasets/fashion-mnist``.
        download: Download the files with torchvision when they are missing.
        image_size: Side of the images fed to the model, in pixels.
        normalize: Standardise with the dataset's mean and std; ``False`` keeps [0, 1] pixels.
        train_size: Use a seeded random subset of this many training images (before the
            validation split); ``None`` uses all.
        test_size: Use a seeded random subset of this many test images; ``None`` uses all.
        **kwargs: Batching, loading, the validation split, the seed and the training subset
            (see :class:`~hqnn_pl.datamodules.base.ImageDataModule`).
    """

    folder = "FashionMNIST"
    torchvision_dataset = datasets.FashionMNIST
    #: Per-pixel mean and std of the training images in [0, 1].
    mean, std = 0.2860, 0.3530
    classes = [
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ]

    def _local_copy_hint(self) -> str:
        if self.data_dir != DEBIAN_DIR and locate_idx_files(
            DEBIAN_DIR, self.folder, list(IDX_FILES.values())
        ):
            return f" This machine has Debian's copy: --data.init_args.data_dir {DEBIAN_DIR}."
        return ""
