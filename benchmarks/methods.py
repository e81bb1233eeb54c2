"""The torch engine's execution methods side by side at every qubit count.

One circuit (RX embedding, ``--depth`` StronglyEntanglingLayers, ``<Y>`` on every wire) at batch
``--batch``, forward + backward, float32: the ``dense`` method as it runs (on CPU, up to 8 qubits:
the circuit or its unitary in NumPy with a written-out backward pass; elsewhere shifted-unitary
gradients for 2-4 qubits), the same with plain autograd through the torch build, the
``gatewise`` method, and the route ``auto`` picks (``Execution(route="dense")`` forces plain
autograd). Methods are interleaved within each repeat, so
machine load hits all alike; the best of the repeats is printed ("-": a first call past
``--budget-s``, or refused by the memory check). Also HQNN-Parallel's layer (q=5, c=4).

Usage::

    python benchmarks/methods.py [--threads 1] [--qubits 2 4 5 6 8 10 12 14 16] [--repeats 10]
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Callable

import torch
from machine import describe_machine

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum import Execution, ParallelQuantumLayer


def _step(layer: ParallelQuantumLayer, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        layer.zero_grad(set_to_none=True)
        layer(x.clone().requires_grad_()).sum().backward()

    return run


def _time(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def bench(n_qubits: int, n_circuits: int, args: argparse.Namespace) -> dict[str, float | None]:
    """Best seconds per fwd+bwd of each method (None: skipped)."""
    torch.manual_seed(0)
    x = torch.rand(args.batch, n_qubits * n_circuits)
    executions = {"dense": Execution(method="dense"), "gatewise": Execution(method="gatewise")}
    dense = ParallelQuantumLayer(n_qubits, n_circuits, args.depth, execution=executions["dense"])
    try:
        planned = dense.planner.route(args.batch, x.device, x.dtype)
    except ConfigurationError:  # the dense method's memory estimate exceeds what is free
        planned = "dense"  # no other dense variant to time either
    if planned != "dense":  # NumPy or shifted
        executions["dense, plain autograd"] = Execution(route="dense")
    layers = {
        name: ParallelQuantumLayer(n_qubits, n_circuits, args.depth, execution=execution)
        for name, execution in executions.items()
    }
    for layer in layers.values():
        layer.load_state_dict(layers["dense"].state_dict())
    runs = {name: _step(layer, x) for name, layer in layers.items()}
    best: dict[str, float | None] = {}
    for name, run in runs.items():
        try:
            first = _time(run)  # warm-up, and the projection for the budget
        except ConfigurationError:  # the method's memory estimate exceeds what is free
            first = math.inf
        best[name] = None if first > args.budget_s else first
    for _ in range(args.repeats):
        for name, run in runs.items():
            if best[name] is not None:
                best[name] = min(best[name], _time(run))
    return best


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--qubits", type=int, nargs="+", default=[2, 4, 5, 6, 8, 10, 12, 14, 16])
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--budget-s", type=float, default=5.0, dest="budget_s")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"Machine: {describe_machine(torch.device('cpu'))}")
    load, threads = os.getloadavg()[0], torch.get_num_threads()
    print(f"Load average at start: {load:.2f}; torch threads {threads}")
    print(f"One circuit, depth {args.depth}, batch {args.batch}, fwd+bwd, float32, best of "
          f"{args.repeats + 1} interleaved calls (ms)\n")  # fmt: skip
    names = ("dense", "dense, plain autograd", "gatewise")
    print("| qubits | " + " | ".join(names) + " | auto picks |")
    print("|---|---|---|---|---|")
    for q in args.qubits:
        best = bench(q, 1, args)
        cells = [
            "-" if best.get(n) is None else f"{best[n] * 1e3:,.2f}" for n in names
        ]  # fmt: skip
        picked = ParallelQuantumLayer(q, 1, args.depth).planner.route(
            args.batch, torch.device("cpu"), torch.float32
        )
        print(f"| {q} | " + " | ".join(cells) + f" | {picked} |", flush=True)
    best = bench(5, 4, args)
    print(
        f"\nHQNN-Parallel's layer (q=5, c=4, depth {args.depth}, batch {args.batch}): dense "
        f"{best['dense'] * 1e3:.2f} ms, gatewise {best['gatewise'] * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    main()
