"""The speed scripts still run end to end (slow: run with `pytest -m slow`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_quantum_engine_benchmark_prints_every_ratio() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "quantum_engine.py"), "--quick"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    # [1] and [2] run twice (default threads and 1 thread) unless torch already uses 1 thread.
    assert out.count("ratio") == (7 if "[1 torch thread]" in out.split("[2]")[0] else 9)
    assert out.count("[1 torch thread]") >= 2
    assert "HQNNParallel / CNN" in out and "HQNN-Quanv / CNN4 epoch" in out
    assert "noisy HQNN-Quanv / CNN4 epoch" in out


@pytest.mark.slow
def test_data_pipeline_benchmark_compares_loader_and_model() -> None:
    out = subprocess.run(
        [
            sys.executable, str(REPO / "benchmarks" / "data_pipeline.py"),
            "--batches", "2", "--workers", "0", "--model_steps", "1", "--fake_per_class", "20",
            "--batch_size", "8",
        ],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "images/s" in out and "HQNNParallel training step" in out


@pytest.mark.slow
def test_threads_benchmark_compares_quiet_and_busy() -> None:
    out = subprocess.run(
        [
            sys.executable, str(REPO / "benchmarks" / "threads.py"), "--threads", "1",
            "--repeats", "1", "--epochs", "1", "--layer_repeats", "3",
        ],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "torch threads" in out and out.count("busy/quiet") == 2


@pytest.mark.slow
def test_methods_benchmark_prints_a_row_per_qubit_count() -> None:
    out = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "methods.py"), "--qubits", "2", "6", "9",
         "--repeats", "1", "--batch", "8"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = [line for line in out.splitlines() if line.startswith(("| 2 |", "| 6 |", "| 9 |"))]
    assert len(rows) == 3 and rows[0].count("|") == 6 and "HQNN-Parallel's layer" in out
    assert rows[1].split("|")[3].strip() != "-"  # 6 qubits: host build against plain autograd
    assert rows[2].split("|")[3].strip() == "-"  # 9 qubits: dense has one variant only
