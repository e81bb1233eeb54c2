"""Runs that never report a wrong result: the right run resumed, one process per run folder,
broken checkpoints and bad settings are one-line errors.

NaN losses and weights stopping a run: tests/callbacks/test_finite_loss.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from hqnn_pl.cli import main
from hqnn_pl.run.checkpoint_io import AtomicCheckpointIO
from hqnn_pl.run.lock import RunFolderLock
from tests.harness import QUICK, QUICKSTART, fails_with, fit, load_checkpoint, subprocess_env

RUNS = Path("runs/quickstart")
LR = "--model.init_args.optimizer.init_args.lr"


# ---------------------------------------------------------------- the right run is resumed


def test_a_saved_config_resumes_its_own_run_not_the_newest(tmp_path: Path) -> None:
    fit("--test_after_fit=false")  # version_0, the run to resume
    fit("--test_after_fit=false", f"{LR}=0.01")  # version_1, newer, another experiment
    other = (RUNS / "version_1/config.yaml").read_text()
    saved = yaml.safe_load((RUNS / "version_0/config.yaml").read_text())
    assert saved["run_dir"] == str((RUNS / "version_0").absolute())
    assert saved["trainer"]["logger"]["init_args"]["version"] is None  # run_dir pins the run
    # a saved config without --ckpt_path starts a new run of the same experiment
    main(["fit", "--config", str(RUNS / "version_1/config.yaml"), "--test_after_fit=false"])
    assert load_checkpoint(RUNS / "version_2/checkpoints/last.ckpt")["global_step"] == 3
    config = str(RUNS / "version_0/config.yaml")
    main(["fit", "--config", config, "--ckpt_path", "last", "--trainer.max_epochs=2"])
    assert load_checkpoint(RUNS / "version_0/checkpoints/last.ckpt")["global_step"] == 6
    assert load_checkpoint(RUNS / "version_1/checkpoints/last.ckpt")["global_step"] == 3
    assert (RUNS / "version_1/config.yaml").read_text() == other
    assert sorted(p.name for p in RUNS.iterdir() if p.is_dir()) == [
        "version_0", "version_1", "version_2"
    ]  # fmt: skip


def test_last_never_takes_a_run_of_another_experiment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fit("--test_after_fit=false", f"{LR}=0.01")
    line = fails_with(capsys, 2, "fit", "--config", QUICKSTART, *QUICK, "--ckpt_path=last")
    assert "version_0" in line and "lr: 0.01 there, 0.003 here" in line
    fit("--test_after_fit=false")  # version_1: this config's own run is found among others
    main(["fit", "--config", QUICKSTART, *QUICK, "--ckpt_path=last", "--trainer.max_epochs=2"])
    assert load_checkpoint(RUNS / "version_1/checkpoints/last.ckpt")["global_step"] == 6
    assert load_checkpoint(RUNS / "version_0/checkpoints/last.ckpt")["global_step"] == 3


# ---------------------------------------------------------------- one process per run folder


def test_a_second_process_in_a_run_folder_is_refused_and_sigkill_leaves_no_lock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fit("--test_after_fit=false")
    run = RUNS / "version_0"
    holder = subprocess.Popen(
        [
            sys.executable, "-c",
            "import sys, time; from pathlib import Path; from hqnn_pl.run.lock import "
            "RunFolderLock; RunFolderLock(Path(sys.argv[1])).acquire(); "
            "Path('locked').touch(); time.sleep(120)",
            str(run),
        ],
        env=subprocess_env(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not Path("locked").exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        before = (run / "metrics.csv").read_bytes()
        config = str(run / "config.yaml")
        line = fails_with(capsys, 2, "fit", "--config", config, "--ckpt_path=last")
        assert str(run) in line and f"process {holder.pid}" in line
        assert (run / "metrics.csv").read_bytes() == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    main(["fit", "--config", config, "--ckpt_path=last", "--trainer.max_epochs=2"])
    assert load_checkpoint(run / "checkpoints/last.ckpt")["global_step"] == 6


def test_the_lock_is_exclusive_within_a_process_too(tmp_path: Path) -> None:
    first = RunFolderLock(tmp_path / "run")
    first.acquire()
    with pytest.raises(ValueError, match=rf"in use by process {os.getpid()}"):
        RunFolderLock(tmp_path / "run").acquire()
    first.release()
    RunFolderLock(tmp_path / "run").acquire()


def test_evaluating_into_an_existing_run_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fit("--test_after_fit=false")
    run = RUNS / "version_0"
    before = (run / "metrics.csv").read_bytes()
    line = fails_with(
        capsys, 2, "test", "--config", str(run / "config.yaml"), "--ckpt_path=last",
        "--trainer.logger.init_args.version=version_0",
    )  # fmt: skip
    assert "would overwrite" in line and "metrics.csv" in line
    assert (run / "metrics.csv").read_bytes() == before


# ---------------------------------------------------------------- broken checkpoints


def test_a_truncated_checkpoint_is_named_and_last_falls_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fit("--test_after_fit=false")
    checkpoints = RUNS / "version_0/checkpoints"
    last = checkpoints / "last.ckpt"
    last.write_bytes(last.read_bytes()[:5000])
    line = fails_with(capsys, 2, "test", "--config", QUICKSTART, *QUICK, f"--ckpt_path={last}")
    assert str(last) in line and "damaged or truncated" in line
    with pytest.warns(UserWarning, match=r"Skipped unreadable checkpoints.*Using .*best-epoch=0"):
        main(["test", "--config", QUICKSTART, *QUICK, "--ckpt_path=last"])


def test_checkpoints_are_written_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}}, path)

    def crash(obj: object, file: object) -> None:
        file.write(b"half a checkpoint")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}}, path)
    assert torch.equal(torch.load(path, weights_only=True)["state_dict"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no partial file left


# ---------------------------------------------------------------- settings and folders


def test_default_root_dir_decides_where_runs_go(tmp_path: Path) -> None:
    fit("--test_after_fit=false", "--trainer.default_root_dir=elsewhere")
    assert (tmp_path / "elsewhere/runs/quickstart/version_0/checkpoints/last.ckpt").is_file()
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([f"{LR}=-0.1"], "Invalid learning rate: -0.1"),
        (["--threads=-2"], "--threads -2"),
        (["--model.init_args.n_qubits=0"], "n_qubits must be a positive integer, got 0"),
        (["--model.init_args.n_qubit=4"], "takes no argument 'n_qubit'; did you mean n_qubits?"),
    ],
)
def test_bad_settings_are_one_line_errors_that_leave_no_run_folder(
    args: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = fails_with(capsys, 2, "fit", "--config", QUICKSTART, *QUICK, *args)
    assert expected in line
    assert not list(tmp_path.glob("runs/quickstart/version_*"))


def test_an_unwritable_run_folder_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("blocked").write_text("a file where the runs folder should be")
    save_dir = "--trainer.logger.init_args.save_dir=blocked/runs"
    line = fails_with(capsys, 2, "fit", "--config", QUICKSTART, *QUICK, save_dir)
    assert "Cannot write the run folder blocked/runs/quickstart/version_0" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_runs_folder_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("runs").mkdir()
    Path("runs").chmod(0o555)
    line = fails_with(capsys, 2, "fit", "--config", QUICKSTART, *QUICK)
    assert "Cannot write the run folder" in line


def test_threads_sets_torch_threads(tmp_path: Path) -> None:
    before = torch.get_num_threads()
    try:
        fit("--test_after_fit=false", "--threads=1")
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
