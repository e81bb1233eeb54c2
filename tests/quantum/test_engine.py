from __future__ import annotations

import numpy as np
import pennylane as qml
import pytest
import torch

from hqnn_pl.quantum import engine


@pytest.mark.parametrize(("n_qubits", "depth"), [(1, 2), (2, 3), (3, 3), (4, 4), (5, 2)])
def test_strongly_entangling_unitary_matches_qml_matrix(n_qubits: int, depth: int) -> None:
    generator = torch.Generator().manual_seed(n_qubits)
    weights = torch.rand(depth, n_qubits, 3, generator=generator, dtype=torch.float64) * 6.3
    perms = torch.from_numpy(engine.strongly_entangling_permutations(n_qubits, depth))
    unitary = engine.build_unitary(engine.rot_matrices(weights, torch.complex128), perms)
    op = qml.StronglyEntanglingLayers(weights, wires=range(n_qubits))
    expected = qml.matrix(op, wire_order=range(n_qubits))
    torch.testing.assert_close(unitary, torch.as_tensor(expected), atol=1e-12, rtol=0)


def test_cnot_permutation_matches_qml_matrix() -> None:
    pairs = [(2, 3), (0, 2), (0, 3), (3, 1)]
    idx = engine.permutation_from_cnots(4, pairs)
    ops = [qml.CNOT(wires=p) for p in pairs]
    expected = qml.matrix(qml.prod(*reversed(ops)), wire_order=range(4))
    np.testing.assert_allclose(np.eye(16)[idx], np.real(expected), atol=0)


@pytest.mark.parametrize("observable", ["X", "Y"])
def test_pauli_basis_change_diagonalises(observable: str) -> None:
    v = engine.pauli_basis_change(observable, 1)
    pauli = qml.matrix(qml.PauliX(0) if observable == "X" else qml.PauliY(0))
    np.testing.assert_allclose(v.conj().T @ np.diag([1, -1]) @ v, pauli, atol=1e-15)


def test_product_state_and_signs_follow_pennylane_wire_order() -> None:
    # |10> (wire 0 set) is basis index 2 in PennyLane's ordering.
    state = engine.product_state(torch.tensor([[[0.0], [1.0]], [[1.0], [0.0]]]))[:, 0]
    assert state.tolist() == [0.0, 0.0, 1.0, 0.0]
    assert engine.z_sign_table(2).tolist() == [[1, 1], [1, -1], [-1, 1], [-1, -1]]


def test_pauli_transfer_table_gives_expectations_of_ry_product_states() -> None:
    rng = np.random.default_rng(0)
    n = 2
    angles = rng.uniform(-3, 3, size=n)
    observable = rng.normal(size=(4, 4))
    observable = observable + observable.T
    state = np.ones(1)
    for x in angles:
        state = np.kron(state, [np.cos(x / 2), np.sin(x / 2)])
    expected = state @ observable @ state
    features = np.ones(1)
    for x in angles:
        features = np.kron(features, [1.0, np.cos(x), np.sin(x)])
    table = engine.pauli_transfer_table(n)
    assert table.shape == (16, 9)
    np.testing.assert_allclose(features @ (observable.reshape(-1) @ table), expected, atol=1e-12)


def test_parameter_shift_value_matches_autograd() -> None:
    weights = torch.tensor([0.3, -1.2], dtype=torch.float64, requires_grad=True)

    def build(w: torch.Tensor) -> torch.Tensor:
        mats = torch.stack(
            [
                engine.rx_matrices(w[:, 0], torch.complex128),
                engine.ry_matrices(w[:, 1], torch.complex128),
            ],
            dim=-3,
        )
        return engine.stacked_real(engine.kron_layer(mats))

    value = engine.parameter_shift_value(weights, build)
    torch.testing.assert_close(value, build(weights[None])[0])
    cotangent = torch.randn(value.shape, dtype=torch.float64)
    (grad,) = torch.autograd.grad((value * cotangent).sum(), weights)
    (expected,) = torch.autograd.grad((build(weights[None])[0] * cotangent).sum(), weights)
    torch.testing.assert_close(grad, expected, atol=1e-12, rtol=0)
