"""Comparisons behind ``hqnn-pl-compare`` and ``hqnn-pl-robustness``.

One concept per module:

* :mod:`~hqnn_pl.experiments.plan`: configs, their resolved settings, run folders, the plan
  for a cluster (commands, W&B grid) and ``compare.json``.
* :mod:`~hqnn_pl.experiments.runner`: the local process pool; skipping finished runs and
  resuming unfinished ones from their checkpoints.
* :mod:`~hqnn_pl.experiments.collect`: reading run folders.
* :mod:`~hqnn_pl.experiments.statistics`: summaries, paired tests and verdicts (scipy.stats).
* :mod:`~hqnn_pl.experiments.figures`: curves and accuracy plots (matplotlib, Agg).
* :mod:`~hqnn_pl.experiments.report`: ``results.md``, ``results.csv``, ``runs.csv``.
* :mod:`~hqnn_pl.experiments.paper`: the papers' figures, keyed by config.
* :mod:`~hqnn_pl.experiments.cli`: the ``hqnn-pl-compare`` command.
* :mod:`~hqnn_pl.experiments.robustness`: the ``hqnn-pl-robustness`` command (one checkpoint
  over shots and noise strengths).
"""
