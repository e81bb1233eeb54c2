"""Every quantum model takes its execution (noise, shots, shot_gradients, ...) from the CLI."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from hqnn_pl.cli import main
from hqnn_pl.models import HQNNParallel
from hqnn_pl.models.base import RUNTIME_KEYS
from hqnn_pl.quantum.execution import Execution
from tests.conftest import CONFIGS

NOISE = "{depolarizing: 0.01, amplitude_damping: 0.002, readout: 0.02}"


def test_noisy_sampled_fit_runs_from_the_cli(tmp_path: Path) -> None:
    main(
        [
            "fit",
            "--config",
            str(CONFIGS / "quickstart.yaml"),
            "--trainer.max_epochs=1",
            "--trainer.limit_train_batches=2",
            "--trainer.limit_val_batches=1",
            "--trainer.limit_test_batches=1",
            "--model.init_args.execution.noise",
            NOISE,
            "--model.init_args.execution.shots",
            "50",
            "--model.init_args.execution.shot_gradients",
            "exact",  # parameter-shift is tested on the layers (a fit step here takes ~40 s)
        ]
    )
    run = tmp_path / "runs/quickstart/version_0"
    with (run / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    train = [row for row in rows if row.get("train/loss")]
    test = [row for row in rows if row.get("test/acc")]
    assert len(train) == 1 and len(test) == 1  # one epoch, then the test of its checkpoint
    assert 0.0 <= float(test[0]["test/acc"]) <= 1.0
    assert 0.0 < float(test[0]["test/loss"]) < 10.0  # ten classes: chance is ln 10 = 2.3
    report = json.loads((run / "execution.json").read_text())
    layer = report["layers"]["network.middle"]
    assert layer["execution"]["shots"] == 50 and layer["execution"]["noise"]["readout"] == 0.02
    assert layer["routes_taken"].get("density", 0) >= 2  # noise: the density-matrix route


def test_bad_noise_key_exits_2_listing_the_valid_keys(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "fit",
                "--config",
                str(CONFIGS / "quickstart.yaml"),
                "--model.init_args.execution.noise",
                "{depolarising: 0.01}",
            ]
        )
    assert exit_info.value.code == 2
    assert "valid keys: depolarizing, amplitude_damping, readout" in capsys.readouterr().err


def test_execution_is_the_runtime_setting_of_a_checkpoint() -> None:
    assert "execution" in RUNTIME_KEYS
    assert {f.name for f in dataclasses.fields(Execution)} >= {"shots", "noise", "route"}
    model = HQNNParallel(
        num_classes=10, in_channels=1, image_size=8, execution=Execution(noise={"readout": 0.1})
    )
    assert model.network.middle.noise.readout == 0.1


def test_execution_from_yaml_and_from_a_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = tmp_path / "execution.yaml"
    extra.write_text(
        "model:\n  init_args:\n    execution: {shots: 1000, noise: {depolarizing: 0.01}}\n"
    )
    args = ["fit", "--config", str(CONFIGS / "quickstart.yaml"), "--config", str(extra)]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--model.init_args.execution.method", "gatewise", "--print_config"])
    assert exit_info.value.code == 0
    execution = yaml.safe_load(capsys.readouterr().out)["model"]["init_args"]["execution"]
    assert execution["shots"] == 1000 and execution["noise"] == {"depolarizing": 0.01}
    assert execution["method"] == "gatewise" and execution["route"] == "auto"
