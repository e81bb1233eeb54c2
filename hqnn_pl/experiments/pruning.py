"""Pruning a tuning trial from inside its ``hqnn-pl fit`` process.

``hqnn-pl-compare --tune`` runs every Optuna trial as an ordinary ``hqnn-pl fit`` child. The child
gets this callback (``--trainer.callbacks+=``), which loads the study from the storage named in
the environment (:data:`STORAGE_ENV`: the URL never lands in the run's ``config.yaml``, so a
PostgreSQL password stays out of it) and the trial by its number, then hands it to
optuna-integration's ``PyTorchLightningPruningCallback``. That callback reports ``val/acc`` after
every validation and raises ``optuna.TrialPruned`` when the pruner judges the trial hopeless; here
the exception becomes a clean early stop, recorded in the trial's ``pruned_at_epoch`` user
attribute, so the parent tells the study the trial was pruned.
"""

from __future__ import annotations

import os

import optuna
from lightning.pytorch import LightningModule, Trainer
from optuna_integration import PyTorchLightningPruningCallback

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.experiments.tuning import PRUNED_ATTR, STORAGE_ENV, storage_for


def load_trial(storage_url: str, study_name: str, number: int, pruner: optuna.pruners.BasePruner
               ) -> optuna.Trial:  # fmt: skip
    """The running trial ``number`` of ``study_name``, with ``pruner`` judging it.

    Raises:
        ConfigurationError: The study or trial does not exist.
    """
    storage = storage_for(storage_url)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage, pruner=pruner)
        study_id = storage.get_study_id_from_name(study_name)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
    except KeyError as error:
        raise ConfigurationError(f"Optuna study {study_name}: {error}") from None
    return optuna.Trial(study, trial_id)


class TrialPruning(PyTorchLightningPruningCallback):
    """Report ``val/acc`` to an Optuna trial each epoch; stop early when it is pruned.

    Args:
        study_name: The study's name in the storage of :data:`STORAGE_ENV`.
        trial_number: The trial's number in the study.
        monitor: The metric reported (maximised).
        n_startup_trials: Trials the median pruner lets finish before it prunes.
        n_warmup_steps: Epochs of each trial before it can be pruned.
    """

    def __init__(
        self,
        study_name: str,
        trial_number: int,
        monitor: str = "val/acc",
        n_startup_trials: int = 5,
        n_warmup_steps: int = 1,
    ) -> None:
        url = os.environ.get(STORAGE_ENV)
        if not url:
            raise ConfigurationError(
                f"TrialPruning needs the study's storage URL in ${STORAGE_ENV} "
                "(hqnn-pl-compare --tune sets it)."
            )
        pruner = optuna.pruners.MedianPruner(
            n_startup_trials=n_startup_trials, n_warmup_steps=n_warmup_steps
        )
        super().__init__(load_trial(url, study_name, trial_number, pruner), monitor)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Report the epoch's score; on a prune, record the epoch and stop training cleanly."""
        try:
            super().on_validation_end(trainer, pl_module)
        except optuna.TrialPruned:
            self._trial.set_user_attr(PRUNED_ATTR, pl_module.current_epoch)
            trainer.should_stop = True
