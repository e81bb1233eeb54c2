"""Fixtures of the datamodule tests: fake datasets in their published layouts, no network."""

from __future__ import annotations

from pathlib import Path

import pytest

from hqnn_pl.datamodules import MedicalMNISTDataModule
from tests.data.cifar import make_cifar10_dataset
from tests.data.image_folder import make_image_folder, make_medical_mnist, seed_kagglehub_dataset


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every HTTP(S) request fail at once, as on a machine without network.

    requests (used by kagglehub) and urllib (used by torchvision) honour these proxies; port 9
    on localhost refuses connections.
    """
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def kagglehub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty kagglehub cache (KAGGLEHUB_CACHE) and no Kaggle credentials."""
    cache = tmp_path / "kagglehub"
    cache.mkdir()
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(cache))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle-config"))
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return cache


@pytest.fixture
def seeded_kagglehub_cache(kagglehub_cache: Path) -> Path:
    """A kagglehub cache holding the pinned Medical MNIST version: 12 fake images per class."""
    seed_kagglehub_dataset(
        kagglehub_cache,
        MedicalMNISTDataModule.handle,
        MedicalMNISTDataModule.default_version,
        lambda folder: make_medical_mnist(folder, per_class=12),
    )
    return kagglehub_cache


@pytest.fixture
def medical_dir(tmp_path: Path) -> Path:
    """A fake Medical MNIST as the Kaggle zip unpacks: six class folders of 64 px JPEGs."""
    return make_medical_mnist(tmp_path / "medical-mnist", per_class=10)


@pytest.fixture
def cifar_dir(tmp_path: Path) -> Path:
    """A data_dir holding a tiny fake cifar-10-batches-py (60 train, 20 test images)."""
    make_cifar10_dataset(tmp_path / "data", n_per_batch=12, n_test=20)
    return tmp_path / "data"


@pytest.fixture
def cars_dir(tmp_path: Path) -> Path:
    """A class-per-folder tree of colour JPEGs of several sizes, like exported car datasets."""
    root = tmp_path / "cars"
    make_image_folder(root, {"audi_a4": 10, "bmw_x5": 20, "fiat_500": 15}, size=(80, 60))
    make_image_folder(root, {"ford_ka": 5}, size=48, suffix=".png", seed=1)
    (root / "audi_a4" / "notes.txt").write_text("not an image")
    return root
