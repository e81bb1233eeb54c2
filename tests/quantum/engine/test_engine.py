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
    state = _ry_state(angles)
    expected = state @ observable @ state
    features = np.ones(1)
    for x in angles:
        features = np.kron(features, [1.0, np.cos(x), np.sin(x)])
    table = engine.pauli_transfer_table(n)
    assert table.shape == (16, 9)
    np.testing.assert_allclose(features @ (observable.reshape(-1) @ table), expected, atol=1e-12)


def _ry_state(angles: np.ndarray) -> np.ndarray:
    state = np.ones(1)
    for x in angles:
        state = np.kron(state, [np.cos(x / 2), np.sin(x / 2)])
    return state


def test_z_transfer_gives_expvals_of_the_evolved_state() -> None:
    rng = np.random.default_rng(1)
    n = 3
    weights = rng.uniform(0, 2 * np.pi, size=(2, n))
    unitary = qml.matrix(qml.RandomLayers(weights, wires=range(n), seed=4), wire_order=range(n))
    angles = rng.uniform(-4, 4, size=n)
    state = unitary @ _ry_state(angles)
    expected = engine.z_sign_table(n).T @ np.abs(state) ** 2
    transfer = engine.z_transfer(unitary)
    assert transfer.shape == (n, 27)
    np.testing.assert_allclose(transfer @ engine.trig_monomials(angles), expected, atol=1e-12)


def test_fit_trig_polynomial_reproduces_a_circuit_and_rejects_other_functions() -> None:
    def expvals(w: np.ndarray) -> np.ndarray:  # each angle in one Pauli rotation
        return engine.z_transfer(
            np.stack([qml.matrix(_two_qubit_block, wire_order=[0, 1])(*row) for row in w])
        )

    coefficients = engine.fit_trig_polynomial(expvals, 3)
    assert coefficients.shape == (27, 2 * 9)
    w = np.random.default_rng(2).uniform(-7, 7, size=(5, 3))
    np.testing.assert_allclose(
        engine.trig_monomials(w) @ coefficients, expvals(w).reshape(5, -1), atol=1e-12
    )
    with pytest.raises(ValueError, match="not affine"):  # the angle enters two gates
        engine.fit_trig_polynomial(lambda w: np.cos(2 * w), 1)


def _two_qubit_block(a: float, b: float, c: float) -> None:
    qml.RX(a, wires=0)
    qml.CNOT(wires=[0, 1])
    qml.RY(b, wires=1)
    qml.RZ(c, wires=0)
    qml.CNOT(wires=[1, 0])


def test_trig_products_evaluate_the_selected_monomials() -> None:
    k = 3
    # constant, cos θ2, cos θ1 sin θ2, all cosines, all sines, cos θ0 (first angle most significant)
    indices = np.array([0, 1, 5, 13, 26, 9])
    rows = engine.trig_factor_rows(indices, k)
    assert rows.shape == (6, 3) and rows[0].tolist() == [0, 0, 0]
    angles = torch.rand(k, 7, dtype=torch.float64) * 8 - 4
    products = engine.trig_products(angles, torch.from_numpy(rows))
    expected = engine.trig_monomials(angles.T.numpy())[:, indices].T
    np.testing.assert_allclose(products.numpy(), expected, atol=1e-14)
    weights = torch.rand(k, dtype=torch.float64, requires_grad=True)  # no batch dimension
    rows_t = torch.from_numpy(rows)
    assert engine.trig_products(weights, rows_t).shape == (6,)
    assert torch.autograd.gradcheck(lambda w: engine.trig_products(w, rows_t), (weights,))
    assert torch.autograd.gradgradcheck(lambda w: engine.trig_products(w, rows_t), (weights,))


def test_trig_polynomial_value_jacobian_and_second_derivatives() -> None:
    rng = np.random.default_rng(3)
    k = 3
    rows = torch.from_numpy(engine.trig_factor_rows(np.array([0, 4, 14, 22, 26]), k))
    coefficients = torch.from_numpy(rng.normal(size=(5, 7)))
    angles = torch.from_numpy(rng.uniform(-4, 4, size=k)).requires_grad_(True)

    def reference(a: torch.Tensor) -> torch.Tensor:  # plain autograd through the products
        return engine.trig_products(a, rows) @ coefficients

    with torch.no_grad():  # the evaluation-only branch
        torch.testing.assert_close(
            engine.trig_polynomial(angles, rows, coefficients), reference(angles)
        )
    value = engine.trig_polynomial(angles, rows, coefficients)
    torch.testing.assert_close(value, reference(angles), atol=1e-14, rtol=0)
    jacobian = torch.autograd.functional.jacobian(
        lambda a: engine.trig_polynomial(a, rows, coefficients), angles
    )
    expected = torch.autograd.functional.jacobian(reference, angles)
    torch.testing.assert_close(jacobian, expected, atol=1e-12, rtol=0)
    hessian = torch.autograd.functional.hessian(
        lambda a: engine.trig_polynomial(a, rows, coefficients)[2], angles
    )
    expected_hessian = torch.autograd.functional.hessian(lambda a: reference(a)[2], angles)
    assert expected_hessian.abs().max() > 0.1
    torch.testing.assert_close(hessian, expected_hessian, atol=1e-12, rtol=0)


def test_cached_constants_survive_inference_mode() -> None:
    cache = engine.ConstantCache({"table": np.eye(2)})
    with torch.inference_mode():
        table = cache.get(torch.device("cpu"), torch.float32)["table"]
    assert table is not None and not table.is_inference()
    weights = torch.ones(2, requires_grad=True)
    (table @ weights).sum().backward()  # autograd may save it
    assert weights.grad is not None
