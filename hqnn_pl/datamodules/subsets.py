"""Stratified, seeded subsets of a training split (``--data.init_args.train_subset N``).

A learning curve trains on growing parts of the training split. The part of size ``N`` keeps
each class's share of the split (scikit-learn's stratified shuffle split) and depends only on the
split, ``N`` and the subset's seed, so every model trained at that size and seed sees the same
images. Validation and test splits are never touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import Tensor

from hqnn_pl.errors import ConfigurationError


def check_subset_size(size: int, split_size: int, class_names: Sequence[str]) -> None:
    """Refuse a subset size the training split cannot give with every class in it.

    Args:
        size: Images asked for.
        split_size: Images in the training split.
        class_names: Name of every class (a subset needs at least one image of each).

    Raises:
        ConfigurationError: ``size`` is larger than the split or smaller than the class count.
    """
    if size > split_size:
        raise ConfigurationError(
            f"train_subset {size} is larger than the training split ({split_size} images): "
            f"give at most {split_size}."
        )
    if size < len(class_names):
        raise ConfigurationError(
            f"train_subset {size} is too small to hold every class: the data has "
            f"{len(class_names)} classes, so give at least {len(class_names)}."
        )


def stratified_subset(labels: Tensor, size: int, seed: int, class_names: Sequence[str]) -> Tensor:
    """Indices of a stratified, seeded subset of ``size`` items that holds every class.

    Args:
        labels: The label of every item of the training split (N,).
        size: Items in the subset.
        seed: Seed of the subset (the same seed and size give the same items).
        class_names: Name of every class, by label.

    Returns:
        The subset's indices into ``labels``, sorted.

    Raises:
        ConfigurationError: The size is out of range, a class has too few items to be
            stratified, or the subset would lack a class.
    """
    check_subset_size(size, len(labels), class_names)
    if size == len(labels):
        return torch.arange(len(labels))
    targets = labels.numpy()
    try:
        chosen, _ = train_test_split(
            np.arange(len(targets)), train_size=size, stratify=targets, random_state=seed
        )
    except ValueError as error:  # e.g. a class with a single item cannot be stratified
        raise ConfigurationError(f"train_subset {size}: {error}") from None
    indices = torch.as_tensor(np.sort(chosen), dtype=torch.long)
    missing = sorted(set(range(len(class_names))) - set(labels[indices].tolist()))
    if missing:
        raise ConfigurationError(
            f"train_subset {size} (seed {seed}) lacks class"
            f"{'es' if len(missing) > 1 else ''} "
            + ", ".join(f"{c} '{class_names[c]}'" for c in missing)
            + ": the training split's rarest classes are too rare for this size; give a "
            "larger train_subset."
        )
    return indices
