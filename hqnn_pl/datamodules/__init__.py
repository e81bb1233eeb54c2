"""LightningDataModules, one module per dataset."""

from hqnn_pl.datamodules.base import BatchTransformDataModule, ImageDataModule
from hqnn_pl.datamodules.cifar10 import CIFAR10DataModule
from hqnn_pl.datamodules.digits import DigitsDataModule
from hqnn_pl.datamodules.fashion_mnist import FashionMNISTDataModule
from hqnn_pl.datamodules.image_folder import ImageFolderDataModule
from hqnn_pl.datamodules.medical_mnist import MedicalMNISTDataModule
from hqnn_pl.datamodules.mnist import MNISTDataModule

__all__ = [
    "BatchTransformDataModule",
    "CIFAR10DataModule",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "ImageDataModule",
    "ImageFolderDataModule",
    "MNISTDataModule",
    "MedicalMNISTDataModule",
]
