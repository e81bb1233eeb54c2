"""The Tuner's bookkeeping on a SQLite study, without training."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.experiments.plan import ConfigSpec
from hqnn_pl.experiments.runner import Runner
from hqnn_pl.experiments.search_space import Parameter
from hqnn_pl.experiments.tuning import (
    Tuner,
    TuningError,
    TuningSettings,
    best_val_acc,
    redact,
    study_name,
)

LR = "model.init_args.optimizer.init_args.lr"
SPECS = [ConfigSpec("cnn", "cnn.yaml", {"model": {}})]


def _tuner(out: Path, trials: int = 2, low: float = 1e-3) -> Tuner:
    space = {LR: Parameter(LR, "float", low, 1e-1, log=True)}
    settings = TuningSettings(trials, space, 1000, f"sqlite:///{out / 'tuning.db'}")
    return Tuner(settings, SPECS, [], Runner(SPECS, [], 1, 1), out)


def test_a_study_tuned_with_other_settings_is_refused(tmp_path: Path) -> None:
    _tuner(tmp_path).prepare([("cnn", 50)])
    _tuner(tmp_path).prepare([("cnn", 50)])  # the same settings continue it
    with pytest.raises(ConfigurationError, match=r"study .*/cnn/n50 .* \(search_space differ"):
        _tuner(tmp_path, low=1e-4).prepare([("cnn", 50)])
    with pytest.raises(ConfigurationError, match="trials"):
        _tuner(tmp_path, trials=3).prepare([("cnn", 50)])


def test_the_best_trial_of_the_budget_and_its_counts(tmp_path: Path) -> None:
    tuner = _tuner(tmp_path, trials=3)
    tuner.prepare([("cnn", None)])
    study = optuna.load_study(study_name=study_name(tmp_path, "cnn", None), storage=tuner.storage)
    for value in (0.5, 0.7):
        trial = study.ask({LR: optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)})
        study.tell(trial, value)
    study.tell(study.ask(), state=optuna.trial.TrialState.PRUNED)
    over = study.ask()  # numbered past the budget: never counted
    study.tell(over, 0.99)
    best = tuner._best(study, "cnn", None)
    assert best["value"] == 0.7 and best["trial"] == 1 and best["budget"] == 3
    assert best["states"] == {"COMPLETE": 2, "PRUNED": 1}
    assert set(best["params"]) == {LR}


def test_a_study_without_a_completed_trial_is_an_error(tmp_path: Path) -> None:
    tuner = _tuner(tmp_path)
    tuner.prepare([("cnn", None)])
    study = optuna.load_study(study_name=study_name(tmp_path, "cnn", None), storage=tuner.storage)
    for _ in range(2):
        study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    with pytest.raises(TuningError, match=r"none of its 2 trials completed \({'FAIL': 2}\)"):
        tuner._best(study, "cnn", None)


def test_objective_is_the_best_epoch_and_urls_lose_their_password(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_text("epoch,val/acc,train/loss\n0,0.4,\n1,0.6,\n2,0.5,\n,,1\n")
    assert best_val_acc(tmp_path) == 0.6
    assert best_val_acc(tmp_path / "none") is None
    assert redact("postgresql://me:secret@db/hqnn") == "postgresql://me:***@db/hqnn"
    settings = _tuner(tmp_path).settings
    settings.storage = "postgresql://me:secret@db/hqnn"
    assert "secret" not in json.dumps(settings.manifest_entry())


def test_each_trial_draws_with_its_own_seed_repeatably(tmp_path: Path) -> None:
    settings = _tuner(tmp_path).settings

    def draw() -> list[float]:
        study = optuna.create_study(direction="maximize")
        first, second = study.ask(), study.ask()  # two processes asking before either draws
        values = []
        for trial in (first, second):
            study.sampler = settings.sampler(trial.number)
            values.append(trial.suggest_float(LR, 1e-3, 1e-1, log=True))
        return values

    values = draw()
    assert values == draw()  # seeded: the same study again draws the same values
    assert values[0] != values[1]  # trials asked together do not repeat each other


def test_an_error_in_a_worker_ends_the_tuning_instead_of_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tuner = _tuner(tmp_path)
    tuner.prepare([("cnn", None)])

    def broken(name: str, label: str, size: int | None) -> None:
        raise RuntimeError(f"storage gone while tuning {name}")

    monkeypatch.setattr(tuner, "_work", broken)
    with pytest.raises(RuntimeError, match="storage gone while tuning"):
        tuner.tune("cnn", None)


def test_opening_a_database_another_process_is_creating_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    from hqnn_pl.experiments import tuning

    real = optuna.storages.RDBStorage
    calls = []

    def racing(url: str, **kwargs: object) -> optuna.storages.RDBStorage:
        calls.append(url)
        if len(calls) == 1:  # what the loser of two processes creating the tables sees
            raise OperationalError("CREATE TABLE", {}, Exception("table studies already exists"))
        return real(url, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", racing)
    monkeypatch.setattr(tuning.time, "sleep", lambda seconds: None)
    assert isinstance(tuning.storage_for(f"sqlite:///{tmp_path / 'a.db'}"), real)
    assert len(calls) == 2
    calls.clear()
    monkeypatch.setattr(tuning, "STORAGE_ATTEMPTS", 1)
    with pytest.raises(OperationalError):
        tuning.storage_for(f"sqlite:///{tmp_path / 'b.db'}")


def test_trial_folders_without_their_study_are_refused(tmp_path: Path) -> None:
    (tmp_path / "tuning" / "cnn" / "n50" / "trial_0").mkdir(parents=True)  # told to another db
    with pytest.raises(ConfigurationError, match=r"holds trials, but the study .* has none"):
        _tuner(tmp_path).prepare([("cnn", 50)])
    _tuner(tmp_path).prepare([("cnn", 100)])  # another size has no folders: fine
