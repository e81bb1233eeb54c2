"""What a run needs around the trainer, shared by the CLI and every tool that reads runs.

* :mod:`~hqnn_pl.run.checkpoint_io`: checkpoints written atomically and verified when read;
* :mod:`~hqnn_pl.run.resume`: ``--ckpt_path`` resolved to the right run, checked to fit;
* :mod:`~hqnn_pl.run.continuing`: a resume checked against its run's record, the run tidied;
* :mod:`~hqnn_pl.run.failures`: user-fixable failures found and said in one line;
* :mod:`~hqnn_pl.run.lock`: one process at a time in a run folder;
* :mod:`~hqnn_pl.run.loggers`: logger configs, W&B's offline fallback;
* :mod:`~hqnn_pl.run.parser`: the CLI's parser and its one-line errors;
* :mod:`~hqnn_pl.run.training`: settings under which a fit would train nothing;
* :mod:`~hqnn_pl.run.files`: output folders checked early, atomic writes, full disks;
* :mod:`~hqnn_pl.run.quiet`: start-up output without tips and dependency noise;
* :mod:`~hqnn_pl.run.loading`: a config's model and data (and a checkpoint's weights) for the
  tools beside the CLI.
"""
