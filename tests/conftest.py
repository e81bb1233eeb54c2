"""Shared fixtures: every test runs in its own folder, so run folders never collide."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.data.idx import make_idx_dataset

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread per pytest-xdist worker (``-n auto``: a worker per core).

    Two workers with two threads each on two cores run compute-bound tests several times
    slower than one thread each; the CLI processes tests start inherit ``OMP_NUM_THREADS``.
    """
    del config
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _run_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def mnist_dir(tmp_path: Path) -> Path:
    """A data_dir holding a tiny fake MNIST in torchvision's layout (MNIST/raw/*-ubyte)."""
    make_idx_dataset(tmp_path / "data" / "MNIST" / "raw", n_train=60, n_test=20)
    return tmp_path / "data"
