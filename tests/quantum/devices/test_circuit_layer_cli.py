"""A user's circuit trained under a device's noise from the CLI, then hqnn-pl-robustness on it.

``configs/digits/circuit.yaml`` (the example re-uploading ansatz, which measures ``Z Z`` words and
``X_0``: two measurement bases, two compiled circuits) with ``noise: {device: fake_manila}``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytest.importorskip("qiskit_ibm_runtime")

from hqnn_pl.cli import main as hqnn_pl
from hqnn_pl.experiments.robustness import main as robustness
from tests.conftest import CONFIGS

pytestmark = pytest.mark.devices


def test_fit_and_robustness_run_a_users_circuit_on_a_device(tmp_path: Path) -> None:
    hqnn_pl(
        [
            "fit", "--config", str(CONFIGS / "digits/circuit.yaml"),
            "--model.init_args.execution.noise", "{device: fake_manila}",
            "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2",
            "--trainer.limit_val_batches", "1", "--test_after_fit", "false",
            "--trainer.enable_progress_bar", "false",
            "--trainer.default_root_dir", str(tmp_path),
            "--trainer.logger.init_args.save_dir", str(tmp_path / "runs"),
        ]
    )  # fmt: skip
    run = tmp_path / "runs/digits_circuit/version_0"
    layer = json.loads((run / "execution.json").read_text())["layers"]["network.middle"]
    assert layer["execution"]["noise"] == {"device": "fake_manila"}
    assert set(layer["routes_taken"]) == {"device"}
    qasm = run / "circuits/network.middle.fake_manila.compiled.qasm"
    assert "OPENQASM 3" in qasm.read_text() and "input float" in qasm.read_text()
    assert (run / "circuits/network.middle.fake_manila.basis1.compiled.qasm").is_file()
    stats = json.loads(qasm.with_suffix(".json").read_text())
    assert stats["device"] == "fake_manila" and stats["measurement_circuits"] == 2
    cost = json.loads((run / "hardware_cost.json").read_text())["layers"]["network.middle"]
    assert cost["device"] == "fake_manila" and cost["two_qubit_gates"] > 0

    out = tmp_path / "rob"
    robustness(
        [
            "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "checkpoints/last.ckpt"),
            "--out", str(out), "--shots", "--depolarizing", "--amplitude_damping", "--readout",
            "--devices", "fake_manila", "--device_shots", "200", "--repeats", "1",
            "--max_samples", "16",
        ]
    )  # fmt: skip
    (row,) = list(csv.DictReader((out / "robustness_devices.csv").open()))
    assert row["device"] == "fake_manila" and row["layer"] == "network.middle"
    assert int(row["two_qubit_gates"]) > 0 and float(row["device_seconds_per_image"]) > 0
    assert 0.0 <= float(row["accuracy"]) <= 1.0 and row["shots"] == "200"
    assert (out / "circuits/network.middle.fake_manila.compiled.qasm").is_file()
