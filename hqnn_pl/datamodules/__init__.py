"""LightningDataModules, one module per dataset."""

from hqnn_pl.datamodules.base import ImageDataModule
from hqnn_pl.datamodules.digits import DigitsDataModule
from hqnn_pl.datamodules.mnist import MNISTDataModule

__all__ = ["DigitsDataModule", "ImageDataModule", "MNISTDataModule"]
