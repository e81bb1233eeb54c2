"""HardwareCost: qubits, gates, depth and device executions of every quantum layer."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from hqnn_pl.callbacks.hardware_cost import circuit_specs, execution_report, hardware_cost
from hqnn_pl.cli import main
from hqnn_pl.models import HQNNParallel, HQNNQuanv
from hqnn_pl.quantum import Execution, QuantumPointwiseConv2d
from tests.conftest import CONFIGS


def test_hqnn_parallel_cost_on_mnist() -> None:
    model = HQNNParallel(num_classes=10, in_channels=1, image_size=28)
    report = hardware_cost(model, batch_size=64, train_samples=1000, shots=100, shot_rate=1e4)
    layer = report["layers"]["network.middle"]
    # 5 RX + 3 x 5 Rot; 3 x 5 CNOT (StronglyEntanglingLayers, 5 qubits, depth 3)
    assert (layer["qubits"], layer["one_qubit_gates"], layer["two_qubit_gates"]) == (5, 20, 15)
    assert layer["circuits_per_sample"] == 4
    assert report["executions_per_forward_batch"] == 4 * 64
    # parameter shift: 1 + 2 x (45 weights + 5 input angles) executions per circuit
    assert report["executions_per_epoch_parameter_shift"] == 1000 * 4 * 101
    assert report["shots_per_epoch"] == 1000 * 4 * 101 * 100
    assert abs(report["device_hours_per_epoch"] - 1000 * 4 * 101 * 100 / 1e4 / 3600) < 1e-12


def test_quanv_runs_one_circuit_per_patch() -> None:
    model = HQNNQuanv(num_classes=10, in_channels=1, image_size=28)
    report = hardware_cost(model, batch_size=8, train_samples=None, shots=10, shot_rate=1.0)
    (layer,) = report["layers"].values()
    assert layer["circuits_per_sample"] == 14 * 14
    assert (layer["one_qubit_gates"], layer["two_qubit_gates"]) == (8, 3)
    assert "shots_per_epoch" not in report


def test_state_preparation_is_counted_apart() -> None:
    specs = circuit_specs(QuantumPointwiseConv2d(8, depth=2))
    assert specs["state_preparations"] == 1 and specs["two_qubit_gates"] == 6


def test_cli_prints_and_writes_the_cost(tmp_path: Path, capsys) -> None:
    main(["fit", "--config", str(CONFIGS / "quickstart.yaml"), "--trainer.fast_dev_run", "true"])
    report = json.loads((tmp_path / "hardware_cost.json").read_text())
    assert report["model"] == "HQNNParallel" and report["shots_per_epoch"] > 0
    execution = json.loads((tmp_path / "execution.json").read_text())
    layer = execution["layers"]["network.middle"]
    assert layer["execution"]["backend"] == "torch" and layer["execution"]["route"] == "auto"
    assert layer["routes_taken"] and layer["route"] in layer["routes_taken"]


def test_execution_report_names_each_layers_routes() -> None:
    model = HQNNParallel(
        num_classes=10, in_channels=1, image_size=16, execution=Execution(route="gatewise")
    )
    model(torch.rand(2, 1, 16, 16))
    (layer,) = execution_report(model)["layers"].values()
    assert layer["route"] == "gatewise" and layer["routes_taken"] == {"gatewise": 1}
    assert layer["execution"]["route"] == "gatewise"
