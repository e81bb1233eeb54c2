"""hqnn-pl-compare --train_sizes --tune --margin end to end on scikit-learn's digits."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
import yaml

from hqnn_pl.experiments.runner import is_finished, is_locked
from tests.conftest import REPO
from tests.experiments.helpers import CNN, HQNN, compare, write_config

TINY = ["--", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2"]
SPACE = "model.init_args.optimizer.init_args.lr: {low: 1e-3, high: 1e-1, log: true}\n"
LR = "model.init_args.optimizer.init_args.lr"


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.2)


def _args(*configs: str) -> list[str]:
    return ["--config", *configs, "--seeds", "2", "--parallel", "2", "--out", "out",
            "--train_sizes", "40", "80", "--tune", "2", "--search_space", "space.yaml",
            "--margin", "0.05", *TINY]  # fmt: skip


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("tuned")
    write_config(folder, "hqnn", HQNN.format(block="trained"))
    write_config(folder, "cnn", CNN)
    (folder / "space.yaml").write_text(SPACE)
    result = compare(*_args("hqnn.yaml", "cnn.yaml"), cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder, result.stdout


def _config(folder: Path) -> dict:
    return yaml.safe_load((folder / "config.yaml").read_text())


@pytest.mark.slow  # 8 tuning trials and 8 runs: a few minutes on 2 cores
def test_every_config_and_size_is_tuned_with_the_same_budget_on_its_own_seed(tuned) -> None:
    folder, stdout = tuned
    out = folder / "out"
    best = json.loads((out / "compare.json").read_text())["best"]
    assert set(best) == {f"{c}/n{n}" for c in ("hqnn", "cnn") for n in (40, 80)}
    storage = f"sqlite:///{out / 'tuning.db'}"
    for key, entry in best.items():
        label, size = key.split("/n")
        trials = optuna.load_study(study_name=f"out/{key}", storage=storage).get_trials()
        assert len(trials) == 2 and sum(entry["states"].values()) == 2  # the same budget
        complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        assert entry["value"] == max(t.value for t in complete)
        for number in (0, 1):
            config = _config(out / "tuning" / label / f"n{size}" / f"trial_{number}")
            assert config["seed_everything"] == 1000  # not an evaluation seed
            assert config["data"]["init_args"]["train_subset"] == int(size)
            assert config["data"]["init_args"]["train_subset_seed"] == 1000
            assert config["test_after_fit"] is False  # the test split is not touched
        for seed in (0, 1):  # the best value trains every seed of that config and size
            config = _config(out / "runs" / label / f"n{size}" / f"seed_{seed}")
            lr = config["model"]["init_args"]["optimizer"]["init_args"]["lr"]
            assert lr == pytest.approx(entry["params"][LR])
            assert config["data"]["init_args"]["train_subset_seed"] == seed
    assert "tuned hqnn/n40:" in stdout and "| hqnn | out/hqnn/n40 | lr=" in stdout


@pytest.mark.slow
def test_results_learning_curve_and_equivalence_per_size(tuned) -> None:
    folder, _ = tuned
    out = folder / "out"
    with (out / "results.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert {(r["config"], r["train_size"]) for r in rows} == {
        (c, n) for c in ("hqnn", "cnn") for n in ("40", "80")
    }
    with (out / "runs.csv").open() as file:
        runs = list(csv.DictReader(file))
    assert len(runs) == 8 and all(r["status"] == "finished" for r in runs)
    assert {r["train_size"] for r in runs} == {"40", "80"}
    text = (out / "results.md").read_text()
    assert (out / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert "| TOST p (+-0.05) |" in text and "Holm-corrected across sizes" in text
    verdicts = [line for line in text.splitlines() if "cnn vs hqnn (acc):" in line]
    assert len(verdicts) == 2
    assert all(
        any(w in v for w in ("equivalent within +-0.05", "different:", "inconclusive at n=2"))
        for v in verdicts
    )
    # The same images for every config at a size and seed: the same subset settings.
    for size in (40, 80):
        data = [_config(out / "runs" / c / f"n{size}" / "seed_1")["data"] for c in ("hqnn", "cnn")]
        assert data[0] == data[1]


@pytest.mark.slow
def test_rerun_resumes_and_other_settings_are_refused(tuned) -> None:
    folder, _ = tuned
    out = folder / "out"
    before = {p: p.stat().st_mtime_ns for p in out.glob("**/metrics.csv")}
    rerun = compare(*_args("hqnn.yaml", "cnn.yaml"), cwd=folder)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "8 of 8 runs finished before: skipped." in rerun.stdout
    assert not any(line.startswith("tuning ") for line in rerun.stdout.splitlines())  # no trial
    assert {p: p.stat().st_mtime_ns for p in before} == before
    changed = _args("hqnn.yaml", "cnn.yaml")
    changed[changed.index("--train_sizes") + 2] = "60"
    refused = compare(*changed, cwd=folder)
    assert refused.returncode == 2
    assert "its runs had --train_sizes 40 80, this command has 40 60" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def tune_one_study_in_two_processes(tmp_path: Path, storage: str) -> None:
    """Two hqnn-pl-compare processes tune one study in ``storage`` to one budget of 3 trials.

    Shared with tests/experiments/test_tuning_postgres.py (the same check against PostgreSQL).
    """
    write_config(tmp_path, "cnn", CNN)
    (tmp_path / "space.yaml").write_text(SPACE)
    args = ["--config", "cnn.yaml", "--seeds", "1", "--out", "out", "--tune", "3",
            "--search_space", "space.yaml", "--storage", storage, *TINY]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    tools = [
        subprocess.Popen([sys.executable, "-m", "hqnn_pl.experiments", *args], cwd=tmp_path,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outputs = [tool.communicate(timeout=1200) for tool in tools]
    for tool, (stdout, stderr) in zip(tools, outputs, strict=True):
        assert tool.returncode == 0, f"{stdout[-1500:]}\n{stderr[-1500:]}"
    trials = optuna.load_study(study_name="out/cnn", storage=storage).get_trials()
    budget = [t for t in trials if t.number < 3]
    assert len(budget) == 3 and all(t.state.is_finished() for t in budget)
    assert all(t.user_attrs.get("over_budget") for t in trials if t.number >= 3)
    owners = {t.user_attrs["owner"] for t in budget}
    assert len(owners) == 2  # both processes ran trials of the one study
    assert not (tmp_path / "out" / "tuning.db").exists()  # --storage, not the default file
    assert is_finished(tmp_path / "out" / "runs" / "cnn" / "seed_0")
    best = json.loads((tmp_path / "out" / "compare.json").read_text())["best"]["cnn"]
    assert best["states"] == {"COMPLETE": 3} or sum(best["states"].values()) == 3


@pytest.mark.slow  # two tools, three trials and a run: about a minute on 2 cores
def test_two_processes_tune_one_study_to_one_budget(tmp_path: Path) -> None:
    tune_one_study_in_two_processes(tmp_path, f"sqlite:///{tmp_path / 'shared.db'}")


@pytest.mark.slow  # a trial is killed half-way and continued: about two minutes on 2 cores
def test_a_killed_tuning_continues_its_trial_from_the_checkpoint(tmp_path: Path) -> None:
    write_config(tmp_path, "cnn", CNN)
    (tmp_path / "space.yaml").write_text(SPACE)
    args = ["--config", "cnn.yaml", "--seeds", "1", "--out", "out", "--tune", "2",
            "--search_space", "space.yaml", "--", "--trainer.max_epochs", "4",
            "--trainer.limit_train_batches", "2"]  # fmt: skip
    trial0 = tmp_path / "out" / "tuning" / "cnn" / "trial_0"
    tool = subprocess.Popen(
        [sys.executable, "-m", "hqnn_pl.experiments", *args],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"},
    )
    try:
        _wait(lambda: (trial0 / "checkpoints" / "last.ckpt").is_file(), 600, "trial 0's epoch")
        tool.kill()  # SIGKILL: the trial's process gets SIGTERM and checkpoints
        tool.wait(10)
    finally:
        if tool.poll() is None:
            tool.kill()
    _wait(lambda: not is_locked(trial0), 300, "the trial's process to stop")
    storage = f"sqlite:///{tmp_path / 'out' / 'tuning.db'}"
    study = optuna.load_study(study_name="out/cnn", storage=storage)
    assert study.trials[0].state == optuna.trial.TrialState.RUNNING
    params = dict(study.trials[0].params)
    rerun = compare(*args, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "tuning cnn trial 0:" in rerun.stdout  # the cut-off trial, continued
    attempts = json.loads((trial0 / "compare_run.json").read_text())["attempts"]
    assert attempts[-1]["resumed_from"] is not None and attempts[-1]["returncode"] == 0
    trials = optuna.load_study(study_name="out/cnn", storage=storage).trials
    assert len(trials) == 2 and all(t.state.is_finished() for t in trials)
    assert trials[0].params == params  # the same values, not a new draw
    assert is_finished(tmp_path / "out" / "runs" / "cnn" / "seed_0")


@pytest.mark.slow  # four trials of three epochs: about two minutes on 2 cores
def test_hopeless_trials_are_pruned_inside_their_run_and_told_so(tmp_path: Path) -> None:
    write_config(tmp_path, "cnn", CNN)
    (tmp_path / "space.yaml").write_text(f"{LR}: {{choices: [0.05, 1.0e-7]}}\n")
    # Tuning seed 2 draws 0.05 for trial 0 and 1e-7 for trial 1 (both random: 2 startup trials),
    # so trial 1 meets a finished, better trial at its second epoch.
    result = compare("--config", "cnn.yaml", "--seeds", "1", "--out", "out", "--tune", "4",
                     "--tune_seed", "2",
                     "--search_space", "space.yaml", "--", "--trainer.max_epochs", "3",
                     "--trainer.limit_train_batches", "4", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    storage = f"sqlite:///{tmp_path / 'out' / 'tuning.db'}"
    trials = optuna.load_study(study_name="out/cnn", storage=storage).trials
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, [(t.params, t.state, t.intermediate_values) for t in trials]
    for trial in pruned:
        assert trial.params[LR] == 1e-7
        epoch = trial.user_attrs["pruned_at_epoch"]
        with (tmp_path / "out" / "tuning" / "cnn" / f"trial_{trial.number}" / "metrics.csv").open(
        ) as file:  # fmt: skip
            epochs = {int(r["epoch"]) for r in csv.DictReader(file) if r.get("epoch")}
        assert max(epochs) == epoch < 2  # it stopped there instead of training on
    best = json.loads((tmp_path / "out" / "compare.json").read_text())["best"]["cnn"]
    assert best["params"][LR] == 0.05 and best["states"]["PRUNED"] == len(pruned)
    assert f"{len(pruned)} pruned" in (tmp_path / "out" / "results.md").read_text()
