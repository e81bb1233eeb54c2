"""Start-up output for researchers: no advertising tips, no dependencies' deprecation noise."""

from __future__ import annotations

import logging
import warnings

#: Lightning's advertising lines (``rank_zero_info`` "💡 Tip: ..."), dropped from its log.
TIP_PREFIX = "💡 Tip:"
#: Warnings about dependencies' internals that a user of hqnn-pl can do nothing about.
NOISE = (
    # Lightning's pytree helper on torch >= 2.10.
    r".*isinstance\(treespec, LeafSpec\)` is deprecated",
    # Lightning's SaveConfigCallback still passes jsonargparse's deprecated skip_none.
    r".*skip_none parameter was deprecated",
    # The CSV logger finds the run folder the CLI created and locked before it: nothing is
    # deleted (a resume keeps its rows, any other run is refused before this point).
    r"Experiment logs directory .* exists and is not empty",
    # Likewise for the checkpoints folder of a resumed run, the only run let into it.
    r"Checkpoint directory .* exists and is not empty",
)


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).lstrip().startswith(TIP_PREFIX)


def quiet_start_up() -> None:
    """Drop Lightning's tips and known dependency noise; every other warning stays visible."""
    for name in ("lightning.pytorch", "lightning.fabric"):
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, _DropTips) for f in handler.filters):
                handler.addFilter(_DropTips())
    for pattern in NOISE:
        warnings.filterwarnings("ignore", message=pattern)
