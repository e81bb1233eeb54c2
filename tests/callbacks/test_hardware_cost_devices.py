"""HardwareCost and hqnn-pl-diagnose --only hardware_cost with a device: the compiled circuit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("qiskit_ibm_runtime")

from hqnn_pl.analysis.cli import main as diagnose
from hqnn_pl.callbacks.hardware_cost import format_report, hardware_cost
from hqnn_pl.models import HQNNParallel
from tests.conftest import CONFIGS

pytestmark = pytest.mark.devices


def test_the_cost_counts_the_compiled_circuit() -> None:
    model = HQNNParallel(
        num_classes=10, in_channels=1, image_size=16,
        execution={"noise": {"device": "fake_torino"}},
    )  # fmt: skip
    report = hardware_cost(model, batch_size=8, train_samples=None, shots=100, shot_rate=1e4)
    layer = report["layers"]["network.middle"]
    compiled = model.network.middle.device_circuit()
    # Routed to the heavy-hex lattice: more native two-qubit gates than the 15 CNOTs written.
    assert layer["device"] == "fake_torino" and layer["two_qubit_gates"] > 15
    assert layer["two_qubit_gates"] == compiled.two_qubit_gates and layer["swaps"] == compiled.swaps
    assert layer["depth"] == compiled.depth and layer["qubits"] == len(compiled.physical)
    assert layer["device_seconds_per_sample"] == pytest.approx(4 * compiled.duration)
    assert 1e-7 < compiled.duration < 1e-3
    assert "compiled to fake_torino" in format_report("HQNNParallel", report)


def test_diagnose_hardware_cost_uses_the_device_of_the_config(tmp_path: Path) -> None:
    text = (CONFIGS / "quickstart.yaml").read_text()
    config = tmp_path / "device.yaml"
    config.write_text(
        text.replace(
            "    depth: 3\n",
            "    depth: 3\n    execution:\n      noise: {device: fake_manila}\n",
        )
    )
    diagnose(["--config", str(config), "--only", "hardware_cost", "--out", str(tmp_path / "d")])
    cost = json.loads((tmp_path / "d/diagnostics.json").read_text())["hardware_cost"]
    layer = cost["layers"]["network.middle"]
    assert layer["device"] == "fake_manila" and layer["swaps"] > 0
    assert layer["physical_qubits"] == [0, 1, 2, 3, 4]
