"""CircuitClassifier: a user's circuit trained from YAML and from Python, drawn and diagnosed."""

from __future__ import annotations

import json
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from hqnn_pl.analysis.cli import main as diagnose
from hqnn_pl.errors import ConfigurationError
from hqnn_pl.models import CircuitClassifier
from hqnn_pl.models.circuit import resolve_circuit
from hqnn_pl.quantum import CircuitLayer
from tests.conftest import CONFIGS
from tests.harness import assert_trained_and_tested, fails_with, fit, only_run

CONFIG = str(CONFIGS / "digits" / "circuit.yaml")
USER = "tests.models.user_circuits.ring_ansatz"
USER_ARGS = [
    f"--model.init_args.circuit={USER}",
    "--model.init_args.weight_shapes={layers: [2, 3], twist: [1]}",
    "--model.init_args.n_qubits=3",
]


def test_example_config_trains_tests_and_reports_the_circuit() -> None:
    fit(config=CONFIG)
    run = only_run()
    assert_trained_and_tested(run, steps=3)
    counts = json.loads((run / "parameter_counts.json").read_text())
    assert "64" in json.dumps(counts)  # 2 copies x (24 Rot + 8 CRZ) circuit weights
    assert json.loads((run / "hardware_cost.json").read_text())
    drawings = sorted(p.name for p in (run / "circuits").iterdir())
    assert drawings and any("reuploading" in (run / "circuits" / d).read_text(errors="ignore")
                            or d.endswith(".png") for d in drawings)  # fmt: skip
    assert "network.middle" in json.loads((run / "execution.json").read_text())["layers"]


def test_an_unseen_circuit_trains_from_yaml() -> None:
    fit(*USER_ARGS, config=CONFIG)
    run = only_run()
    assert_trained_and_tested(run, steps=3)
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert state["network.middle.layers"].shape == (2, 2, 3)  # two copies, named weights
    assert state["network.middle.twist"].shape == (2, 1)


def test_a_missing_circuit_fails_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    line = fails_with(capsys, 2, "fit", "--config", CONFIG,
                      "--model.init_args.circuit=no_such_pkg.circuits.ansatz")  # fmt: skip
    assert "no_such_pkg.circuits.ansatz" in line and "PYTHONPATH" in line
    line = fails_with(capsys, 2, "fit", "--config", CONFIG,
                      "--model.init_args.circuit=hqnn_pl.examples.circuits.nope")  # fmt: skip
    assert "has no function 'nope'" in line
    with pytest.raises(ConfigurationError, match="not an import path"):
        resolve_circuit("ansatz")


def test_an_unseen_circuit_trains_from_python() -> None:
    pl.seed_everything(0)
    model = CircuitClassifier(
        num_classes=3, in_channels=1, image_size=8, circuit=USER,
        weight_shapes={"layers": [2, 3], "twist": [1]}, n_qubits=3, conv_channels=[4],
    )  # fmt: skip
    layer = model.network.middle
    assert isinstance(layer, CircuitLayer) and layer.out_features == 1 + 2
    x, y = torch.rand(16, 1, 8, 8), torch.arange(16) % 3
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    before = layer.layers.detach().clone()
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    assert not torch.equal(before, layer.layers)


def test_diagnose_runs_every_measure_on_the_circuit(tmp_path: Path) -> None:
    small = ["--fourier_draws", "5", "--pairs", "750", "--entangling_samples", "20",
             "--gradient_samples", "10"]  # fmt: skip
    diagnose(["--config", CONFIG, "--out", str(tmp_path), *small])
    layer = json.loads((tmp_path / "diagnostics.json").read_text())["layers"]["network.middle"]
    assert layer["type"] == "CircuitLayer" and layer["n_circuits"] == 2
    assert layer["zx"]["parameters"] == 32 + 4
    assert layer["expressibility"]["kl_to_haar"] > 0
    assert 0 < layer["entangling_capability"]["mean_meyer_wallach"] < 1
    assert layer["gradient_variance"]["qubits"] == [4]
    assert layer["gradient_variance"]["variance"][0][0] > 0
    assert len(layer["fourier"]["actual"]) == 2
