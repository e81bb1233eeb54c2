"""Tuning before the seeds: one Optuna study per (config, training-set size), same budget each.

Every config of a comparison gets the same hyperparameter search (Bowles, Ahmed and Schuld 2024):
``--tune N`` trials of a seeded TPE sampler over ``--search_space``, each trial an ordinary
``hqnn-pl fit`` run (``<out>/tuning/<label>[/n<N>]/trial_<k>``, resumable like any run) on a seed
that is not an evaluation seed (``--tune_seed``), scored by its best validation accuracy (the
epoch whose checkpoint the run keeps); the test split is not touched (``--test_after_fit
false``). Hopeless trials are pruned inside the child by optuna-integration's Lightning callback
(:mod:`~hqnn_pl.experiments.pruning`). The best values then train every seed of that config
and size.

Studies live in ``<out>/tuning.db`` (SQLite) or in any database ``--storage`` names (e.g.
PostgreSQL), so several processes or machines can tune one study together. The budget is exact:
trials are numbered in the storage, and a trial numbered past the budget (asked by a process
that raced another for the last one) is closed as failed with ``over_budget`` and never run. A
trial left running by a killed process is continued from its checkpoint by the next process that
finds its folder unlocked; the seeds start only when no trial of the study is still running.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.experiments.plan import ConfigSpec, Run, fit_command, size_folder
from hqnn_pl.experiments.runner import RUN_RECORD, Runner, is_locked
from hqnn_pl.experiments.search_space import Parameter, override_args, suggest

DATABASE = "tuning.db"
#: The metric maximised (its best epoch).
OBJECTIVE = "val/acc"
#: Tries at opening the storage (a new database's tables may be in the making by another process).
STORAGE_ATTEMPTS = 5
#: Seconds between looks at trials that other processes are running.
POLL_SECONDS = 5.0
SETTINGS_ATTR = "hqnn_pl_settings"
#: Environment variable with the storage URL of the study, for the trial's pruning callback.
STORAGE_ENV = "HQNN_PL_OPTUNA_STORAGE"
#: Trial user attribute the pruning callback sets when it prunes (the epoch).
PRUNED_ATTR = "pruned_at_epoch"

optuna.logging.set_verbosity(optuna.logging.WARNING)


class TuningError(RuntimeError):
    """A study ended without a single completed trial, so its config has no tuned values."""


@dataclass
class TuningSettings:
    """What ``--tune``, ``--search_space``, ``--tune_seed`` and ``--storage`` ask for.

    Attributes:
        trials: Trials per study (the budget).
        space: The search space.
        seed: The training (and subset) seed of every trial, and the sampler's seed.
        storage: The study storage's URL.
    """

    trials: int
    space: dict[str, Parameter]
    seed: int
    storage: str

    @property
    def startup_trials(self) -> int:
        """Random trials before TPE models the results (half the budget, at most 10)."""
        return min(10, max(1, self.trials // 2))

    @property
    def pruner_startup_trials(self) -> int:
        """Trials the median pruner lets finish before it prunes (a third, at most 5)."""
        return min(5, max(1, self.trials // 3))

    def sampler(self, number: int) -> optuna.samplers.TPESampler:
        """The TPE sampler that draws trial ``number``'s values, seeded by the tuning seed and it.

        TPE keeps no state but its random generator (it models the stored trials afresh at
        every draw), so a sampler per trial, seeded with the trial's number (unique in the
        storage), makes a study repeatable and keeps processes that tune it together, or a rerun,
        from drawing the same values.
        """
        return optuna.samplers.TPESampler(
            seed=self.seed * 100_003 + number,
            n_startup_trials=self.startup_trials,
            constant_liar=True,  # parallel trials do not all pick the same point
        )

    def manifest_entry(self) -> dict[str, Any]:
        """The settings as ``compare.json`` records them (the storage without its password)."""
        return {
            "trials": self.trials,
            "search_space": {key: p.as_dict() for key, p in self.space.items()},
            "seed": self.seed,
            "objective": f"max {OBJECTIVE} (best epoch) on seed {self.seed}",
            "sampler": f"TPESampler(seed={self.seed}, n_startup_trials={self.startup_trials}, "
            "constant_liar=True)",
            "pruner": f"MedianPruner(n_startup_trials={self.pruner_startup_trials}, "
            "n_warmup_steps=1) via optuna_integration.PyTorchLightningPruningCallback",
            "storage": redact(self.storage),
        }


def storage_for(url: str) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``; SQLite waits for its lock instead of failing at once.

    Several processes tuning one SQLite study (one machine) take turns on the file's lock;
    PostgreSQL and MySQL URLs serve many machines.
    """
    engine_kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    attempt = 1
    while True:
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except SQLAlchemyError:
            # Processes opening a new database at once race to create its tables; the loser
            # finds them made on its next try.
            if attempt == STORAGE_ATTEMPTS:
                raise
            time.sleep(0.5 * attempt)
            attempt += 1


def default_storage(out: Path) -> str:
    """The SQLite file of the studies under ``out``."""
    return f"sqlite:///{(out / DATABASE).resolve()}"


def redact(url: str) -> str:
    """``url`` without its password (for reports and ``compare.json``)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can parse: the storage itself will say so
        return url


def study_key(label: str, train_size: int | None) -> str:
    """The key of a (config, size) study: ``label`` or ``label/n<N>``."""
    return "/".join(filter(None, (label, size_folder(train_size))))


def study_name(out: Path, label: str, train_size: int | None) -> str:
    """The study's name in the storage: ``<out folder name>/<study key>``.

    Machines that tune together give ``--out`` folders of the same name.
    """
    return f"{out.name}/{study_key(label, train_size)}"


def trial_folder(out: Path, label: str, train_size: int | None, number: int) -> Path:
    """The run folder of trial ``number`` of a study."""
    return out / "tuning" / label / size_folder(train_size) / f"trial_{number}"


def best_val_acc(folder: Path) -> float | None:
    """The best ``val/acc`` of the epochs in ``folder``'s ``metrics.csv`` (None: none logged)."""
    path = folder / "metrics.csv"
    if not path.is_file():
        return None
    with path.open(newline="") as file:
        values = [float(v) for row in csv.DictReader(file) if (v := row.get(OBJECTIVE))]
    return max(values) if values else None


class Tuner:
    """Run the studies of a comparison.

    Args:
        settings: The tuning settings.
        specs: The configs.
        extra: Overrides of every run (after ``--``).
        runner: Runs the trials (the comparison's process pool, signals and records).
        out: The comparison's folder.
    """

    def __init__(
        self,
        settings: TuningSettings,
        specs: Sequence[ConfigSpec],
        extra: Sequence[str],
        runner: Runner,
        out: Path,
    ) -> None:
        self.settings = settings
        self.specs = {s.label: s for s in specs}
        self.extra = list(extra)
        self.runner = runner
        self.out = out
        try:
            self.storage = storage_for(settings.storage)
        except (SQLAlchemyError, ImportError, ValueError) as error:
            reason = " ".join(str(error).split("(Background")[0].split())
            raise ConfigurationError(
                f"--storage {redact(settings.storage)}: cannot open it ({reason})."
            ) from None
        self._owner = f"{platform.node()}:{os.getpid()}"
        self._ask_lock = threading.Lock()  # this process's workers ask one at a time

    def prepare(self, studies: Sequence[tuple[str, int | None]]) -> None:
        """Create or load every study and refuse one that was tuned with other settings.

        Runs before any training, so a mismatch (another search space or budget in a shared
        storage, or trial folders under ``--out`` that another storage's study made) stops the
        comparison at once.

        Raises:
            ConfigurationError: A study of the same name holds other settings, or the study is
                empty while trial folders of it exist.
        """
        for label, size in studies:
            name = study_name(self.out, label, size)
            study = optuna.create_study(
                study_name=name, storage=self.storage, direction="maximize", load_if_exists=True
            )
            mine = {**self.settings.manifest_entry(), "config": self.specs[label].digest}
            mine.pop("storage")
            folder = self.out / "tuning" / label / size_folder(size)
            if not study.get_trials(deepcopy=False) and any(folder.glob("trial_*")):
                raise ConfigurationError(
                    f"{folder} holds trials, but the study {name} in "
                    f"{redact(self.settings.storage)} has none: give the --storage those trials "
                    f"were told to, or remove {folder} to tune afresh."
                )
            theirs = study.user_attrs.get(SETTINGS_ATTR)
            if theirs is None:
                study.set_user_attr(SETTINGS_ATTR, mine)
            elif theirs != mine:
                changed = sorted(k for k in mine if theirs.get(k) != mine[k])
                raise ConfigurationError(
                    f"the Optuna study {name} in {redact(self.settings.storage)} was tuned with "
                    f"other settings ({', '.join(changed)} differ): use another --out folder "
                    "name or storage, or the same settings to continue it."
                )

    def tune(self, label: str, train_size: int | None) -> dict[str, Any]:
        """Run the study of (``label``, ``train_size``) to its budget; return its best trial.

        Returns:
            ``{"study", "params", "value", "trial", "budget", "states", "seconds"}``.

        Raises:
            TuningError: No trial of the budget completed.
        """
        name = study_name(self.out, label, train_size)
        waiting_said = False
        workers = max(1, self.runner.parallel)
        while True:
            self._run_workers(workers, name, label, train_size)
            if self.runner.stopping:
                raise SystemExit(143)
            study = optuna.load_study(study_name=name, storage=self.storage)
            running = self._budget_trials(study, optuna.trial.TrialState.RUNNING)
            if not running:
                return self._best(study, label, train_size)
            if not waiting_said:
                self.runner.report(
                    f"{study_key(label, train_size)}: waiting for trial(s) "
                    f"{', '.join(str(t.number) for t in running)} of other processes."
                )
                waiting_said = True
            time.sleep(POLL_SECONDS)
            workers = 1  # only to continue a trial whose process dies meanwhile

    def _run_workers(self, count: int, name: str, label: str, train_size: int | None) -> None:
        """Run ``count`` workers of a study at once; re-raise the first error of any of them."""
        errors: list[BaseException] = []

        def work() -> None:
            try:
                self._work(name, label, train_size)
            except BaseException as error:  # re-raised in the calling thread below
                errors.append(error)

        threads = [threading.Thread(target=work, daemon=True) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def _budget_trials(
        self, study: optuna.Study, state: optuna.trial.TrialState | None = None
    ) -> list[optuna.trial.FrozenTrial]:
        return [
            t
            for t in study.get_trials(deepcopy=False)
            if t.number < self.settings.trials and (state is None or t.state == state)
        ]

    def _work(self, name: str, label: str, train_size: int | None) -> None:
        """One worker: continue abandoned trials, then ask new ones until the budget is out."""
        study = optuna.load_study(study_name=name, storage=self.storage)
        while not self.runner.stopping:
            trials = study.get_trials(deepcopy=False)
            abandoned = [t for t in trials if self._abandoned(t, label, train_size)]
            if abandoned:
                trial = abandoned[0]
                self._run_trial(study, label, train_size, trial.number, dict(trial.params))
                continue
            with self._ask_lock:
                trials = study.get_trials(deepcopy=False)
                if sum(t.number < self.settings.trials for t in trials) >= self.settings.trials:
                    return
                trial = study.ask()
                if trial.number >= self.settings.trials:  # another process asked the last one
                    trial.set_user_attr("over_budget", True)
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    return
                trial.set_user_attr("owner", self._owner)
                study.sampler = self.settings.sampler(trial.number)  # draws at the suggest calls
                values = suggest(trial, self.settings.space)
            self._run_trial(study, label, train_size, trial.number, values)

    def _abandoned(self, trial: optuna.trial.FrozenTrial, label: str, size: int | None) -> bool:
        """Whether a running trial of the budget has no live process (killed before it ended)."""
        if trial.state != optuna.trial.TrialState.RUNNING or trial.number >= self.settings.trials:
            return False
        folder = trial_folder(self.out, label, size, trial.number)
        if folder.is_dir():
            return not is_locked(folder)
        host, _, pid = str(trial.user_attrs.get("owner", "")).rpartition(":")
        if host != platform.node() or not pid.isdigit() or int(pid) == os.getpid():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def _run_trial(
        self,
        study: optuna.Study,
        label: str,
        train_size: int | None,
        number: int,
        values: Mapping[str, Any],
    ) -> None:
        spec = self.specs[label]
        folder = trial_folder(self.out, label, train_size, number)
        run = Run(label, self.settings.seed, folder, train_size,
                  tuple(override_args(values, list(self.settings.space))))  # fmt: skip
        pruning = {
            "class_path": "hqnn_pl.experiments.pruning.TrialPruning",
            "init_args": {
                "study_name": study.study_name,
                "trial_number": number,
                "monitor": OBJECTIVE,
                "n_startup_trials": self.settings.pruner_startup_trials,
                "n_warmup_steps": 1,
            },
        }
        more = ["--test_after_fit", "false", f"--trainer.callbacks+={json.dumps(pruning)}"]
        shown = ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in values.items())
        self.runner.report(f"tuning {study_key(label, train_size)} trial {number}: {shown}")
        returncode, seconds = self.runner.run_in_folder(
            run,
            lambda checkpoint: fit_command(spec, run, self.extra, checkpoint, more=more),
            {STORAGE_ENV: self.settings.storage},
        )
        if returncode is None or self.runner.stopping:
            return  # another process runs it, or it stops here and a rerun continues it
        study_id = self.storage.get_study_id_from_name(study.study_name)
        trial_id = self.storage.get_trial_id_from_study_id_trial_number(study_id, number)
        attrs = self.storage.get_trial(trial_id).user_attrs
        value = best_val_acc(folder)
        if returncode == 0 and PRUNED_ATTR in attrs:
            study.tell(number, state=optuna.trial.TrialState.PRUNED)
            outcome = f"pruned after epoch {attrs[PRUNED_ATTR]}"
        elif returncode == 0 and value is not None:
            study.tell(number, value)
            outcome = f"{OBJECTIVE} {value:.4f}"
        else:
            self.storage.set_trial_user_attr(trial_id, "returncode", returncode)
            study.tell(number, state=optuna.trial.TrialState.FAIL)
            outcome = f"FAILED (exit {returncode}; see {folder / 'log.txt'})"
        self.runner.report(
            f"tuning {study_key(label, train_size)} trial {number}: {outcome} in {seconds:.0f} s"
        )

    def _best(self, study: optuna.Study, label: str, train_size: int | None) -> dict[str, Any]:
        trials = self._budget_trials(study)
        complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        states: dict[str, int] = {}
        for t in trials:
            states[t.state.name] = states.get(t.state.name, 0) + 1
        if not complete:
            raise TuningError(
                f"tuning {study_key(label, train_size)}: none of its {len(trials)} trials "
                f"completed ({states}); see the logs under "
                f"{self.out / 'tuning' / label / size_folder(train_size)}."
            )
        best = max(complete, key=lambda t: (t.value, -t.number))
        seconds = 0.0
        for t in trials:
            record = trial_folder(self.out, label, train_size, t.number) / RUN_RECORD
            if record.is_file():
                attempts = json.loads(record.read_text()).get("attempts", [])
                seconds += sum(float(a.get("seconds", 0.0)) for a in attempts)
        return {
            "study": study.study_name,
            "params": dict(best.params),
            "value": best.value,
            "trial": best.number,
            "budget": self.settings.trials,
            "states": states,
            "seconds": round(seconds, 1),
        }
