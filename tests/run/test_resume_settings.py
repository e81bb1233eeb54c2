"""Resumes train with what their run records, and continue the right folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from hqnn_pl.cli import main
from tests.harness import (
    QUICK,
    epochs_with,
    fails_with,
    fit,
    load_checkpoint,
    metrics_rows,
)

RUNS = Path("runs/quickstart")
RUN = RUNS / "version_0"
LR = "--model.init_args.optimizer.init_args.lr"


@pytest.mark.parametrize(
    ("override", "named"),
    [
        (f"{LR}=0.1", "model.init_args.optimizer.init_args.lr: 0.003 there, 0.1 here"),
        ("--data.init_args.batch_size=8", "data.init_args.batch_size: 32 there, 8 here"),
        ("--model.init_args.depth=2", "depth: checkpoint 3, model 2"),
        ("--data.init_args.val_fraction=0.2", "data.init_args.val_fraction"),
        ("--seed_everything=7", "seed_everything: 42 there, 7 here"),
    ],
)
def test_a_resume_that_changes_what_it_trains_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str, named: str
) -> None:
    fit("--test_after_fit=false")
    before = (RUN / "config.yaml").read_text()
    line = fails_with(
        capsys, 2, "fit", "--config", str(RUN / "config.yaml"), *QUICK, "--ckpt_path=last",
        "--trainer.max_epochs=2", override,
    )  # fmt: skip
    assert named in line and ("other settings" in line or "different model" in line)
    assert (RUN / "config.yaml").read_text() == before  # nothing recorded
    assert load_checkpoint(RUN / "checkpoints/last.ckpt")["global_step"] == 3


def test_a_resume_may_train_longer(tmp_path: Path) -> None:
    fit("--test_after_fit=false")
    main(["fit", "--config", str(RUN / "config.yaml"), *QUICK, "--ckpt_path=last",
          "--trainer.max_epochs=2", "--test_after_fit=false"])  # fmt: skip
    assert load_checkpoint(RUN / "checkpoints/last.ckpt")["global_step"] == 6


def test_a_resumed_runs_config_starts_a_new_run(tmp_path: Path) -> None:
    fit("--test_after_fit=false")
    config = str(RUN / "config.yaml")
    main(["fit", "--config", config, *QUICK, "--ckpt_path=last", "--trainer.max_epochs=2",
          "--test_after_fit=false"])  # fmt: skip
    assert yaml.safe_load((RUN / "config.yaml").read_text())["ckpt_path"] is None
    main(["fit", "--config", config, *QUICK, "--test_after_fit=false"])
    new = RUNS / "version_1"
    assert load_checkpoint(new / "checkpoints/last.ckpt")["global_step"] == 3  # from scratch
    assert epochs_with(new, "train/loss") == [0]


def test_a_copied_run_folder_resumes_the_copy(tmp_path: Path) -> None:
    fit("--test_after_fit=false")
    copy = tmp_path / "copy/version_0"
    shutil.copytree(RUN, copy)
    main(["fit", "--config", str(copy / "config.yaml"), *QUICK, "--ckpt_path=last",
          "--trainer.max_epochs=2", "--test_after_fit=false"])  # fmt: skip
    assert load_checkpoint(copy / "checkpoints/last.ckpt")["global_step"] == 6
    assert load_checkpoint(RUN / "checkpoints/last.ckpt")["global_step"] == 3  # untouched
    assert epochs_with(copy, "train/loss") == [0, 1]
    assert epochs_with(RUN, "train/loss") == [0]


def test_leftovers_of_a_killed_run_are_removed_on_resume(tmp_path: Path) -> None:
    fit("--test_after_fit=false")
    checkpoints = RUN / "checkpoints"
    partial = checkpoints / ".last.ckpt.999999.partial"
    partial.write_bytes(b"half a checkpoint")
    (best,) = checkpoints.glob("best-*.ckpt")
    orphan = checkpoints / "best-epoch=1-val_acc=0.9999.ckpt"  # written after last.ckpt
    shutil.copy(best, orphan)
    main(["fit", "--config", str(RUN / "config.yaml"), *QUICK, "--ckpt_path=last",
          "--trainer.max_epochs=2", "--test_after_fit=false"])  # fmt: skip
    assert not partial.exists() and not orphan.exists()
    assert len(list(checkpoints.glob("best-*.ckpt"))) == 1


def test_the_last_checkpoint_records_the_best_of_its_own_epoch(tmp_path: Path) -> None:
    fit("--test_after_fit=false")
    state = load_checkpoint(RUN / "checkpoints/last.ckpt")["callbacks"]
    (best_state,) = [v for k, v in state.items() if "'monitor': 'val/acc'" in k]
    (best,) = (RUN / "checkpoints").glob("best-*.ckpt")
    assert Path(best_state["best_model_path"]).name == best.name
    assert metrics_rows(RUN)
