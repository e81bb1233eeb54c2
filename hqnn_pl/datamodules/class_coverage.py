"""The check that every split of a datamodule holds an image of every class."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset, TensorDataset

from hqnn_pl.datamodules.datasets import ImageFileDataset, TensorImageDataset

#: Splits in their order in messages.
SPLITS = ("train", "val", "test")
#: Missing classes named per split in a message; the rest are counted.
MAX_CLASSES_SHOWN = 10


def dataset_labels(dataset: Dataset) -> Tensor:
    """Return the label of every item of ``dataset`` (N,), without loading its images.

    Knows the datasets of hqnn-pl's datamodules (TensorDataset, TensorImageDataset,
    ImageFileDataset and Subsets of them); any other dataset is iterated, which loads every item.

    Args:
        dataset: A dataset of (image, label) pairs.
    """
    if isinstance(dataset, TensorDataset):
        return dataset.tensors[1].long()
    if isinstance(dataset, TensorImageDataset):
        return dataset.labels[dataset.indices]
    if isinstance(dataset, ImageFileDataset):
        return dataset.labels
    if isinstance(dataset, Subset):
        return dataset_labels(dataset.dataset)[torch.as_tensor(dataset.indices, dtype=torch.long)]
    return torch.tensor(
        [int(dataset[i][1]) for i in range(len(dataset))],  # type: ignore[arg-type]
        dtype=torch.long,
    )


def missing_classes_message(
    owner: str,
    class_names: Sequence[str],
    split_labels: Mapping[str, Tensor | None],
    checked: Sequence[str],
    fix: str,
) -> str | None:
    """Describe, in one line, the classes that the ``checked`` splits lack; ``None`` if none.

    Args:
        owner: The datamodule's name, to start the message with.
        class_names: Name of every class, by label.
        split_labels: Labels of every split that exists; ``None`` for a split that is
            configured but holds no image.
        checked: The splits that must hold every class.
        fix: How to fix it (one sentence).

    Returns:
        The message, or ``None`` when every checked split holds every class.
    """
    num_classes = len(class_names)
    counts = {
        split: torch.bincount(labels, minlength=num_classes)[:num_classes]
        if labels is not None
        else torch.zeros(num_classes, dtype=torch.long)
        for split, labels in split_labels.items()
    }
    total = sum(counts.values(), torch.zeros(num_classes, dtype=torch.long))
    parts = []
    for split in (split for split in SPLITS if split in checked and split in counts):
        missing = torch.nonzero(counts[split] == 0).flatten().tolist()
        if not missing:
            continue
        if len(missing) == num_classes:
            parts.append(f"the {split} split holds no image (of {_images(int(total.sum()))})")
            continue
        described = []
        for label in missing[:MAX_CLASSES_SHOWN]:
            per_split = ", ".join(f"{int(counts[s][label])} {s}" for s in SPLITS if s in counts)
            described.append(
                f"{label} '{class_names[label]}' ({_images(int(total[label]))}: {per_split})"
            )
        more = len(missing) - MAX_CLASSES_SHOWN
        parts.append(
            f"the {split} split lacks class{'es' if len(missing) > 1 else ''} "
            + ", ".join(described)
            + (f" and {more} more" if more > 0 else "")
        )
    if not parts:
        return None
    return f"{owner}: " + "; ".join(parts) + f". {fix}"


def _images(count: int) -> str:
    return f"{count} image" + ("" if count == 1 else "s")
