"""Shared fixtures: every test runs in its own folder, so run folders never collide."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.idx import make_idx_dataset

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


@pytest.fixture(autouse=True)
def _run_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Path:
    """A data_dir holding a tiny fake MNIST in torchvision's layout (MNIST/raw/*-ubyte)."""
    make_idx_dataset(tmp_path / "data" / "MNIST" / "raw", n_train=60, n_test=20)
    return tmp_path / "data"
