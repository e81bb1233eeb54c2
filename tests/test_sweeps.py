"""W&B sweep files: the command line the agent builds from them parses, and it trains.

The command line is built by wandb's own sweep code (``create_sweep_command`` fills the
``command:`` template, ``create_sweep_command_args`` turns parameters into ``--key=value``) and
the agent's macro substitution; only the choice of one value per parameter is made here (the
``sweeps`` engine is not a dependency).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from wandb.sdk.launch.sweeps.utils import create_sweep_command, create_sweep_command_args

from hqnn_pl.cli import main
from tests.callbacks.helpers import offline_runs, wandb_offline
from tests.conftest import CONFIGS, REPO
from tests.harness import subprocess_env

__all__ = ["wandb_offline"]

SWEEPS = sorted((CONFIGS / "sweeps").glob("*.yaml"))
TINY = [
    "--trainer.max_epochs=1",
    "--trainer.limit_train_batches=2",
    "--trainer.limit_val_batches=1",
    "--trainer.limit_test_batches=1",
    "--trainer.enable_progress_bar=false",
    "--trainer.enable_model_summary=false",
]


def candidate_values(spec: dict[str, Any]) -> list[Any]:
    """Every value a parameter can take that is worth checking (all listed, or the bounds)."""
    if "value" in spec:
        return [spec["value"]]
    if "values" in spec:
        return list(spec["values"])
    return [spec["min"], spec["max"]]


def agent_command(sweep: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """The command the W&B agent runs for one set of parameter values (cf. wandb_agent.py)."""
    command = create_sweep_command(list(sweep["command"]))
    sweep_vars = create_sweep_command_args({"args": {k: {"value": v} for k, v in values.items()}})
    sweep_vars["env"] = ["/usr/bin/env"]
    sweep_vars["program"] = [sweep.get("program", "")]
    line: list[str] = []
    for chunk in map(str, command):
        if chunk.startswith("${") and chunk.endswith("}"):
            line += sweep_vars.get(chunk[2:-1]) or []
        else:
            line.append(chunk)
    return line


def load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def test_there_are_sweeps_for_hyperparameters_and_seeds() -> None:
    names = {p.name for p in SWEEPS}
    assert {"hqnn_parallel_lr_depth_qubits.yaml", "seeds.yaml"} <= names
    parameters = load(CONFIGS / "sweeps/hqnn_parallel_lr_depth_qubits.yaml")["parameters"]
    assert {"model.optimizer.lr", "model.depth", "model.n_qubits"} <= set(parameters)
    assert load(CONFIGS / "sweeps/seeds.yaml")["method"] == "grid"


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_every_parameter_value_is_a_valid_cli_setting(
    path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = load(path)
    command = sweep["command"]
    assert command[:3] == ["${env}", "hqnn-pl", "fit"] and command[3] == "--config"
    assert command[-1] == "${args}" and "${args_no_hyphens}" not in command
    monkeypatch.chdir(REPO)  # the agent runs from the repository root
    first = {key: candidate_values(spec)[0] for key, spec in sweep["parameters"].items()}
    for key, spec in sweep["parameters"].items():
        for value in candidate_values(spec):
            line = agent_command(sweep, {**first, key: value})
            assert line[:3] == ["/usr/bin/env", "hqnn-pl", "fit"]
            assert f"--{key}={value}" in line
            with pytest.raises(SystemExit) as parsed:
                main([*line[2:], "--print_config"])
            assert parsed.value.code == 0, capsys.readouterr().err
            printed = yaml.safe_load(capsys.readouterr().out)
            assert printed["trainer"]["logger"]["class_path"].endswith("WandbLogger")


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_the_agents_command_runs_a_tiny_fit(
    path: Path, wandb_offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first sweep runs as the agent would, a process; the others through main() (faster)."""
    sweep = load(path)
    values = {key: candidate_values(spec)[-1] for key, spec in sweep["parameters"].items()}
    line = agent_command(sweep, values)
    (wandb_offline / "configs").symlink_to(CONFIGS)  # the agent runs from the repository root
    if path == SWEEPS[0]:
        bin_dir = str(Path(sys.executable).parent)  # where the `hqnn-pl` script is installed
        env = subprocess_env(PATH=f"{bin_dir}:{subprocess_env()['PATH']}")
        result = subprocess.run(
            [*line, *TINY], cwd=wandb_offline, env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr[-3000:]
    else:
        main([*line[2:], *TINY])
    (run,) = offline_runs(wandb_offline / "runs")
    for key, value in values.items():  # the swept values reached the resolved config
        node: Any = run.config
        for part in key.split("."):
            node = node[part] if part in node else node["init_args"][part]
        assert node == value, key
    assert "val/acc" in run.summary


def test_a_sweep_parameter_that_is_not_a_cli_key_fails_at_parse_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = load(CONFIGS / "sweeps/hqnn_parallel_lr_depth_qubits.yaml")
    line = agent_command(sweep, {"model.n_qbits": 4})
    (tmp_path / "configs").symlink_to(CONFIGS)
    with pytest.raises(SystemExit) as failed:
        main(line[2:])
    assert failed.value.code == 2
    err = capsys.readouterr().err
    assert "takes no argument 'n_qbits'; did you mean n_qubits?" in err
    assert not (tmp_path / "runs").exists()
