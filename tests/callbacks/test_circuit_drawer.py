from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from hqnn_pl.callbacks import CircuitDrawer
from hqnn_pl.callbacks.utils import quantum_layers
from hqnn_pl.models import CNN, HQNNParallel
from hqnn_pl.quantum import ParallelQuantumLayer, QuantumPointwiseConv2d, Quanv2d, RandomQuanv2d
from hqnn_pl.quantum.execution import Execution
from tests.harness import fit

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_fit_draws_start_and_trained_circuits_and_exports_qasm(tmp_path: Path) -> None:
    fit(
        "--trainer.callbacks+=hqnn_pl.callbacks.CircuitDrawer",
        "--trainer.callbacks.openqasm=true",
    )
    folder = tmp_path / "runs/quickstart/version_0/circuits"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        f"network.middle.circuit{c}.example_inputs.{end}"
        for c in range(4)
        for end in ("start.png", "start.txt", "trained.png", "trained.qasm", "trained.txt")
    ]
    start = (folder / "network.middle.circuit0.example_inputs.start.txt").read_text()
    trained = (folder / "network.middle.circuit0.example_inputs.trained.txt").read_text()
    other = (folder / "network.middle.circuit3.example_inputs.start.txt").read_text()
    assert "placeholder example inputs" in start and "circuit 0 of 4" in start
    assert other.splitlines()[1:] != start.splitlines()[1:]  # each circuit has its own weights
    assert "RX(0.10)" in start and "Rot(" in start and "<Y>" in start  # device-level gates
    assert start != trained  # the trained weights are drawn
    for png in folder.glob("*.png"):
        assert png.read_bytes()[:8] == PNG_MAGIC
    qasm = (folder / "network.middle.circuit1.example_inputs.trained.qasm").read_text()
    assert qasm.startswith("OPENQASM 2.0") and "qreg q[5]" in qasm
    assert plt.get_fignums() == []  # every figure was closed


@pytest.mark.parametrize(
    "layer",
    [
        Quanv2d(),
        RandomQuanv2d(kernel_size=2),
        QuantumPointwiseConv2d(in_channels=6, depth=2),
        ParallelQuantumLayer(
            n_qubits=3, n_circuits=2, depth=1, execution=Execution(backend="pennylane")
        ),
    ],
    ids=["quanv", "quanv-random", "pointwise", "parallel-pennylane"],
)
def test_every_layer_and_both_backends_draw(layer: object, tmp_path: Path) -> None:
    drawer = CircuitDrawer(openqasm=True)
    png = drawer.draw(layer, tmp_path / "circuit.start")
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert (
        "<Z>" in (tmp_path / "circuit.start.txt").read_text()
        or "<Y>" in (tmp_path / "circuit.start.txt").read_text()
    )
    drawer.export_openqasm(layer, tmp_path / "circuit.qasm", "layer")
    assert (tmp_path / "circuit.qasm").read_text().startswith("OPENQASM 2.0")
    assert plt.get_fignums() == []


def test_pennylane_backend_run_draws_its_circuits(tmp_path: Path) -> None:
    fit(
        "--model.init_args.execution.backend=pennylane",
        "--trainer.limit_train_batches=1",
        "--trainer.limit_val_batches=1",
        "--test_after_fit=false",
        "--trainer.callbacks+=hqnn_pl.callbacks.CircuitDrawer",
    )
    folder = tmp_path / "runs/quickstart/version_0/circuits"
    png = folder / "network.middle.circuit0.example_inputs.trained.png"
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_only_quantum_layers_are_found() -> None:
    assert quantum_layers(CNN(num_classes=10, in_channels=1, image_size=16)) == []
    layers = quantum_layers(HQNNParallel(num_classes=10, in_channels=1, image_size=16))
    assert [name for name, _ in layers] == ["network.middle"]


def test_a_failing_drawing_is_a_warning_not_a_failed_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no drawing today")

    monkeypatch.setattr(CircuitDrawer, "draw", broken)
    with pytest.warns(UserWarning, match="could not draw circuit 0 of network.middle.*no drawing"):
        fit("--trainer.callbacks+=hqnn_pl.callbacks.CircuitDrawer", "--test_after_fit=false")
    assert (tmp_path / "runs/quickstart/version_0/checkpoints/last.ckpt").is_file()
