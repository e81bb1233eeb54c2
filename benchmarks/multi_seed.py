r"""Run configs over several seeds: a thin wrapper around ``hqnn-pl-compare``.

Kept so that older commands keep working; the options are ``hqnn-pl-compare``'s (``--config``,
``--seeds``, ``--parallel``, ``--threads``, ``--out``, CLI overrides after ``--``). Each (config,
seed) pair is an ordinary ``hqnn-pl fit`` run; a failed run is reported and the others are
still summarised; a rerun skips finished runs. Example::

    python benchmarks/multi_seed.py --seeds 10 --out runs/compare/quanv --config \
        configs/fashion_mnist/hqnn_quanv.yaml configs/fashion_mnist/cnn1.yaml \
        configs/fashion_mnist/cnn4.yaml
"""

from __future__ import annotations

from hqnn_pl.experiments.cli import main

if __name__ == "__main__":
    main()
