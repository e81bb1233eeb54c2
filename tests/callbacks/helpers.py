"""W&B helpers of the callback, W&B and sweep tests, and probe callbacks.

The probes are loaded by class path in the runs the tests start
(``--trainer.callbacks+=tests.callbacks.helpers.<Name>``, with the repository on PYTHONPATH).
The CLI harness itself is :mod:`tests.harness`.
"""

from __future__ import annotations

import os
import struct
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint

#: W&B variables that could point a test at a real account, server or sweep.
WANDB_VARIABLES = (
    "WANDB_API_KEY",
    "WANDB_IDENTITY_TOKEN_FILE",
    "WANDB_BASE_URL",
    "WANDB_ENTITY",
    "WANDB_PROJECT",
    "WANDB_RUN_ID",
    "WANDB_RUN_GROUP",
    "WANDB_SWEEP_ID",
    "WANDB_SWEEP_PARAM_PATH",
    "WANDB_RESUME",
    "WANDB_NAME",
    "WANDB_TAGS",
    "WANDB_NOTES",
    "WANDB_DIR",
)


@pytest.fixture
def wandb_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """W&B offline, silent, with HOME and every W&B folder inside ``tmp_path``; no key, no server.

    Yields:
        ``tmp_path``.
    """
    for name in WANDB_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / ".config" / "wandb"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / ".cache" / "wandb"))
    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / ".local" / "wandb"))
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    monkeypatch.setenv("WANDB_CONSOLE", "off")
    yield tmp_path
    if "wandb" in sys.modules:  # a fresh W&B service for the next test's environment
        sys.modules["wandb"].teardown()


# ------------------------------------------------------------------------------------------------
# Reading an offline W&B run back
# ------------------------------------------------------------------------------------------------

_BLOCK = 32 * 1024
_HEADER = 7  # ":W&B", magic 0xBEE1, version byte
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def wandb_records(path: Path) -> Iterator[Any]:
    """The records of an offline run's ``run-<id>.wandb`` file, as wandb's ``Record`` protos.

    wandb 0.31 writes the file from its Go core and ships no Python reader, so the framing
    (LevelDB's log format: 32 KiB blocks of ``crc32c, length, type`` chunks after a 7-byte
    header) is read here and every record is decoded with wandb's own protobuf class.
    """
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    position, pending = _HEADER, b""
    while position + 7 <= len(data):
        if _BLOCK - position % _BLOCK < 7:  # block trailer: padding
            position += _BLOCK - position % _BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        chunk = data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (_FULL, _LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending + chunk)
            pending = b""
            yield record
        elif kind in (_FIRST, _MIDDLE):
            pending += chunk


class OfflineRun:
    """What an offline W&B run recorded: run id, config, summary, history keys and files."""

    def __init__(self, folder: Path) -> None:
        import json

        self.folder = folder
        (log,) = folder.glob("run-*.wandb")
        self.config: dict[str, Any] = {}
        self.summary: dict[str, Any] = {}
        self.history_keys: set[str] = set()
        self.run_id = ""
        self.display_name = ""
        self.tags: list[str] = []
        for record in wandb_records(log):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                self.run_id = record.run.run_id
                self.display_name = record.run.display_name
                self.tags = list(record.run.tags)
                items = record.run.config.update
            elif kind == "config":
                items = record.config.update
            elif kind == "summary":
                for item in record.summary.update:
                    key = item.key or "/".join(item.nested_key[:1])
                    if item.nested_key[1:]:
                        self.summary.setdefault(key, {})
                    else:
                        self.summary[key] = json.loads(item.value_json)
                continue
            elif kind == "history":
                self.history_keys |= {i.key or i.nested_key[0] for i in record.history.item}
                continue
            else:
                continue
            for item in items:
                if item.key:
                    self.config[item.key] = json.loads(item.value_json)

    @property
    def files(self) -> list[Path]:
        return sorted(p for p in (self.folder / "files").rglob("*") if p.is_file())


def offline_runs(wandb_dir: Path) -> list[OfflineRun]:
    """The offline runs under ``<wandb_dir>/wandb``, oldest first.

    Shuts the W&B service of this process down first: ``run.finish()`` returns before the service
    has written every record to disk (in a script, the service is shut down at exit).
    """
    if "wandb" in sys.modules:
        sys.modules["wandb"].teardown()
    return [OfflineRun(p) for p in sorted(wandb_dir.glob("wandb/offline-run-*"))]


# ------------------------------------------------------------------------------------------------
# Probe callbacks for subprocess tests
# ------------------------------------------------------------------------------------------------


class Throttle(Callback):
    """Sleep after every training batch; write ``marker`` at batch ``batch`` of epoch ``epoch``.

    Makes an epoch last long enough to be interrupted in its middle, at a known point: from the
    marker on, each batch sleeps ``after_marker`` seconds, so a test that signals the process
    when the marker appears finds it still training even on a busy machine.
    """

    def __init__(
        self,
        seconds: float = 0.05,
        marker: str = "marker",
        epoch: int = 1,
        batch: int = 3,
        after_marker: float = 3.0,
    ) -> None:
        self.seconds = seconds
        self.marker = marker
        self.epoch = epoch
        self.batch = batch
        self.after_marker = after_marker
        self._marked = False

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        del pl_module, outputs, batch
        time.sleep(self.after_marker if self._marked else self.seconds)
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            Path(self.marker).write_text(str(trainer.global_step))
            self._marked = True


class RankStateDump(Callback):
    """Save, per rank, the synced metrics, the weights and what this rank trained on."""

    def __init__(self, out_dir: str = "rank_state") -> None:
        self.out_dir = out_dir
        self.initial: dict[str, torch.Tensor] = {}
        self.labels: list[int] = []

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        del trainer
        self.initial = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        del trainer, pl_module, batch_idx
        self.labels += batch[1].tolist()

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        folder = Path(self.out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "world_size": trainer.world_size,
                "metrics": {k: float(v) for k, v in trainer.callback_metrics.items()},
                "state": {k: v.detach().cpu() for k, v in pl_module.state_dict().items()},
                "initial": self.initial,
                "labels": self.labels,
            },
            folder / f"rank{trainer.global_rank}.pt",
        )


class AtBatch(Callback, ABC):
    """A probe that acts (:meth:`act`) before batch ``batch`` of epoch ``epoch``."""

    def __init__(self, epoch: int = 1, batch: int = 1) -> None:
        self.epoch = epoch
        self.batch = batch

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        del batch
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            self.act(pl_module)

    @abstractmethod
    def act(self, pl_module: LightningModule) -> None:
        """What the probe does to the run."""


class PoisonWeights(AtBatch):
    """Set every weight to NaN before batch ``batch`` of epoch ``epoch``: a run that diverges."""

    def act(self, pl_module: LightningModule) -> None:
        with torch.no_grad():
            for parameter in pl_module.parameters():
                parameter.fill_(float("nan"))


class KillAfterLastCheckpoint(ModelCheckpoint):
    """Write ``last.ckpt`` at the end of epoch ``epoch``, then SIGKILL the process.

    It runs after the run's own ``last.ckpt`` writer and before Lightning logs the epoch's
    training metrics: the moment where a kill used to lose that epoch's ``train/`` row.
    """

    def __init__(self, epoch: int = 1) -> None:
        super().__init__(filename="last", monitor=None, save_top_k=1, enable_version_counter=False)
        self.epoch = epoch

    @property
    def state_key(self) -> str:
        return f"KillAfterLastCheckpoint(epoch={self.epoch})"

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), 9)


class PoisonRunningStats(Callback):
    """Make every BatchNorm's running variance infinite during epoch ``epoch``'s validation.

    The training loss stays finite (training uses batch statistics), but the epoch's
    checkpoints hold non-finite statistics.
    """

    def __init__(self, epoch: int = 0) -> None:
        self.epoch = epoch

    def on_validation_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.current_epoch != self.epoch or trainer.sanity_checking:
            return
        for module in pl_module.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_var.fill_(float("inf"))


class PendingRowProbe(Callback):
    """Write ``pending_train_row`` after the first batch and at the end of each epoch to ``out``.

    ``out`` is a JSON file: ``{"first_batch": [row per epoch], "epoch_end": [row per epoch]}``.
    """

    def __init__(self, out: str = "pending_rows.json") -> None:
        self.out = out
        self.rows: dict[str, list[Any]] = {"first_batch": [], "epoch_end": []}

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        from hqnn_pl.callbacks.epoch_metrics import pending_train_row

        del pl_module, outputs, batch
        if batch_idx == 0:
            self.rows["first_batch"].append(pending_train_row(trainer))

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        import json

        from hqnn_pl.callbacks.epoch_metrics import pending_train_row

        del pl_module
        self.rows["epoch_end"].append(pending_train_row(trainer))
        Path(self.out).write_text(json.dumps(self.rows))


class RaiseAt(AtBatch):
    """Raise ``RuntimeError("probe failure")`` before batch ``batch`` of epoch ``epoch``."""

    def act(self, pl_module: LightningModule) -> None:
        del pl_module
        raise RuntimeError("probe failure")
