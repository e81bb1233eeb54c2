"""The CLI harness shared by the tests: run ``hqnn-pl`` in-process and read what it left."""

from __future__ import annotations

import csv
import struct
import zipfile
from pathlib import Path

import pytest

from hqnn_pl.cli import main


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
