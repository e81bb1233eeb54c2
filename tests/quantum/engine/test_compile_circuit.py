"""The tape -> engine compiler: parameter maps, gate kinds, fused programs."""

from __future__ import annotations

import numpy as np
import pennylane as qml
import torch

from hqnn_pl.quantum.engine.circuit_run import CircuitProgram, gate_parameters
from hqnn_pl.quantum.engine.compile import compile_circuit


def mixed(inputs, w):
    qml.RX(2 * inputs[..., 0] + w[0], wires=0)  # affine in both
    qml.RY(w[1] * w[2], wires=1)  # not affine: the traced map replays it
    qml.RZ(torch.cos(inputs[..., 1]), wires=2)  # not affine, input-dependent
    qml.RX(0.3, wires=1)  # constant
    qml.CNOT(wires=[0, 2])
    qml.CZ(wires=[2, 0])  # composes with the CNOT into one gather and phase
    qml.IsingZZ(w[0] + w[1], wires=[0, 2])
    return [qml.expval(qml.X(0) @ qml.Y(2)), qml.probs(wires=[1])]


def test_parameter_map_is_affine_where_it_can_be_and_replayed_elsewhere() -> None:
    cc = compile_circuit(mixed, {"w": (3,)}, 3, 2)
    kinds = [(op.name, op.kind) for op in cc.ops]
    assert kinds == [("RX", "inputs"), ("RY", "inputs"), ("RZ", "inputs"), ("RX", "const"),
                     ("CNOT", "const"), ("CZ", "const"), ("IsingZZ", "weights")]  # fmt: skip
    assert cc.graph is not None and len(cc.nonaffine["inputs"]) == 2
    a_x, a_w, _ = cc.affine["inputs"]
    assert a_x[0].tolist() == [2.0, 0.0] and a_w[0].tolist() == [1.0, 0.0, 0.0]
    x = torch.tensor([[0.1, 0.2], [0.3, 0.4]], dtype=torch.float64)
    w = torch.tensor([0.5, 0.6, 0.7], dtype=torch.float64)
    params = gate_parameters(cc, x[None], [w[None]])
    expected = torch.stack([2 * x[:, 0] + w[0], (w[1] * w[2]).expand(2), torch.cos(x[:, 1])], 1)
    torch.testing.assert_close(params["inputs"][0], expected)
    torch.testing.assert_close(params["weights"][0, 0], (w[0] + w[1])[None])
    assert cc.gate_count == 7 and cc.n_outputs == 3 and cc.seconds > 0


def test_program_fuses_single_qubit_runs_and_composes_monomial_gates() -> None:
    cc = compile_circuit(mixed, {"w": (3,)}, 3, 2)
    steps = [step[0] for step in CircuitProgram(cc).steps]
    assert steps.count("mono") == 1  # CNOT then CZ: one gather with phases
    ones = [step for step in CircuitProgram(cc).steps if step[0] == "one"]
    assert any(len(step[2]) == 2 for step in ones)  # RY(w1 w2) then RX(0.3) on wire 1


def test_compiled_state_matches_default_qubit_state() -> None:
    def ansatz(inputs, w):
        qml.AngleEmbedding(inputs, wires=range(4))
        qml.StronglyEntanglingLayers(w, wires=range(4))
        qml.ctrl(qml.RY(inputs[..., 0], wires=3), control=[0, 1])
        return [qml.expval(qml.Z(3))]

    cc = compile_circuit(ansatz, {"w": (2, 4, 3)}, 4, 4)
    x = torch.rand(3, 4, dtype=torch.float64)
    w = torch.rand(2, 4, 3, dtype=torch.float64)
    program = CircuitProgram(cc)
    for dense in (False, True):
        state = program.run(gate_parameters(cc, x[None], [w[None]]), torch.complex128, 3, dense)
        tape = qml.tape.make_qscript(ansatz)(x, w)
        ref = qml.execute([qml.tape.QuantumScript(tape.operations, [qml.state()])],
                          qml.device("default.qubit"))[0]  # fmt: skip
        overlap = (state[0].conj() * torch.as_tensor(ref)).sum(-1).abs()
        np.testing.assert_allclose(overlap.numpy(), 1.0, atol=1e-12)
