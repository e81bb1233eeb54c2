"""``python -m hqnn_pl.experiments``: the ``hqnn-pl-compare`` command."""

from hqnn_pl.experiments.cli import main

main()
