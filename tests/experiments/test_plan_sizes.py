"""Runs, folders and the cluster plan of a comparison over training-set sizes (no training)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.experiments.cli import _runs
from hqnn_pl.experiments.cluster import write_plan
from hqnn_pl.experiments.plan import ConfigSpec, Manifest, fit_command

SPECS = [ConfigSpec("hqnn", "hqnn.yaml"), ConfigSpec("cnn", "cnn.yaml")]


def test_runs_per_size_have_pinned_folders_and_subset_arguments(tmp_path: Path) -> None:
    runs = _runs(SPECS, 2, tmp_path, None, [50, 100])
    assert len(runs) == 8
    assert [(r.train_size, r.seed, r.label) for r in runs[:4]] == [
        (50, 0, "hqnn"), (50, 0, "cnn"), (50, 1, "hqnn"), (50, 1, "cnn")
    ]  # fmt: skip
    run = runs[2]
    assert run.folder == tmp_path / "runs" / "hqnn" / "n50" / "seed_1"
    command = fit_command(SPECS[0], run, ["--trainer.max_epochs", "1"])
    assert "--data.init_args.train_subset 50 --data.init_args.train_subset_seed 1" in " ".join(
        command
    )
    assert '"save_dir": "' + str(run.folder.parent) + '"' in " ".join(command)
    assert _runs(SPECS, 2, tmp_path, None, None)[0].folder == tmp_path / "runs/hqnn/seed_0"


def test_only_picks_one_size_or_every_size_of_a_pair(tmp_path: Path) -> None:
    picked = _runs(SPECS, 2, tmp_path, ["cnn:1:100", "hqnn:0"], [50, 100])
    assert {(r.label, r.seed, r.train_size) for r in picked} == {
        ("cnn", 1, 100), ("hqnn", 0, 50), ("hqnn", 0, 100)
    }  # fmt: skip
    with pytest.raises(ConfigurationError, match=r"cnn:1:70.*SIZE in 50, 100"):
        _runs(SPECS, 2, tmp_path, ["cnn:1:70"], [50, 100])


def test_the_plan_repeats_sizes_and_tuning_on_every_line(tmp_path: Path) -> None:
    runs = _runs(SPECS, 1, tmp_path, None, [50, 100])
    options = ["--train_sizes", "50", "100", "--tune", "3", "--search_space", "s.yaml"]
    commands, sweep = write_plan(tmp_path, SPECS, runs, 1, [], 1, options)
    lines = commands.read_text().splitlines()
    keys = [re.search(r"--only (\S+)", line).group(1) for line in lines]
    assert keys == ["hqnn:0:50", "hqnn:0:100", "cnn:0:50", "cnn:0:100"]
    assert all("--train_sizes 50 100 --tune 3 --search_space s.yaml" in line for line in lines)
    assert yaml.safe_load(sweep.read_text())["parameters"]["only"]["values"] == keys
    fits = (tmp_path / "plan" / "fit_commands.txt").read_text()
    assert fits.startswith("# --tune:") and "train_subset 100" in fits


def test_other_sizes_or_tuning_in_the_same_out_are_refused(tmp_path: Path) -> None:
    first = Manifest({"a": {"digest": "x", "path": "a.yaml"}}, [], 2, train_sizes=[50, 100],
                     tuning={"trials": 3, "search_space": {"k": {"low": 0, "high": 1}},
                             "seed": 1000, "objective": "o", "storage": "sqlite:///a"})  # fmt: skip
    same = Manifest({"a": {"digest": "x", "path": "a.yaml"}}, [], 2, train_sizes=[50, 100],
                    tuning={**first.tuning, "storage": "postgresql://h/db"})  # fmt: skip
    first.check_matches(same, tmp_path)  # the storage may move
    other = Manifest({"a": {"digest": "x", "path": "a.yaml"}}, [], 2, train_sizes=[50],
                     tuning={**first.tuning, "trials": 4})  # fmt: skip
    with pytest.raises(ConfigurationError) as error:
        first.check_matches(other, tmp_path)
    assert "--train_sizes 50 100, this command has 50" in str(error.value)
    assert "tuned with --tune 3 over k (tuning seed 1000), this command asks for --tune 4" in str(
        error.value
    )
