import math
import time

import numpy as np
import pennylane as qml
import pytest
import torch

from hqnn_pl.analysis.entanglement import entangling_capability, meyer_wallach
from hqnn_pl.analysis.expressibility import expressibility, haar_bin_probabilities
from hqnn_pl.analysis.fourier import fourier_coefficients, fourier_of_weights
from hqnn_pl.analysis.gradients import gradient_variance_scan
from hqnn_pl.analysis.specs import CircuitSpec, circuit_spec
from hqnn_pl.analysis.statevector import circuit_outputs
from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import (
    ParallelQuantumLayer,
    QuantumPointwiseConv2d,
    Quanv2d,
    RandomQuanv2d,
)


def _spec(qfunc, n_qubits, n_inputs, weight_shape, name="test", **kwargs) -> CircuitSpec:
    return CircuitSpec(
        name=name,
        qfunc=qfunc,
        kwargs=kwargs,
        n_qubits=n_qubits,
        n_inputs=n_inputs,
        weight_shape=weight_shape,
        input_kind="angle",
        circuit_weights=torch.zeros(0, *weight_shape, dtype=torch.float64),
    )


@pytest.mark.parametrize(
    "layer",
    [
        ParallelQuantumLayer(n_qubits=3, n_circuits=2, depth=2, rotation="Y", observable="X"),
        Quanv2d(),
        RandomQuanv2d(n_random_layers=2, seed=3),
        QuantumPointwiseConv2d(in_channels=6, depth=2),
    ],
    ids=["parallel", "quanv", "quanv-random", "pointwise"],
)
def test_batched_simulation_matches_the_qnode(layer: torch.nn.Module) -> None:
    spec = circuit_spec(layer)
    generator = torch.Generator().manual_seed(0)
    inputs, weights = spec.random_inputs(3, generator), spec.random_weights(3, generator)
    ours = circuit_outputs(spec.qfunc, inputs, weights, spec.n_qubits, **spec.kwargs)
    qnode = qml.QNode(spec.qfunc, qml.device("default.qubit", wires=spec.n_qubits))
    for b in range(3):
        reference = torch.stack(list(qnode(inputs[b], weights[b], **spec.kwargs)))
        torch.testing.assert_close(ours[b], reference, atol=1e-12, rtol=0)


def test_fourier_agrees_with_pennylane() -> None:
    spec = circuit_spec(ParallelQuantumLayer(n_qubits=3, n_circuits=1, depth=2))
    weights = spec.random_weights(1, torch.Generator().manual_seed(1))
    fixed = torch.tensor([0.0, 0.0, 0.7], dtype=torch.float64)
    ours = fourier_of_weights(spec, weights, fixed, degree=2, output=-1)[0]

    dev = qml.device("default.qubit", wires=3)

    @qml.qnode(dev)
    def function(xy: np.ndarray) -> float:
        qml.AngleEmbedding(np.array([xy[0], xy[1], 0.7]), wires=range(3), rotation="X")
        qml.StronglyEntanglingLayers(weights[0].numpy(), wires=range(3))
        return qml.expval(qml.PauliY(2))  # the last output, as parallel_circuit measures it

    reference = qml.fourier.coefficients(function, 2, 2)  # numpy's FFT order
    np.testing.assert_allclose(np.fft.ifftshift(ours), reference, atol=1e-12)
    assert np.abs(ours[[0, -1]]).max() < 1e-12  # each input is encoded once: |w| <= 1
    assert np.abs(ours[:, [0, -1]]).max() < 1e-12


def test_single_rx_qubit_has_frequencies_minus_one_zero_one() -> None:
    def circuit(inputs, weights):
        qml.Rot(weights[..., 0], weights[..., 1], weights[..., 2], wires=0)
        qml.RX(inputs[..., 0], wires=0)
        qml.Rot(weights[..., 3], weights[..., 4], weights[..., 5], wires=0)
        qml.RY(inputs[..., 1], wires=1)  # x1 on another, unmeasured qubit: frequency 0 only
        return [qml.expval(qml.PauliZ(0))]

    spec = _spec(circuit, 2, 2, (6,))
    result = fourier_coefficients(spec, draws=5, degree=3, output=0)
    magnitude = np.abs(result.random).max(axis=0)  # (7, 7): frequencies -3..3 of x0, x1
    present = {(a - 3, b - 3) for a in range(7) for b in range(7) if magnitude[a, b] > 1e-12}
    assert present == {(-1, 0), (0, 0), (1, 0)}
    assert result.max_conjugate_asymmetry < 1e-12


def test_fourier_refuses_amplitude_embedding_and_too_few_draws() -> None:
    with pytest.raises(ConfigurationError, match="amplitude embedding"):
        fourier_coefficients(circuit_spec(QuantumPointwiseConv2d(in_channels=4)))
    spec = circuit_spec(ParallelQuantumLayer(n_qubits=2, n_circuits=1, depth=1))
    with pytest.raises(ConfigurationError, match="draws must be an int >= 2"):
        fourier_coefficients(spec, draws=1)


def _deep_random(n_qubits: int, depth: int) -> CircuitSpec:
    return circuit_spec(ParallelQuantumLayer(n_qubits=n_qubits, n_circuits=1, depth=depth))


def test_expressibility_haar_like_scores_near_zero_and_ry_scores_high() -> None:
    inputs = torch.zeros(3, dtype=torch.float64)
    deep = expressibility(_deep_random(3, 12), inputs, pairs=2000)

    def ry_only(inputs, weights):
        for wire in range(3):
            qml.RY(weights[..., wire], wires=wire)
        return [qml.expval(qml.PauliZ(0))]

    shallow = expressibility(_spec(ry_only, 3, 3, (3,)), inputs, pairs=2000)
    assert deep.kl < 0.05  # sampling noise of 75 bins over 2000 pairs is about 0.02
    assert shallow.kl > 0.3 and shallow.kl > 20 * deep.kl  # measured: 0.63 against 0.01-0.02
    again = expressibility(_deep_random(3, 12), inputs, pairs=2000)
    assert again.kl == deep.kl  # same seed, same value
    assert abs(haar_bin_probabilities(3, 75).sum() - 1) < 1e-12


def test_expressibility_refuses_too_few_pairs() -> None:
    with pytest.raises(ConfigurationError, match="too few for a 75-bin histogram"):
        expressibility(_deep_random(2, 1), torch.zeros(2), pairs=100)


def test_expressibility_of_5_qubits_depth_3_is_fast() -> None:
    spec = _deep_random(5, 3)
    inputs = torch.zeros(5, dtype=torch.float64)
    expressibility(spec, inputs, pairs=1000)  # warm-up
    start = time.perf_counter()
    expressibility(spec, inputs, pairs=5000)
    elapsed = time.perf_counter() - start
    print(
        f"expressibility, 5 qubits depth 3, 5000 pairs: {elapsed:.2f} s, "
        f"{torch.get_num_threads()} torch threads"
    )
    assert elapsed < 2.0


def test_meyer_wallach_is_exact_on_product_and_ghz_states() -> None:
    n = 4
    product = torch.zeros(1, 2**n, dtype=torch.complex128)
    product[0, 0] = 1
    plus = torch.full((1, 2**n), 2 ** (-n / 2), dtype=torch.complex128)  # |+>^n
    ghz = torch.zeros(1, 2**n, dtype=torch.complex128)
    ghz[0, 0] = ghz[0, -1] = 1 / math.sqrt(2)
    values = meyer_wallach(torch.cat([product, plus, ghz]))
    torch.testing.assert_close(values, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64))


def test_entangling_capability_of_a_product_circuit_is_zero() -> None:
    def rotations(inputs, weights):
        for wire in range(3):
            qml.Rot(*(weights[..., wire, k] for k in range(3)), wires=wire)
        return [qml.expval(qml.PauliZ(0))]

    result = entangling_capability(_spec(rotations, 3, 3, (3, 3)), torch.zeros(3), samples=50)
    assert abs(result.mean) < 1e-12
    entangled = entangling_capability(_deep_random(4, 4), torch.zeros(4), samples=200)
    assert 0.6 < entangled.mean < 1.0


def test_gradient_variance_decreases_with_qubits_for_deep_circuits() -> None:
    spec = _deep_random(2, 1)
    result = gradient_variance_scan(spec, qubits=[2, 4, 6], depths=[6], samples=200)
    variance = result.variance[0]
    assert variance[0] > variance[1] > variance[2]
    assert variance[0] / variance[2] > 4  # about 2^-n: a factor 16 from 2 to 6 qubits


def test_gradient_variance_needs_a_family() -> None:
    with pytest.raises(ConfigurationError, match="fixed size"):
        gradient_variance_scan(circuit_spec(Quanv2d()))
