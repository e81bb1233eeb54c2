"""The gate-wise method: exact vs PennyLane and the dense method; adjoint gradients; cost model."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
import torch

from hqnn_pl.quantum import ParallelQuantumLayer, QuantumPointwiseConv2d, engine
from hqnn_pl.quantum.engine import gatewise
from hqnn_pl.quantum.execution import Execution
from tests.quantum.oracle import assert_close, parallel_oracle, qpcnn_oracle, value_and_grads


@pytest.mark.parametrize(
    ("n_qubits", "depth", "rotation", "observable"),
    [(1, 2, "X", "Y"), (2, 3, "Y", "X"), (3, 2, "X", "Y"), (6, 2, "Y", "Z"), (10, 2, "X", "Z")],
)
def test_parallel_layer_both_methods_match_pennylane(
    n_qubits: int, depth: int, rotation: str, observable: str
) -> None:
    generator = torch.Generator().manual_seed(n_qubits)
    x = (torch.rand(3, 2 * n_qubits, generator=generator, dtype=torch.float64) * 3).requires_grad_()
    results = {}
    for method in ("dense", "gatewise"):
        torch.manual_seed(0)
        layer = ParallelQuantumLayer(
            n_qubits, 2, depth, rotation, observable, execution=Execution(method=method)
        )
        layer = layer.double()
        results[method] = value_and_grads(lambda a, w, layer=layer: layer(a), [x, layer.weights])
    weights = layer.weights.detach()
    expected = value_and_grads(
        lambda a, w: parallel_oracle(a, w, rotation, observable),
        [x, weights.clone().requires_grad_(True)],
        results["dense"][2],
    )
    for out, grads, _ in results.values():
        assert_close(out, expected[0], atol=1e-10)
        for got, want in zip(grads, expected[1], strict=True):
            assert_close(got, want, atol=1e-9)


@pytest.mark.parametrize("measurement", ["expval", "probs"])
def test_pointwise_gatewise_matches_pennylane(measurement: str) -> None:
    torch.manual_seed(1)
    layer = QuantumPointwiseConv2d(
        7, depth=2, measurement=measurement, execution=Execution(method="gatewise")
    )
    layer = layer.double()
    x = torch.rand(2, 7, 2, 2, dtype=torch.float64) + 0.1
    vectors = x.permute(0, 2, 3, 1).reshape(-1, 7)
    expected = qpcnn_oracle(vectors, layer.weights.detach(), measurement)
    out = layer(x).permute(0, 2, 3, 1).reshape(len(vectors), -1)
    assert_close(out.detach(), expected, atol=1e-10)


@pytest.mark.parametrize("probs", [False, True])
def test_adjoint_backward_passes_gradcheck(probs: bool) -> None:
    n_qubits, depth = 3, 2
    perms = engine.strongly_entangling_permutations(n_qubits, depth)
    program = engine.layered_program(n_qubits, list(perms))
    generator = torch.Generator().manual_seed(0)
    angles = torch.rand(2, depth, n_qubits, 3, generator=generator, dtype=torch.float64)
    angles.requires_grad_(True)
    state = torch.randn(1, 2**n_qubits, 4, generator=generator, dtype=torch.complex128)
    state.requires_grad_(True)

    def run(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        matrices = engine.layer_matrices(engine.rot_matrices(a, torch.complex128))
        return engine.run_program(program, s, matrices, probs)

    assert torch.autograd.gradcheck(run, (angles, state))
    real_state = torch.rand(1, 2**n_qubits, 4, generator=generator, dtype=torch.float64)
    assert torch.autograd.gradcheck(run, (angles, real_state.requires_grad_(True)))


def _best_ms(layer: ParallelQuantumLayer, x: torch.Tensor, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        layer(x).sum().backward()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


@pytest.mark.parametrize(("n_qubits", "batch", "expected"), [(3, 512, "dense"), (9, 4, "gatewise")])
def test_auto_picks_the_faster_method(n_qubits: int, batch: int, expected: str) -> None:
    assert engine.choose_method("auto", n_qubits, 3, 1, batch) == expected
    x = torch.rand(batch, n_qubits)
    timings = {}
    for method in ("dense", "gatewise"):
        layer = ParallelQuantumLayer(n_qubits, 1, 3, execution=Execution(method=method))
        _best_ms(layer, x, 1)  # warm-up (tables)
        timings[method] = _best_ms(layer, x)
    other = "gatewise" if expected == "dense" else "dense"
    assert timings[expected] < timings[other], timings


def test_sixteen_qubit_training_step_stays_within_its_memory_estimate() -> None:
    code = textwrap.dedent(
        """
        import resource, torch
        from hqnn_pl.quantum import ParallelQuantumLayer
        torch.set_num_threads(1)
        layer = ParallelQuantumLayer(16, 1, 3, execution={"method": "auto"})
        optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
        x = torch.rand(BATCH, 16, requires_grad=True)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        layer(x).square().sum().backward()
        optimizer.step()
        assert torch.isfinite(layer.weights.grad).all() and x.grad.abs().sum() > 0
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**20)
        """
    ).replace("BATCH", "32")
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    peak_gib = float(result.stdout.strip().splitlines()[-1])
    estimate_gib = engine.cost.gatewise_bytes(16, 1, 32, 4) / 2**30
    assert peak_gib <= estimate_gib, (peak_gib, estimate_gib)


@pytest.mark.slow
def test_sixteen_qubits_depth_three_batch_256_fits_in_four_gib() -> None:
    code = textwrap.dedent(
        """
        import resource, torch
        from hqnn_pl.quantum import ParallelQuantumLayer
        layer = ParallelQuantumLayer(16, 1, 3)
        x = torch.rand(256, 16, requires_grad=True)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        layer(x).square().sum().backward()
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**20)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=1200
    )
    assert float(result.stdout.strip().splitlines()[-1]) <= 4.0


def test_gatewise_programs_merge_identity_layers() -> None:
    program = gatewise.layered_program(3, [None, None])
    assert all(op[0] == "gate" for op in program.ops) and program.perms == ()


@pytest.mark.parametrize("probs", [False, True])
def test_second_derivatives_rerun_the_program_under_autograd(probs: bool) -> None:
    n_qubits, depth = 3, 2
    program = engine.layered_program(
        n_qubits, list(engine.strongly_entangling_permutations(n_qubits, depth))
    )
    generator = torch.Generator().manual_seed(1)
    angles = torch.rand(2, depth, n_qubits, 3, generator=generator, dtype=torch.float64)
    state = torch.rand(1, 2**n_qubits, 3, generator=generator, dtype=torch.float64)

    def run(a: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        matrices = engine.layer_matrices(engine.rot_matrices(a, torch.complex128))
        return engine.run_program(program, s, matrices, probs)

    inputs = (angles.requires_grad_(True), state.requires_grad_(True))
    assert torch.autograd.gradgradcheck(run, inputs)


def test_gatewise_and_dense_hessians_agree() -> None:
    """``auto`` may pick either method: second derivatives must not depend on the choice."""
    torch.manual_seed(3)
    layers = {
        m: ParallelQuantumLayer(3, 1, 2, execution=Execution(method=m)).double()
        for m in ("dense", "gatewise")
    }
    layers["gatewise"].load_state_dict(layers["dense"].state_dict())
    x = torch.rand(5, 3, dtype=torch.float64)
    weights = layers["dense"].weights.detach()

    def loss(layer: ParallelQuantumLayer) -> torch.Tensor:
        def run(w: torch.Tensor) -> torch.Tensor:
            return torch.func.functional_call(layer, {"weights": w}, (x,)).square().sum()

        return torch.autograd.functional.hessian(run, weights)

    torch.testing.assert_close(loss(layers["gatewise"]), loss(layers["dense"]), atol=1e-10, rtol=0)
