from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import torch

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.experiments.pruning import TrialPruning
from hqnn_pl.experiments.tuning import PRUNED_ATTR, STORAGE_ENV


@pytest.fixture
def study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> optuna.Study:
    url = f"sqlite:///{tmp_path / 'tuning.db'}"
    monkeypatch.setenv(STORAGE_ENV, url)
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    for value in (0.8, 0.9):  # two finished trials with good epochs
        trial = study.ask()
        for epoch in range(3):
            trial.report(value, epoch)
        study.tell(trial, value)
    return study


def _validate(callback: TrialPruning, acc: float, epoch: int) -> SimpleNamespace:
    trainer = SimpleNamespace(
        sanity_checking=False, callback_metrics={"val/acc": torch.tensor(acc)}, should_stop=False
    )
    callback.on_validation_end(trainer, SimpleNamespace(current_epoch=epoch))
    return trainer


def test_a_hopeless_trial_stops_cleanly_and_is_marked_pruned(study: optuna.Study) -> None:
    number = study.ask().number
    callback = TrialPruning("s", number, n_startup_trials=1, n_warmup_steps=1)
    assert not _validate(callback, 0.1, 0).should_stop  # warm-up epoch: never pruned
    trainer = _validate(callback, 0.1, 1)
    assert trainer.should_stop  # below the median of the finished trials at epoch 1
    trial = study.get_trials()[number]
    assert trial.user_attrs[PRUNED_ATTR] == 1
    assert trial.intermediate_values == {0: pytest.approx(0.1), 1: pytest.approx(0.1)}
    assert trial.state == optuna.trial.TrialState.RUNNING  # the parent tells the study


def test_a_promising_trial_goes_on(study: optuna.Study) -> None:
    number = study.ask().number
    callback = TrialPruning("s", number, n_startup_trials=1, n_warmup_steps=0)
    assert not _validate(callback, 0.95, 0).should_stop
    assert PRUNED_ATTR not in study.get_trials()[number].user_attrs


def test_without_the_storage_in_the_environment_it_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    with pytest.raises(ConfigurationError, match=STORAGE_ENV):
        TrialPruning("s", 0)
