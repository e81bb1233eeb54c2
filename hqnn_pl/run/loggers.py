"""Loggers named in a parsed CLI config, and W&B runs that must not fail without network."""

from __future__ import annotations

import importlib
import netrc
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_warn

_OFFLINE_MODES = {"offline", "dryrun", "disabled"}


def logger_configs(config: Any) -> list[Any]:
    """The ``class_path``/``init_args`` entries of ``trainer.logger`` (none for True/False)."""
    loggers = (config.get("trainer") or {}).get("logger")
    if not isinstance(loggers, list):
        loggers = [loggers]
    return [entry for entry in loggers if getattr(entry, "class_path", None)]


def logger_class(entry: Any) -> type | None:
    """The class a logger entry names, or None when it cannot be imported."""
    module, _, name = str(entry.class_path).rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None


def init_arg(entry: Any, key: str, default: Any = None) -> Any:
    """A logger entry's ``init_args[key]``, or ``default`` when unset."""
    init_args = getattr(entry, "init_args", None)
    value = init_args.get(key) if init_args is not None else None
    return default if value is None else value


def fall_back_to_offline_wandb(config: Any) -> None:
    """Switch a W&B logger that cannot reach its server to offline mode, with one warning."""
    if os.environ.get("WANDB_MODE", "").lower() in _OFFLINE_MODES:
        return
    for entry in logger_configs(config):
        cls = logger_class(entry)
        if cls is None or not issubclass(cls, WandbLogger):
            continue
        mode = str(init_arg(entry, "mode", "")).lower()
        if init_arg(entry, "offline", False) or mode in _OFFLINE_MODES:
            continue
        problem = wandb_connection_problem()
        if problem is None:
            return
        os.environ["WANDB_MODE"] = "offline"  # inherited by DDP's worker processes
        if mode:
            entry.init_args.mode = "offline"
        save_dir = init_arg(entry, "save_dir") or init_arg(entry, "dir") or "."
        offline_runs = Path(save_dir, "wandb", "offline-run-*")
        rank_zero_warn(
            f"W&B: {problem}, so this run logs offline to {offline_runs}. Upload it later with "
            f"`wandb sync {offline_runs}` (after `wandb login`). Set WANDB_MODE=offline to "
            "skip this check."
        )
        return


def wandb_connection_problem(timeout: float = 3.0) -> str | None:
    """Why W&B cannot log online from here, or None if it can.

    Looks for an API key (``WANDB_API_KEY``, ``WANDB_IDENTITY_TOKEN_FILE``, the W&B settings file
    or ``~/.netrc``, as ``wandb login`` writes it) and opens a TCP connection to the W&B server
    (``WANDB_BASE_URL`` or the settings' ``base_url``). Sends nothing.

    Args:
        timeout: Seconds to wait for the server to accept the connection.

    Returns:
        A short description of the problem, or None.
    """
    base_url = _wandb_setting("base_url") or "https://api.wandb.ai"
    if not _has_wandb_key(base_url):
        return "no API key is configured (set WANDB_API_KEY or run `wandb login`)"
    parsed = urlparse(base_url)
    host = parsed.hostname or base_url
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as error:
        return f"the W&B server {base_url} is unreachable ({error})"
    return None


def _wandb_setting(name: str) -> Any:
    """A W&B setting from the environment and W&B's settings files (None if unavailable)."""
    try:
        import wandb

        settings = wandb.Settings(silent=True)
        settings.update_from_system_settings()
        settings.update_from_env_vars(dict(os.environ))
        return getattr(settings, name, None)
    except Exception:
        return os.environ.get(f"WANDB_{name.upper()}")


def _has_wandb_key(base_url: str) -> bool:
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    if _wandb_setting("api_key"):
        return True
    host = urlparse(base_url).hostname or base_url
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def finish_wandb_runs(loggers: list[Any], exit_code: int) -> None:
    """Finish the W&B runs this CLI started, so a later run in the process starts a new one."""
    for logger in loggers:
        run = getattr(logger, "_experiment", None) if isinstance(logger, WandbLogger) else None
        if run is None or not callable(getattr(run, "finish", None)):
            continue
        try:
            run.finish(exit_code=exit_code)
        except Exception as error:
            rank_zero_warn(f"W&B: could not finish the run ({type(error).__name__}: {error}).")


def root_logger_dirs(config: Any) -> None:
    """Put relative logger folders under ``trainer.default_root_dir`` when it is given.

    The configs' ``save_dir: runs`` would otherwise be relative to the current folder and
    ``--trainer.default_root_dir`` would decide nothing. The folder is made absolute, so the
    run's saved config means the same place from anywhere.
    """
    root = (config.get("trainer") or {}).get("default_root_dir")
    if not root:
        return
    for entry in logger_configs(config):
        init_args = entry.get("init_args")
        if init_args is None:
            continue
        for key in ("save_dir", "dir"):
            value = init_args.get(key)
            if value and "://" not in str(value) and not Path(value).is_absolute():
                init_args[key] = str(Path(root, value).absolute())
