"""Checking ``--train_sizes`` against the data before any training.

Every size must fit the training split and give every class an image for every seed the
comparison uses (the evaluation seeds and the tuning seed). The datamodule itself refuses a bad
size at ``setup``, but only once its run has started; so ``hqnn-pl-compare`` builds the data once
in a child process (``python -m hqnn_pl.experiments.subsets``, which imports Lightning without
slowing the tool) and draws every subset the comparison will train on, with the datamodule's own
:func:`~hqnn_pl.datamodules.subsets.stratified_subset`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.experiments.plan import child_env

#: Exit status of the child when a size is refused (its message is its last stderr line).
REFUSED = 2


def check_train_sizes(data: dict[str, Any], sizes: Sequence[int], seeds: Sequence[int]) -> int:
    """Check every size against the training split of ``data`` for every seed.

    Args:
        data: The resolved ``data`` section of a config (``class_path`` and ``init_args``).
        sizes: The training-set sizes.
        seeds: The subset seeds the comparison uses.

    Returns:
        The number of images in the whole training split.

    Raises:
        ConfigurationError: A size is not positive, larger than the split, or too small to hold
            every class (or the data cannot be built), in one line.
    """
    bad = [size for size in sizes if size < 1]
    if bad:
        raise ConfigurationError(f"--train_sizes must be positive, got {bad[0]}.")
    request = json.dumps({"data": data, "sizes": list(sizes), "seeds": list(seeds)})
    result = subprocess.run(
        [sys.executable, "-m", "hqnn_pl.experiments.subsets"],
        input=request,
        capture_output=True,
        text=True,
        env=child_env(1),
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {result.returncode}"
        raise ConfigurationError(f"--train_sizes: {reason.strip()}")
    return int(json.loads(result.stdout.strip().splitlines()[-1])["train_split"])


def _check_in_child(request: dict[str, Any]) -> int:
    """Build the data of ``request`` and draw every subset; return the training split's size."""
    from jsonargparse import ArgumentParser
    from lightning.pytorch import LightningDataModule

    from hqnn_pl.datamodules.class_coverage import dataset_labels
    from hqnn_pl.datamodules.subsets import check_subset_size, stratified_subset

    data = dict(request["data"])
    data["init_args"] = {
        **(data.get("init_args") or {}),
        "train_subset": None,
        "train_subset_seed": None,
    }
    parser = ArgumentParser(exit_on_error=False)
    parser.add_subclass_arguments(LightningDataModule, "data")
    # jsonargparse 4.49 renamed instantiate_classes to instantiate (the old name warns).
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
    datamodule = instantiate(parser.parse_object({"data": data})).data
    datamodule.setup("fit")
    labels = dataset_labels(datamodule.train_dataset)
    for size in request["sizes"]:
        check_subset_size(size, len(labels), datamodule.class_names)
        for seed in request["seeds"]:
            try:
                stratified_subset(labels, size, seed, datamodule.class_names)
            except ConfigurationError as error:
                raise ConfigurationError(f"{error} (with the subset seed {seed})") from None
    return len(labels)


def main() -> None:
    """The child: a JSON request on stdin, the split size as JSON on stdout, or exit status 2."""
    try:
        size = _check_in_child(json.loads(sys.stdin.read()))
    except ConfigurationError as error:
        print(error, file=sys.stderr)
        raise SystemExit(REFUSED) from None
    print(json.dumps({"train_split": size}))


if __name__ == "__main__":
    main()
