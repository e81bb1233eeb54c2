"""The CLI harness of the tests: run ``hqnn-pl`` in-process or as a child, read what it left."""

from __future__ import annotations

import csv
import os
import signal
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

from hqnn_pl.cli import main
from tests.conftest import CONFIGS, REPO

QUICKSTART = str(CONFIGS / "quickstart.yaml")

#: A tiny fit of the quickstart: one epoch of a few batches, no progress bar.
QUICK = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=3",
    "--trainer.limit_val_batches=1",
    "--trainer.limit_test_batches=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]

#: Two short epochs of eight batches of 16: long enough to be interrupted in the second one.
TWO_EPOCHS = [
    "--trainer.max_epochs=2",
    "--trainer.limit_train_batches=8",
    "--trainer.limit_val_batches=1",
    "--trainer.limit_test_batches=1",
    "--data.init_args.batch_size=16",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]
#: Slows training down and writes ./marker at batch 3 of epoch 1 (the second epoch).
THROTTLE = ["--trainer.callbacks+=tests.callbacks.helpers.Throttle"]


def fit(*args: str, config: str = QUICKSTART) -> None:
    """Run ``hqnn-pl fit --config <quickstart> <QUICK> <args>`` in this process."""
    main(["fit", "--config", config, *QUICK, *args])


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for ``python -m hqnn_pl`` subprocesses that can import ``tests``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def _default_sigint() -> None:
    """In the child: SIGINT's default action, whatever the test process inherited."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(*args: str, cwd: Path, **env: str) -> subprocess.Popen[str]:
    """Start ``python -m hqnn_pl <args>`` in ``cwd``; stdout and stderr go to files there.

    The child gets SIGINT's default action, so Python turns it into ``KeyboardInterrupt`` as at
    a terminal: a test suite started in the background by a non-interactive shell (``pytest
    &``, as some CI scripts do) inherits SIGINT *ignored*, and a Ctrl-C test would then see its
    fit finish with status 0.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "hqnn_pl", *args],
        cwd=cwd,
        env=subprocess_env(**env),
        stdout=(cwd / "stdout.txt").open("w"),
        stderr=(cwd / "stderr.txt").open("w"),
        text=True,
        preexec_fn=_default_sigint,
    )


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 120.0) -> None:
    """Wait until ``path`` exists, failing early if ``process`` ends first."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the process ended ({process.returncode}) before {path} existed")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)


def load_checkpoint(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)


def fails_with(capsys: pytest.CaptureFixture[str], code: int, *args: str) -> str:
    """Run the CLI, expect exit status ``code``, return stderr's one ``hqnn-pl: error`` line."""
    with pytest.raises(SystemExit) as failed:
        main(list(args))
    assert failed.value.code == code
    lines = [line for line in capsys.readouterr().err.splitlines() if "hqnn-pl: error" in line]
    assert len(lines) == 1, lines
    return lines[0]


def metrics_rows(run: Path) -> list[dict[str, str]]:
    """The rows of a run's ``metrics.csv``."""
    with (run / "metrics.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def epochs_with(run: Path, column: str) -> list[int]:
    """The epochs of the rows of ``metrics.csv`` that hold ``column`` (e.g. ``train/loss``)."""
    return [int(row["epoch"]) for row in metrics_rows(run) if (row.get(column) or "").strip()]


def flip_tensor_byte(checkpoint: Path) -> str:
    """Flip one byte in the middle of the largest tensor of a checkpoint, in place.

    Returns:
        The zip member that was changed.
    """
    with zipfile.ZipFile(checkpoint) as archive:
        member = max(
            (info for info in archive.infolist() if "/data/" in info.filename),
            key=lambda info: info.file_size,
        )
    data = bytearray(checkpoint.read_bytes())
    header = member.header_offset  # the local file header: 30 bytes, then name and extra field
    name_length, extra_length = struct.unpack("<HH", data[header + 26 : header + 30])
    start = header + 30 + name_length + extra_length
    data[start + member.file_size // 2] ^= 0xFF
    checkpoint.write_bytes(bytes(data))
    return member.filename


def only_run(root: Path = Path("runs")) -> Path:
    """The one run folder under ``root`` (the folder that holds ``metrics.csv``)."""
    runs = [path.parent for path in root.rglob("metrics.csv")]
    assert len(runs) == 1, runs
    return runs[0]


def assert_trained_and_tested(run: Path, steps: int, tested: bool = True) -> dict[str, float]:
    """Check what a finished run left: a loadable last.ckpt after ``steps`` steps and metrics.

    Returns:
        The test metrics (``test/acc`` ...), each checked to be a valid number.
    """
    from hqnn_pl.run.checkpoint_io import read_checkpoint

    assert read_checkpoint(run / "checkpoints" / "last.ckpt")["global_step"] == steps
    rows = metrics_rows(run)
    losses = [float(row["train/loss"]) for row in rows if (row.get("train/loss") or "").strip()]
    assert losses and all(loss == loss and 0 <= loss < 100 for loss in losses), losses
    test = {
        key: float(value)
        for row in rows
        for key, value in row.items()
        if key.startswith("test/") and (value or "").strip()
    }
    if tested:
        assert 0.0 <= test["test/acc"] <= 1.0 and 0.0 <= test["test/f1"] <= 1.0, test
    return test
