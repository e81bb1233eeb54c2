"""ParameterCount: the exact parameter counts of a model, split into quantum and classical."""

from __future__ import annotations

import json
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only
from torch import nn

from hqnn_pl.callbacks.utils import is_quantum_module, log_hyperparams, run_dir


def count_parameters(module: nn.Module) -> dict[str, int]:
    """Count the parameters of ``module``; each shared parameter is counted once.

    Quantum parameters are the parameters of hqnn-pl's quantum layers (the circuit weights);
    everything else is classical. Buffers, such as the fixed angles of a random quanvolution,
    are not parameters and are not counted.

    Args:
        module: Any module.

    Returns:
        ``total``, ``trainable``, ``frozen``, ``quantum`` (trainable circuit weights) and
        ``classical`` (trainable, not quantum).
    """
    quantum_ids = {
        id(p) for m in module.modules() if is_quantum_module(m) for p in m.parameters(recurse=False)
    }
    params = {id(p): p for p in module.parameters()}.values()
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    quantum = sum(p.numel() for p in params if p.requires_grad and id(p) in quantum_ids)
    return {
        "total": total,
        "trainable": trainable,
        "frozen": total - trainable,
        "quantum": quantum,
        "classical": trainable - quantum,
    }


def top_level_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The top-level blocks of a model: its children that hold parameters.

    A child that is the only one holding parameters (an ``ImageClassifier``'s ``network``) is
    looked through, so HQNN-Parallel's blocks are ``network.trunk``, ``network.encoder``,
    ``network.middle`` and ``network.head``.

    Args:
        model: Any module.

    Returns:
        ``(dotted name, block)`` pairs.
    """
    prefix = ""
    module = model
    while True:
        children = [
            (name, child)
            for name, child in module.named_children()
            if any(True for _ in child.parameters())
        ]
        if len(children) == 1 and any(True for _ in children[0][1].children()):
            name, module = children[0]
            prefix += f"{name}."
            continue
        return [(prefix + name, child) for name, child in children]


def format_table(title: str, rows: dict[str, dict[str, int]]) -> str:
    """Render counts as an aligned text table, one row per entry of ``rows``."""
    columns = ("total", "trainable", "frozen", "quantum", "classical")
    width = max(len(name) for name in [*rows, "block"])
    cells = {name: [f"{counts[c]:,}" for c in columns] for name, counts in rows.items()}
    widths = [max(len(c), *(len(r[i]) for r in cells.values())) for i, c in enumerate(columns)]
    lines = [
        title,
        "  ".join(
            ["block".ljust(width), *(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
        ),
    ]
    lines += [
        "  ".join([name.ljust(width), *(v.rjust(w) for v, w in zip(values, widths, strict=True))])
        for name, values in cells.items()
    ]
    return "\n".join(lines)


class ParameterCount(Callback):
    """Report the exact parameter counts when fitting starts.

    Prints a table (total, trainable, frozen, quantum, classical, per top-level block), writes
    it as JSON into the run folder and logs the totals to the logger(s) as hyperparameters
    ``params/total``, ``params/trainable``, ``params/frozen``, ``params/quantum`` and
    ``params/classical`` (in W&B they land in the run's config). The quantum count is exact: the
    trainable weights of hqnn-pl's quantum layers. Runs on rank zero only.

    From YAML::

        trainer:
          callbacks:
            - class_path: hqnn_pl.callbacks.ParameterCount

    Args:
        filename: Name of the JSON file written into the run folder.
    """

    def __init__(self, filename: str = "parameter_counts.json") -> None:
        super().__init__()
        self.filename = filename
        self.counts: dict[str, Any] | None = None

    @rank_zero_only
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Count, print, write and log the parameters."""
        totals = count_parameters(pl_module)
        blocks = {name: count_parameters(block) for name, block in top_level_blocks(pl_module)}
        self.counts = {"model": type(pl_module).__name__, **totals, "blocks": blocks}
        rank_zero_info(
            format_table(f"Parameters of {type(pl_module).__name__}", {**blocks, "total": totals})
        )
        folder = run_dir(trainer)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / self.filename).write_text(json.dumps(self.counts, indent=2) + "\n")
        log_hyperparams(trainer, {f"params/{key}": value for key, value in totals.items()})
