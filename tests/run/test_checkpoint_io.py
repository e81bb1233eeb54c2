"""Checkpoints: a damaged file is refused by every command and tool, in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from hqnn_pl.analysis.cli import main as diagnose
from hqnn_pl.errors import ConfigurationError
from hqnn_pl.experiments.robustness import main as robustness
from hqnn_pl.run.checkpoint_io import verify_checkpoint
from tests.harness import QUICK, QUICKSTART, fails_with, fit, flip_tensor_byte

RUN = Path("runs/quickstart/version_0")


def test_a_flipped_byte_inside_a_tensor_is_found(tmp_path: Path) -> None:
    path = tmp_path / "weights.ckpt"
    torch.save({"state_dict": {"w": torch.randn(64, 64)}}, path)
    verify_checkpoint(path)  # intact: no error
    member = flip_tensor_byte(path)
    assert torch.load(path, weights_only=False)["state_dict"]["w"].shape == (64, 64)  # torch: fine
    with pytest.raises(ConfigurationError, match=f"{member} fails its CRC-32 check"):
        verify_checkpoint(path)


def test_a_truncated_or_foreign_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "weights.ckpt"
    torch.save({"state_dict": {"w": torch.randn(64, 64)}}, path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ConfigurationError, match="damaged or truncated"):
        verify_checkpoint(path)


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    """A trained quickstart run whose last.ckpt has one flipped byte inside a tensor."""
    fit("--test_after_fit=false")
    path = tmp_path / "damaged.ckpt"
    shutil.copy(RUN / "checkpoints/last.ckpt", path)
    flip_tensor_byte(path)
    return path


def test_every_command_refuses_a_damaged_checkpoint(
    damaged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for subcommand in ("test", "validate", "predict", "fit"):
        line = fails_with(
            capsys, 2, subcommand, "--config", QUICKSTART, *QUICK, f"--ckpt_path={damaged}"
        )
        assert f"The checkpoint {damaged} is damaged" in line, (subcommand, line)
    with pytest.raises(SystemExit) as failed:
        diagnose(["--config", QUICKSTART, "--ckpt_path", str(damaged), "--out", "diag",
                  "--only", "hardware_cost"])  # fmt: skip
    assert failed.value.code == 2
    assert "is damaged" in capsys.readouterr().err
    with pytest.raises(SystemExit) as failed:
        robustness(["--config", QUICKSTART, "--ckpt_path", str(damaged), "--out", "rob"])
    assert failed.value.code == 2
    assert "is damaged" in capsys.readouterr().err


def test_last_skips_a_damaged_last_ckpt_for_the_newest_intact_one(damaged: Path) -> None:
    shutil.copy(damaged, RUN / "checkpoints/last.ckpt")
    from hqnn_pl.cli import main

    with pytest.warns(UserWarning, match=r"Skipped unreadable checkpoints.*last.ckpt is damaged"):
        main(["test", "--config", str(RUN / "config.yaml"), *QUICK, "--ckpt_path", "last"])
