"""hqnn-pl-robustness --devices on a trained checkpoint, and fit under a device's noise."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytest.importorskip("qiskit_ibm_runtime")

from hqnn_pl.cli import main as hqnn_pl
from hqnn_pl.experiments.robustness import main
from tests.conftest import CONFIGS

pytestmark = pytest.mark.devices


def _fit(folder: Path, *extra: str) -> Path:
    hqnn_pl(
        [
            "fit", "--config", str(CONFIGS / "quickstart.yaml"),
            "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2",
            "--trainer.limit_val_batches", "1", "--test_after_fit", "false",
            "--trainer.enable_progress_bar", "false",
            "--trainer.default_root_dir", str(folder),
            "--trainer.logger.init_args.save_dir", str(folder / "runs"), *extra,
        ]
    )  # fmt: skip
    return folder / "runs/quickstart/version_0"


@pytest.fixture(scope="module")
def device_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Noise-aware training: fit with the device option."""
    folder = tmp_path_factory.mktemp("device_run")
    return _fit(folder, "--model.init_args.execution.noise", "{device: fake_manila}")


def test_fit_with_a_device_trains_on_the_compiled_circuit(device_run: Path) -> None:
    assert "fake_manila" in (device_run / "config.yaml").read_text()
    execution = json.loads((device_run / "execution.json").read_text())
    layer = execution["layers"]["network.middle"]
    assert layer["execution"]["noise"] == {"device": "fake_manila"}
    assert set(layer["routes_taken"]) == {"device"}
    cost = json.loads((device_run / "hardware_cost.json").read_text())
    assert cost["layers"]["network.middle"]["device"] == "fake_manila"
    qasm = device_run / "circuits/network.middle.fake_manila.compiled.qasm"
    assert "OPENQASM 3" in qasm.read_text() and "input float" in qasm.read_text()
    stats = json.loads(qasm.with_suffix(".json").read_text())
    assert stats["device"] == "fake_manila" and stats["two_qubit_gates"] > 0


def test_robustness_devices_reports_accuracy_and_compiled_circuits(
    device_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "rob"
    main(
        [
            "--config", str(device_run / "config.yaml"),
            "--ckpt_path", str(device_run / "checkpoints/last.ckpt"),
            "--out", str(out), "--shots", "--depolarizing", "--amplitude_damping", "--readout",
            "--devices", "fake_torino", "fake_manila", "--device_shots", "200",
            "--repeats", "2", "--max_samples", "32",
        ]
    )  # fmt: skip
    rows = list(csv.DictReader((out / "robustness.csv").open()))
    devices = [row["value"] for row in rows if row["kind"] == "device"]
    assert devices == ["fake_torino", "fake_torino", "fake_manila", "fake_manila"]
    table = list(csv.DictReader((out / "robustness_devices.csv").open()))
    assert [row["device"] for row in table] == ["fake_torino", "fake_manila"]
    for row in table:
        assert int(row["two_qubit_gates"]) >= 15 and int(row["depth"]) > 0
        assert float(row["device_seconds_per_image"]) > 0 and row["shots"] == "200"
    markdown = (out / "robustness.md").read_text()
    assert "## Devices" in markdown and "| fake_torino |" in markdown
    assert (out / "robustness_devices.png").stat().st_size > 1000
    assert (out / "circuits/network.middle.fake_torino.compiled.qasm").is_file()


def test_an_unknown_device_exits_2_in_one_line(device_run: Path, capsys) -> None:
    with pytest.raises(SystemExit) as failed:
        main(
            [
                "--config", str(device_run / "config.yaml"),
                "--ckpt_path", str(device_run / "checkpoints/last.ckpt"),
                "--devices", "fake_atlantis",
            ]
        )  # fmt: skip
    assert failed.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Unknown device 'fake_atlantis'" in err[0]


@pytest.mark.parametrize(
    ("noise", "message"),
    [
        ("{device: fake_nowhere}", "Unknown device 'fake_nowhere'"),
        ("{device: fake_torino, qubits: [0, 1, 2, 3, 9]}", "are not coupled on fake_torino"),
        ("{device: fake_torino, qubits: [0, 1]}", "lists 2"),
    ],
)
def test_fit_refuses_bad_device_settings_with_exit_2(capsys, noise: str, message: str) -> None:
    with pytest.raises(SystemExit) as failed:
        hqnn_pl(
            [
                "fit", "--config", str(CONFIGS / "quickstart.yaml"),
                "--trainer.fast_dev_run", "true", "--model.init_args.execution.noise", noise,
            ]
        )  # fmt: skip
    assert failed.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and message in err[0]
