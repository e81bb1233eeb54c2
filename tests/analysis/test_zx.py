import pennylane as qml
import pytest
import torch

from hqnn_pl.analysis.specs import CircuitSpec, circuit_spec
from hqnn_pl.analysis.zx import import_pyzx, zx_analysis
from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import ParallelQuantumLayer


def _redundant(inputs, weights):
    qml.RX(inputs[..., 0], wires=0)
    qml.RX(inputs[..., 1], wires=1)
    qml.RZ(weights[..., 0], wires=0)
    qml.RZ(weights[..., 1], wires=0)  # fuses with the one before: only w0 + w1 matters
    qml.CNOT(wires=[0, 1])
    qml.RY(weights[..., 2], wires=1)
    return [qml.expval(qml.PauliZ(1))]


def test_two_consecutive_rz_are_reported_as_redundant() -> None:
    spec = CircuitSpec(
        name="redundant",
        qfunc=_redundant,
        kwargs={},
        n_qubits=2,
        n_inputs=2,
        weight_shape=(3,),
        input_kind="angle",
        circuit_weights=torch.zeros(1, 3, dtype=torch.float64),
    )
    result = zx_analysis(spec)
    assert result.stable
    assert result.redundant
    assert result.rank == 4 and len(result.parameters) == 5
    assert result.merged == ["w[0] + w[1]"]
    assert result.missing == []


def test_hqnn_parallel_circuit_as_measured() -> None:
    result = zx_analysis(circuit_spec(ParallelQuantumLayer(n_qubits=3, n_circuits=1, depth=2)))
    # 18 weights and 3 inputs: every one keeps its own spider after full_reduce (measured; the
    # paper's claim for the 5-qubit, depth-3 circuit holds there too, see the README).
    assert result.stable and not result.redundant
    assert result.rank == len(result.parameters) == 21
    assert result.stats_after["tcount"] == 21


def test_missing_pyzx_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_pyzx(name: str, *args: object, **kwargs: object) -> object:
        if name == "pyzx":
            raise ImportError("No module named 'pyzx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyzx)
    with pytest.raises(ConfigurationError, match="pip install 'pyzx"):
        import_pyzx()
