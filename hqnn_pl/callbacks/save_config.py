"""RunConfigSaver: the resolved CLI config in the run folder and in the W&B run's config."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import yaml
from jsonargparse import Namespace
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.cli import SaveConfigCallback

from hqnn_pl.callbacks.utils import run_dir, wandb_guard, wandb_loggers
from hqnn_pl.run.loggers import logger_configs


def keep_none_kwargs() -> dict[str, bool]:
    """Keyword that keeps None values in a dump: ``skip_unset`` from jsonargparse 4.49 on."""
    major, minor = (int(part) for part in version("jsonargparse").split(".")[:2])
    return {"skip_unset": False} if (major, minor) >= (4, 49) else {"skip_none": False}


class RunConfigSaver(SaveConfigCallback):
    """Save the resolved config as ``config.yaml`` in the run folder and in W&B's run config.

    The CLI's config callback. Lightning's own writes to ``trainer.log_dir``, which for W&B is the
    logger's ``save_dir`` shared by every run; this one writes to the run folder (see
    :func:`hqnn_pl.callbacks.utils.run_dir`: ``runs/<name>/version_<n>`` for the CSV logger,
    ``<save_dir>/<project>/<run id>`` for W&B), next to the checkpoints, so that
    ``hqnn-pl fit --config <run>/config.yaml --ckpt_path last`` resumes any run. With a
    ``WandbLogger`` the full resolved config (``trainer``, ``model``, ``data``, ...) also goes
    into the run's config. Rank zero only writes. It takes Lightning's ``SaveConfigCallback``
    arguments (the CLI passes ``save_config_kwargs={"overwrite": True}``).
    """

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Write the config into the run folder and log it to W&B, once per run.

        A fit's config is pinned to its run: ``run_dir`` names the run folder, and the logger's
        version (or W&B run id) and ``ckpt_path`` are left out, so ``--config <run>/config.yaml``
        starts a new run of the same experiment (also after a resume) and adding
        ``--ckpt_path last`` resumes exactly this one.
        ``predict`` writes no config: it creates no run folder.
        """
        if self.already_saved or stage == "predict":
            return
        if self.save_to_log_dir:
            path = run_dir(trainer) / self.config_filename
            exists = path.is_file() if trainer.is_global_zero else False
            if not self.overwrite and trainer.strategy.broadcast(exists):
                raise RuntimeError(
                    f"{path} exists: refusing to overwrite the config of a previous run. Delete "
                    "it or start the run under another logger name/version."
                )
            if trainer.is_global_zero:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.parser.save(
                    self._pinned(path.parent) if stage == "fit" else self.config,
                    str(path),
                    overwrite=self.overwrite,
                    multifile=self.multifile,
                    **keep_none_kwargs(),
                )
        if trainer.is_global_zero:
            self.save_config(trainer, pl_module, stage)
            self.already_saved = True
        self.already_saved = trainer.strategy.broadcast(self.already_saved)

    def _pinned(self, folder: Path) -> Namespace:
        """The config pinned to ``folder``: no checkpoint, logger version or run id."""
        config = self.config.clone()
        config.run_dir = str(folder.absolute())
        config.ckpt_path = None
        for entry in logger_configs(config):
            init_args = entry.get("init_args")
            for key in ("version", "id"):
                if init_args is not None and init_args.get(key) is not None:
                    init_args[key] = None
        return config

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Put the full resolved config into the config of each W&B run (rank zero)."""
        del pl_module, stage
        loggers = wandb_loggers(trainer)
        if not loggers:
            return
        dumped = self.parser.dump(self.config, **keep_none_kwargs())
        config = yaml.safe_load(dumped)
        config.pop("config", None)  # the paths of the --config files, not settings
        for logger in loggers:
            with wandb_guard("save the config in the run"):
                logger.experiment.config.update(config, allow_val_change=True)
