"""Comparisons behind ``hqnn-pl-compare`` and ``hqnn-pl-robustness``.

One concept per module:

* :mod:`~hqnn_pl.experiments.plan`: configs, their resolved settings, run folders and
  ``compare.json``.
* :mod:`~hqnn_pl.experiments.cluster`: the plan for a cluster (commands, W&B grid).
* :mod:`~hqnn_pl.experiments.subsets`: ``--train_sizes`` checked against the data before
  training.
* :mod:`~hqnn_pl.experiments.search_space`: the ``--search_space`` file of ``--tune``.
* :mod:`~hqnn_pl.experiments.tuning`: one Optuna study per (config, size), trials as runs.
* :mod:`~hqnn_pl.experiments.pruning`: the pruning callback inside a trial's process.
* :mod:`~hqnn_pl.experiments.runner`: the local process pool; skipping finished runs and
  resuming unfinished ones from their checkpoints.
* :mod:`~hqnn_pl.experiments.collect`: reading run folders.
* :mod:`~hqnn_pl.experiments.statistics`: summaries, paired tests, equivalence tests (TOST),
  Holm's correction and verdicts.
* :mod:`~hqnn_pl.experiments.figures`: curves, accuracy plots and learning curves
  (matplotlib, Agg).
* :mod:`~hqnn_pl.experiments.report`: ``results.md``, ``results.csv``, ``runs.csv``.
* :mod:`~hqnn_pl.experiments.paper`: the papers' figures, keyed by config.
* :mod:`~hqnn_pl.experiments.cli`: the ``hqnn-pl-compare`` command.
* :mod:`~hqnn_pl.experiments.robustness`: the ``hqnn-pl-robustness`` command (one checkpoint
  over shots and noise strengths).
"""
