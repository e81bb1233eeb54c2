from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from hqnn_pl.callbacks.parameter_count import count_parameters, top_level_blocks
from hqnn_pl.models import CNN, HQNNParallel
from hqnn_pl.quantum import Quanv2d, RandomQuanv2d
from tests.harness import fit


def test_counts_are_exact_and_split_into_quantum_and_classical() -> None:
    model = HQNNParallel(num_classes=10, in_channels=1, image_size=28)
    counts = count_parameters(model)
    assert counts == {
        "total": 45194,
        "trainable": 45194,
        "frozen": 0,
        "quantum": 180,  # 4 circuits x depth 3 x 5 qubits x 3 angles
        "classical": 45014,
    }
    assert model.parameter_counts() == {
        key: counts[key] for key in ("trainable", "quantum", "classical")
    }
    assert count_parameters(CNN(num_classes=10, in_channels=1, image_size=28))["quantum"] == 0


def test_frozen_parameters_and_random_circuit_buffers() -> None:
    model = HQNNParallel(num_classes=10, in_channels=1, image_size=16)
    for parameter in model.network.trunk.parameters():
        parameter.requires_grad_(False)
    counts = count_parameters(model)
    assert counts["frozen"] == count_parameters(model.network.trunk)["total"] > 0
    assert counts["total"] == counts["trainable"] + counts["frozen"]
    assert counts["quantum"] == 180
    # a random quanvolution's fixed angles are a buffer: no parameters, quantum or otherwise
    assert count_parameters(RandomQuanv2d())["total"] == 0
    assert count_parameters(Quanv2d())["quantum"] == 4


def test_top_level_blocks_look_through_the_network() -> None:
    model = HQNNParallel(num_classes=10, in_channels=1, image_size=16)
    names = [name for name, _ in top_level_blocks(model)]
    assert names == ["network.trunk", "network.encoder", "network.middle", "network.head"]
    assert sum(count_parameters(b)["total"] for _, b in top_level_blocks(model)) == 24074


def test_fit_prints_the_table_writes_json_and_logs_hyperparameters(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging.getLogger("lightning.pytorch"), "propagate", True)
    with caplog.at_level(logging.INFO):
        fit("--trainer.callbacks+=hqnn_pl.callbacks.ParameterCount")
    run = tmp_path / "runs/quickstart/version_0"
    counts = json.loads((run / "parameter_counts.json").read_text())
    assert counts["model"] == "HQNNParallel"
    assert (counts["total"], counts["quantum"], counts["classical"]) == (24074, 180, 23894)
    assert counts["blocks"]["network.middle"] == {
        "total": 180,
        "trainable": 180,
        "frozen": 0,
        "quantum": 180,
        "classical": 0,
    }
    hparams = yaml.safe_load((run / "hparams.yaml").read_text())
    assert hparams["params/quantum"] == 180 and hparams["params/total"] == 24074
    assert hparams["n_qubits"] == 5  # the model's own hyperparameters are still there
    table = next(r.getMessage() for r in caplog.records if "Parameters of" in r.getMessage())
    lines = table.splitlines()
    assert lines[1].split() == ["block", "total", "trainable", "frozen", "quantum", "classical"]
    assert lines[-1].split() == ["total", "24,074", "24,074", "0", "180", "23,894"]
