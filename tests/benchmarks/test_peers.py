"""benchmarks/peers.py: every contender that is installed agrees with PennyLane before timing."""

from __future__ import annotations

import sys

import pytest
import torch

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import peer_adapters as pa
import peers

SMALL = [pa.ParallelSpec(3, 2, 2, 3), pa.QuanvSpec(batch=1, size=4)]
INSTALLED = [name for name in pa.PEER_MODULES if pa.peer_available(name) is None]


@pytest.mark.parametrize("spec", SMALL, ids=["parallel", "quanv"])
@pytest.mark.parametrize("name", ["ours", "pennylane"])
def test_the_check_passes_this_projects_contenders(name: str, spec: pa.Spec) -> None:
    assert peers.check_contender(name, pa.make_problem(spec), torch.device("cpu")) is None


def test_the_check_catches_a_wrong_result() -> None:
    problem = pa.make_problem(SMALL[0])
    out, grads = pa.ours(problem, torch.device("cpu"))()
    want = peers.reference(problem)
    assert peers.compare((out, grads), want) is None
    assert "outputs max error" in peers.compare((out + 1e-3, grads), want)
    grads = {**grads, "inputs": grads["inputs"] * -1}
    assert "d/dinputs" in peers.compare((out, grads), want)


def test_a_missing_peer_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(pa.PEER_MODULES, "pyqtorch", ("no_such_module_hqnn",))
    reason = pa.peer_available("pyqtorch")
    assert reason is not None and 'pip install -e ".[peers]"' in reason


@pytest.mark.skipif(not INSTALLED, reason='no peer installed (pip install -e ".[peers]")')
@pytest.mark.parametrize("spec", SMALL, ids=["parallel", "quanv"])
@pytest.mark.parametrize("name", INSTALLED)
def test_installed_peers_agree_with_pennylane(name: str, spec: pa.Spec) -> None:
    assert peers.check_contender(name, pa.make_problem(spec), torch.device("cpu")) is None


def test_a_tiny_sweep_times_and_plots_the_contenders(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pa, "limit_threads", lambda threads: None)  # keep the test's threads
    names = ["ours", "pennylane"]  # the peers' checks are above; their JIT compiles are slow
    results = peers.main(
        ["--cases", "c", "--qubits", "2", "3", "--repeats", "1", "--target-s", "0",
         "--contenders", *names, "--plot", str(tmp_path / "sweep.png")]
    )  # fmt: skip
    for q in (2, 3):
        assert all(results["c"][q][n].seconds > 0 for n in names), results["c"][q]
    assert (tmp_path / "sweep.png").stat().st_size > 1000


def test_contenders_are_timed_in_round_robin_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pa, "limit_threads", lambda threads: None)
    calls = []
    original = peers._synced
    monkeypatch.setattr(
        peers, "_synced", lambda run, device: calls.append(run) or original(run, device)
    )
    peers.main(
        ["--cases", "c", "--qubits", "2", "--repeats", "4", "--block", "2", "--target-s", "100",
         "--contenders", "ours", "pennylane"]
    )  # fmt: skip
    first, second = calls[-8], calls[-6]
    assert first is not second
    assert calls[-8:] == [first, first, second, second] * 2


def test_a_block_below_one_is_refused() -> None:
    with pytest.raises(SystemExit) as exit_info:
        peers.parse_args(["--block", "0"])
    assert exit_info.value.code == 2


GENERIC = pa.GenericSpec(batch=3)
GENERIC_PEERS = [name for name in ("tensorcircuit", "torchquantum") if name in INSTALLED]


@pytest.mark.parametrize("name", ["ours", "pennylane", "lightning", *GENERIC_PEERS])
def test_the_generic_circuit_case_agrees_with_pennylane(name: str) -> None:
    problem = pa.make_problem(GENERIC)
    assert problem.weights.shape == (32,) and problem.cotangent.shape == (3, 5)
    assert peers.check_contender(name, problem, torch.device("cpu")) is None


def test_pyqtorch_has_no_generic_adapter_and_says_so() -> None:
    problem = pa.make_problem(GENERIC)
    reason = peers.check_contender("pyqtorch", problem, torch.device("cpu"))
    assert reason is not None and ("not installed" in reason or "generic" in reason)
