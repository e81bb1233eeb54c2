"""ExceptionCheckpoint: on_exception.ckpt when a fit stops on an exception, SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from hqnn_pl.callbacks import ExceptionCheckpoint
from hqnn_pl.cli import main
from hqnn_pl.errors import ConfigurationError
from tests.harness import (
    QUICKSTART,
    THROTTLE,
    TWO_EPOCHS,
    epochs_with,
    fit,
    load_checkpoint,
    start_cli,
    wait_for,
)

RUN = Path("runs/quickstart/version_0")


def test_sigterm_saves_a_resumable_checkpoint_and_exits_143(tmp_path: Path) -> None:
    process = start_cli("fit", "--config", QUICKSTART, *TWO_EPOCHS, *THROTTLE, cwd=tmp_path)
    wait_for(tmp_path / "marker", process)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 143
    stderr = (tmp_path / "stderr.txt").read_text()
    assert "stopped by SIGTERM" in stderr and "--ckpt_path last" in stderr
    checkpoints = tmp_path / RUN / "checkpoints"
    interrupted = load_checkpoint(checkpoints / "on_exception.ckpt")
    assert interrupted["global_step"] > load_checkpoint(checkpoints / "last.ckpt")["global_step"]

    main(["fit", "--config", str(tmp_path / RUN / "config.yaml"), "--ckpt_path", "last"])
    final = load_checkpoint(checkpoints / "last.ckpt")
    assert final["epoch"] == 1 and final["global_step"] == 16
    assert not (checkpoints / "on_exception.ckpt").exists()  # removed once the fit completed
    assert epochs_with(tmp_path / RUN, "val/acc") == [0, 1]


def test_an_exception_mid_epoch_saves_the_state_of_its_step(tmp_path: Path) -> None:
    """A probe raises at batch 1 of epoch 1: the checkpoint holds step 4, past last.ckpt's 3."""
    with pytest.raises(RuntimeError, match="probe failure"):
        fit("--trainer.max_epochs=2", "--trainer.callbacks+=tests.callbacks.helpers.RaiseAt")
    checkpoints = RUN / "checkpoints"
    interrupted = load_checkpoint(checkpoints / "on_exception.ckpt")
    assert (interrupted["epoch"], interrupted["global_step"]) == (1, 4)
    assert load_checkpoint(checkpoints / "last.ckpt")["global_step"] == 3


def test_a_failure_before_any_step_saves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="probe failure"):
        fit("--trainer.callbacks+=tests.callbacks.helpers.RaiseAt",
            "--trainer.callbacks.epoch=0", "--trainer.callbacks.batch=0")  # fmt: skip
    assert not list(RUN.rglob("*.ckpt"))


def test_an_empty_filename_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="needs a filename"):
        ExceptionCheckpoint(filename="")
    assert ExceptionCheckpoint(dirpath="here").ckpt_path == "here/on_exception.ckpt"
