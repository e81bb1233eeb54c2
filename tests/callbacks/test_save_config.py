"""RunConfigSaver: the resolved config as config.yaml in the run folder, pinned to that run.

Its W&B side (the full config in the W&B run's config) is checked with the other W&B records
in tests/test_wandb.py.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.harness import fit


def test_fit_writes_the_resolved_config_pinned_to_its_run(tmp_path: Path) -> None:
    fit("--test_after_fit=false", "--trainer.logger.init_args.version=mine",
        "--model.init_args.depth=2")  # fmt: skip
    run = tmp_path / "runs/quickstart/mine"
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["run_dir"] == str(run.absolute())  # the run folder, not trainer.log_dir
    assert saved["ckpt_path"] is None
    assert saved["trainer"]["logger"]["init_args"]["version"] is None  # run_dir pins the run
    # the whole resolved config, the overrides and the defaults the quickstart left out
    assert saved["model"]["class_path"] == "hqnn_pl.models.HQNNParallel"
    assert saved["model"]["init_args"]["depth"] == 2
    assert saved["trainer"]["max_epochs"] == 1
    assert saved["seed_everything"] == 42
    assert not (tmp_path / "runs/quickstart/config.yaml").exists()
    assert not (tmp_path / "config.yaml").exists()
