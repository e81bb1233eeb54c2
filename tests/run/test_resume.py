"""Runs that survive interruption: SIGKILL and Ctrl-C mid-epoch, bad resumes.

SIGTERM's checkpoint: tests/callbacks/test_exception_checkpoint.py; exact resumes (random
states): tests/callbacks/test_rng_state.py."""

from __future__ import annotations

import csv
import signal
from pathlib import Path

import pytest
import yaml

from hqnn_pl.cli import main
from hqnn_pl.errors import ConfigurationError
from hqnn_pl.models import CNN
from hqnn_pl.run.resume import check_checkpoint_fits
from tests.harness import (
    QUICKSTART,
    THROTTLE,
    TWO_EPOCHS,
    fit,
    load_checkpoint,
    start_cli,
    wait_for,
)

RUN = Path("runs/quickstart/version_0")


def metrics_rows(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open(newline="") as file:
        return list(csv.DictReader(file))


def val_epochs(run: Path) -> list[int]:
    return [int(row["epoch"]) for row in metrics_rows(run) if row.get("val/acc")]


def test_sigkill_mid_epoch_then_resume_completes_the_run(tmp_path: Path) -> None:
    process = start_cli("fit", "--config", QUICKSTART, *TWO_EPOCHS, *THROTTLE, cwd=tmp_path)
    wait_for(tmp_path / "marker", process)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=60) == -signal.SIGKILL
    run = tmp_path / RUN
    killed_at = load_checkpoint(run / "checkpoints/last.ckpt")
    assert (killed_at["epoch"], killed_at["global_step"]) == (0, 8)  # end of the first epoch
    assert not (run / "checkpoints/on_exception.ckpt").exists()  # SIGKILL leaves no time

    main(["fit", "--config", QUICKSTART, *TWO_EPOCHS, "--ckpt_path", "last"])
    # the saved config names no checkpoint: rerunning it starts a new run, never this one's
    assert yaml.safe_load((run / "config.yaml").read_text())["ckpt_path"] is None
    final = load_checkpoint(run / "checkpoints/last.ckpt")
    assert (final["epoch"], final["global_step"]) == (1, 16)
    assert sorted(p.name for p in (tmp_path / "runs/quickstart").iterdir()) == ["version_0"]
    assert val_epochs(run) == [0, 1]  # the metrics of epoch 0 were kept, none repeated
    assert any(row.get("test/acc") for row in metrics_rows(run))


def test_ctrl_c_prints_the_whole_resume_command_and_exits_130(tmp_path: Path) -> None:
    process = start_cli("fit", "--config", QUICKSTART, *TWO_EPOCHS, *THROTTLE, cwd=tmp_path)
    wait_for(tmp_path / "marker", process)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 130
    stderr = (tmp_path / "stderr.txt").read_text()
    assert "stopped by Ctrl-C (saved " in stderr
    assert f"Resume with: hqnn-pl fit --config {RUN / 'config.yaml'} --ckpt_path last" in stderr
    assert (tmp_path / RUN / "checkpoints/on_exception.ckpt").is_file()


def test_resume_with_another_model_config_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fit("--test_after_fit=false")
    run = tmp_path / RUN
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit) as failed:  # `last` never takes a run of another config
        fit("--ckpt_path=last", "--model.init_args.depth=2")
    assert failed.value.code == 2
    err = capsys.readouterr().err
    assert "model.init_args.depth: 3 there, 2 here" in err and "version_0" in err
    with pytest.raises(SystemExit) as failed:  # the run pinned by its config: its checkpoint
        fit("--ckpt_path=last", "--model.init_args.depth=2", config=str(run / "config.yaml"))
    assert failed.value.code == 2
    err = capsys.readouterr().err
    assert "depth: checkpoint 3, model 2" in err and "config.yaml" in err
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_a_checkpoint_of_another_model_class_is_refused(tmp_path: Path) -> None:
    fit("--test_after_fit=false")
    path = tmp_path / RUN / "checkpoints/last.ckpt"
    with pytest.raises(ConfigurationError, match=r"does not fit.*CNN.*network\.middle\.weights"):
        check_checkpoint_fits(CNN(10, 1, 16, conv_channels=[16, 32]), load_checkpoint(path), path)


def test_last_without_a_previous_run_and_missing_files_are_clear_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for ckpt, expected in (
        ("last", "no last.ckpt or on_exception.ckpt in runs/quickstart/*/checkpoints"),
        ("nowhere.ckpt", "--ckpt_path nowhere.ckpt: no such checkpoint file"),
    ):
        with pytest.raises(SystemExit) as failed:
            fit(f"--ckpt_path={ckpt}")
        assert failed.value.code == 2
        assert expected in capsys.readouterr().err


def test_checkpoint_loads_into_test_and_predict_on_both_backends(tmp_path: Path) -> None:
    fit("--test_after_fit=false")
    config = str(tmp_path / RUN / "config.yaml")
    last = str(tmp_path / RUN / "checkpoints/last.ckpt")
    losses = {}
    for version, backend in enumerate(("torch", "pennylane"), start=1):
        on_backend = f"--model.init_args.execution.backend={backend}"
        main(["test", "--config", config, "--ckpt_path", last, on_backend])
        run = tmp_path / f"runs/quickstart/version_{version}"
        assert f"backend: {backend}" in (run / "hparams.yaml").read_text()  # the flag was used
        rows = metrics_rows(run)
        losses[backend] = float(next(row["test/loss"] for row in rows if row.get("test/loss")))
        one_batch = ["--trainer.logger=false", "--trainer.limit_predict_batches=1"]
        main(["predict", "--config", config, "--ckpt_path", last, on_backend, *one_batch])
    assert losses["pennylane"] == pytest.approx(losses["torch"], rel=1e-4)
