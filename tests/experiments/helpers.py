"""Small configs and a runner for hqnn-pl-compare tests (scikit-learn's digits, 8 px)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

DIGITS_DATA = """\
data:
  class_path: DigitsDataModule
  init_args:
    image_size: 8
    batch_size: 64
"""

HQNN = """\
trainer:
  accelerator: cpu
  max_epochs: 2
  log_every_n_steps: 5
model:
  class_path: HQNNParallel
  init_args:
    conv_channels: [4]
    n_features: 8
    n_qubits: 4
    depth: 1
    quantum_block: {block}
    optimizer:
      class_path: torch.optim.Adam
      init_args:
        lr: 0.01
"""

CNN = """\
trainer:
  accelerator: cpu
  max_epochs: 2
  log_every_n_steps: 5
model:
  class_path: CNN
  init_args:
    conv_channels: [4]
    n_features: 8
    optimizer:
      class_path: torch.optim.Adam
      init_args:
        lr: 0.01
"""


def write_config(folder: Path, name: str, body: str, data: str = DIGITS_DATA) -> str:
    """Write ``<folder>/<name>.yaml`` and return its path."""
    path = folder / f"{name}.yaml"
    path.write_text(body + data)
    return str(path)


def compare(*args: str, cwd: Path, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """Run ``python -m hqnn_pl.experiments`` (hqnn-pl-compare) in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "hqnn_pl.experiments", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
    )
