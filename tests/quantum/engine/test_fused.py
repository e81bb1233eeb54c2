"""The fused route's plan (blocks, diagonal layers, layout) and its written-out backward."""

from __future__ import annotations

import gc
import weakref

import pennylane as qml
import pytest
import torch

from hqnn_pl.quantum import CircuitLayer, Execution
from hqnn_pl.quantum.engine.circuit_run import CircuitProgram, gate_parameters
from hqnn_pl.quantum.engine.compile import compile_circuit
from hqnn_pl.quantum.engine.fused import FusedProgram
from tests.quantum.battery import BatteryCircuit, oracle, random_circuit


def _final_states(entry: BatteryCircuit, block_qubits: int | None, batch: int = 4):
    """The fused and the gate-wise final states (float64) and their gradients."""
    cc = compile_circuit(entry.circuit, entry.weight_shapes, entry.n_qubits, entry.n_inputs)
    program = CircuitProgram(cc)
    fused = FusedProgram(cc, block_qubits)
    gen = torch.Generator().manual_seed(entry.n_qubits)
    x = torch.rand(1, batch, entry.n_inputs, generator=gen, dtype=torch.float64) * 6
    weights = [torch.rand(1, *s, generator=gen, dtype=torch.float64) * 6
               for s in entry.weight_shapes.values()]  # fmt: skip
    probe = torch.randn(1, batch, 2**entry.n_qubits, generator=gen, dtype=torch.complex128)
    results = []
    for run in (lambda p: fused.run(program, p, torch.complex128, batch),
                lambda p: program.run(p, torch.complex128, batch, dense=False)):  # fmt: skip
        leaves = [t.clone().requires_grad_() for t in (x, *weights)]
        state = run(gate_parameters(cc, leaves[0], leaves[1:]))
        loss = (state * probe).real.sum()
        results.append((state.detach(), torch.autograd.grad(loss, leaves)))
    return fused, results


@pytest.mark.parametrize("n_qubits,seed", [(3, 31), (5, 52), (7, 73)])
def test_every_block_size_gives_the_gatewise_state_and_gradients(n_qubits: int, seed: int) -> None:
    entry = random_circuit(n_qubits, seed)
    for k in range(1, n_qubits + 1):
        fused, ((state, grads), (ref, ref_grads)) = _final_states(entry, k)
        widths = [len(order) for group in fused._blocks.values() for order, _ in group]
        multi = max((len(op.wires) for op in fused.cc.ops), default=1)
        assert max(widths) <= max(k, multi), (k, widths)  # only a wider gate makes a wider block
        torch.testing.assert_close(state, ref, atol=1e-12, rtol=0)
        for g, r in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(g, r, atol=1e-11, rtol=0)


def embed_and_entangle(inputs, w):
    qml.RZ(inputs[..., 0], wires=0)  # layer 1
    qml.CNOT(wires=[0, 1])  # block-diagonal on wire 0: layer 1 passes it
    qml.CRZ(w[0], wires=[2, 0])  # diagonal: passes it too
    qml.PhaseShift(inputs[..., 1], wires=0)  # joins layer 1
    qml.RX(inputs[..., 2], wires=2)  # V^† D V: its D joins layer 1, its V follows the layer
    qml.CNOT(wires=[2, 1])  # mixes wire 1 after the V: follows layer 1 too
    qml.RZ(inputs[..., 0], wires=1)  # after that CNOT on its target: layer 2
    qml.RY(w[1], wires=0)
    return [qml.expval(qml.Z(0) @ qml.X(1)), qml.expval(qml.Y(2))]


def test_input_gates_form_one_phase_layer_through_gates_that_commute_with_them() -> None:
    entry = BatteryCircuit("embed_and_entangle", embed_and_entangle, {"w": (2,)}, 3, 3)
    fused, ((state, grads), (ref, ref_grads)) = _final_states(entry, 2)
    assert [sum(len(chunk.entries) for chunk in layer) for layer in fused.layers] == [3, 1]
    assert [s.kind for s in fused.steps].count("diag") == 2
    torch.testing.assert_close(state, ref, atol=1e-12, rtol=0)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, atol=1e-11, rtol=0)


def rotations_of_inputs(inputs, w):
    qml.Rot(inputs[..., 0], w[0], 2 * inputs[..., 1], wires=1)  # split into three rotations
    qml.U3(inputs[..., 1], w[1], inputs[..., 0], wires=0)  # no generator: runs per sample
    qml.CNOT(wires=[0, 2])
    qml.QubitUnitary(qml.matrix(qml.RandomLayers(torch.ones(1, 3), wires=[0, 2], seed=1)),
                     wires=[2, 0])  # fmt: skip
    return [qml.expval(qml.X(0) @ qml.Z(2)), qml.probs([1, 2])]


def test_rot_of_inputs_becomes_phases_and_u3_runs_per_sample() -> None:
    entry = BatteryCircuit("rotations", rotations_of_inputs, {"w": (2,)}, 3, 2)
    fused, ((state, grads), (ref, ref_grads)) = _final_states(entry, None)
    kinds = [s.kind for s in fused.steps]
    assert kinds.count("sample") == 1  # U3
    assert sum(len(c.entries) for layer in fused.layers for c in layer) == 3  # Rot's three angles
    torch.testing.assert_close(state, ref, atol=1e-12, rtol=0)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, atol=1e-11, rtol=0)


def test_noncontiguous_blocks_are_permuted_and_the_state_returns_in_wire_order() -> None:
    def far_apart(inputs, w):
        qml.AngleEmbedding(inputs, wires=range(6), rotation="Y")
        for a, b in [(0, 5), (1, 4), (2, 3), (0, 3)]:
            qml.IsingXX(w[a], wires=[a, b])
            qml.CNOT(wires=[b, a])
        return [qml.expval(qml.Z(0) @ qml.Z(5)), qml.probs([4, 1])]

    entry = BatteryCircuit("far_apart", far_apart, {"w": (6,)}, 6, 6)
    fused, ((state, _), (ref, _)) = _final_states(entry, 2)
    assert fused.n_permutes > 0 and fused.final_axes != tuple(range(6))
    torch.testing.assert_close(state, ref, atol=1e-12, rtol=0)


def test_circuit_layer_plans_fused_unless_told_otherwise() -> None:
    entry = random_circuit(4, 4)
    shapes = entry.weight_shapes
    x = torch.rand(3, 4, dtype=torch.float64)
    expected = {"auto": ({}, "fused"), "method gatewise": ({"method": "gatewise"}, "fused"),
                "method dense": ({"method": "dense"}, "dense"),
                "route gatewise": ({"route": "gatewise"}, "gatewise")}  # fmt: skip
    for label, (execution, route) in expected.items():
        layer = CircuitLayer(entry.circuit, shapes, 4, execution=Execution(**execution),
                             seed=0).double()  # fmt: skip
        out = layer(x)
        assert layer.route == route, label
        weights = {k: getattr(layer, k) for k in shapes}
        torch.testing.assert_close(out, oracle(entry, x, weights), atol=1e-10, rtol=0)


def test_backward_frees_the_saved_states_without_the_garbage_collector() -> None:
    entry = random_circuit(5, 8)
    layer = CircuitLayer(entry.circuit, entry.weight_shapes, 5, seed=0)
    out = layer(torch.rand(4, 5))
    node, seen = out.grad_fn, set()
    stack = [node]
    while stack:  # find the evolution's node
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if type(node).__name__ == "_EvolveBackward":
            break
        stack.extend(n for n, _ in node.next_functions)
    assert type(node).__name__ == "_EvolveBackward"
    states = [weakref.ref(s) for s in node.states]
    assert states and all(r() is not None for r in states)
    gc.disable()
    try:
        out.sum().backward()
        del out, node, stack
        assert all(r() is None for r in states)  # no reference cycle keeps them alive
    finally:
        gc.enable()


def test_gradcheck_and_second_derivatives() -> None:
    entry = random_circuit(3, 23, n_gates=12)
    layer = CircuitLayer(entry.circuit, entry.weight_shapes, 3, seed=0).double()
    names = list(entry.weight_shapes)

    def run(x: torch.Tensor, *weights: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(layer, dict(zip(names, weights, strict=True)), (x,))
        assert layer.route == "fused"
        return out

    x = torch.rand(2, 3, dtype=torch.float64, requires_grad=True)
    weights = [getattr(layer, k).detach().clone().requires_grad_() for k in names]
    # create_graph: the backward pass re-runs the steps under autograd
    assert torch.autograd.gradcheck(run, (x, *weights))
    assert torch.autograd.gradgradcheck(run, (x, *weights))


def test_inference_gives_the_same_outputs_without_an_autograd_node() -> None:
    entry = random_circuit(5, 5000)
    layer = CircuitLayer(entry.circuit, entry.weight_shapes, 5, seed=0).double()
    x = torch.rand(3, 5, dtype=torch.float64)
    trained = layer(x)
    with torch.no_grad():
        plain = layer(x)
    with torch.inference_mode():
        inference = layer(x)
    assert trained.grad_fn is not None and plain.grad_fn is None
    torch.testing.assert_close(plain, trained, atol=0, rtol=0)
    torch.testing.assert_close(inference, trained, atol=0, rtol=0)
