"""CircuitLayer against PennyLane's default.qubit (backprop, broadcasting) on the same circuits.

Forward + backward of a batch (default 256) through one copy of each circuit of the test
battery (``tests/quantum/battery.py``: random circuits from the whole gate set, inputs reused
and late, shared weights) and of the example re-uploading ansatz, float32, interleaved (the
engine on the route the planner picks, the engine on the ``gatewise`` route, then the QNode,
per repeat; medians; the speedup is the QNode's time over the planned route's). Also the
compile time of each circuit and HQNN-Parallel's circuit as a CircuitLayer next to its
hand-tuned ParallelQuantumLayer. Prints the machine, torch's thread count and the load
average; ``--out FILE`` writes the same text to a file::

    python benchmarks/circuit_layer.py --threads 1 --out docs/engine/circuit_layer.txt
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pennylane as qml
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hqnn_pl.examples.circuits import WEIGHT_SHAPES, reuploading_ansatz
from hqnn_pl.quantum import CircuitLayer, ParallelQuantumLayer, circuits
from tests.quantum.battery import BatteryCircuit, random_circuit


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _median_ms(run: Callable[[], None], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _qnode_step(entry: BatteryCircuit, layer: CircuitLayer, x: torch.Tensor) -> Callable[[], None]:
    device = qml.device("default.qubit", wires=entry.n_qubits)
    qnode = qml.QNode(entry.circuit, device, interface="torch", diff_method="backprop")
    weights = {k: getattr(layer, k).detach().clone().requires_grad_() for k in entry.weight_shapes}
    xq = x.detach().clone().requires_grad_()

    def step() -> None:
        result = qnode(xq, **weights)
        parts = result if isinstance(result, (list, tuple)) else [result]
        torch.cat([torch.as_tensor(p).reshape(x.shape[0], -1) for p in parts], 1).sum().backward()

    return step


def _layer_step(layer: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        layer(x).sum().backward()

    return step


def compare(entry: BatteryCircuit, batch: int, repeats: int) -> str:
    """One row: the engine (planned route, then the gate-wise route) and the QNode, interleaved."""
    start = time.perf_counter()
    layer = CircuitLayer(entry.circuit, entry.weight_shapes, entry.n_qubits, seed=0)
    x = torch.rand(batch, entry.n_inputs, requires_grad=True)
    engine = _layer_step(layer, x)
    engine()  # the first call plans the route (and the fused program) once per structure
    compile_s = time.perf_counter() - start
    gatewise_layer = layer.rerouted("gatewise")
    gatewise, qnode = _layer_step(gatewise_layer, x), _qnode_step(entry, layer, x)
    gatewise()
    qnode()
    engine_ms, gatewise_ms, qnode_ms = [], [], []
    for _ in range(repeats):
        engine_ms.append(_median_ms(engine, 3))
        gatewise_ms.append(_median_ms(gatewise, 1))
        qnode_ms.append(_median_ms(qnode, 1))
    e, g, q = (statistics.median(t) for t in (engine_ms, gatewise_ms, qnode_ms))
    return (
        f"{entry.name:<24} {entry.n_qubits:>3} {layer.compiled.gate_count:>5} "
        f"{layer.route:>6} {e:>10.2f} {g:>10.2f} {q:>12.1f} {q / e:>7.1f}x {compile_s:>9.2f}"
    )


def seed_layer_row(batch: int, repeats: int) -> str:
    """HQNN-Parallel's circuit as a CircuitLayer next to its hand-tuned layer (4 x 5 qubits)."""

    def parallel(inputs, weights):
        return circuits.parallel_circuit(inputs, weights, rotation="X", observable="Y")

    generic = CircuitLayer(parallel, {"weights": (3, 5, 3)}, 5, n_circuits=4, seed=0)
    tuned = ParallelQuantumLayer(5, 4, 3)
    x = torch.rand(batch, 20, requires_grad=True)
    g_ms, t_ms = [], []
    for _ in range(repeats):
        g_ms.append(_median_ms(_layer_step(generic, x), 3))
        t_ms.append(_median_ms(_layer_step(tuned, x), 3))
    g, t = statistics.median(g_ms), statistics.median(t_ms)
    return (
        f"HQNN-Parallel circuit (4 x 5 qubits, depth 3): CircuitLayer {g:.2f} ms "
        f"(route {generic.route}), ParallelQuantumLayer {t:.2f} ms (route {tuned.route}): "
        f"the hand-tuned path is {g / t:.1f}x faster and stays the seed model's layer."
    )


def main(argv: list[str] | None = None) -> None:
    """Run the comparison and print (and optionally write) the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--qubits", default="4-12", help="battery qubit counts, e.g. 4-12")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    low, _, high = args.qubits.partition("-")
    qubits = range(int(low), int(high or low) + 1)
    lines = [
        "CircuitLayer vs default.qubit (backprop, broadcasting): forward + backward, float32",
        f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine {_cpu()}, "
        f"{os.cpu_count()} cores; torch threads {torch.get_num_threads()}; batch {args.batch}; "
        f"load average before {os.getloadavg()[0]:.2f}; torch {torch.__version__}, "
        f"pennylane {qml.__version__}",
        "",
        f"{'circuit':<24} {'n':>3} {'gates':>5} {'route':>6} {'engine ms':>10} "
        f"{'gatewise':>10} {'default.qubit':>12} {'speedup':>8} {'compile s':>9}",
    ]
    print("\n".join(lines), flush=True)
    example = BatteryCircuit("reuploading_ansatz", reuploading_ansatz, WEIGHT_SHAPES, 4, 4)
    for entry in [example, *(random_circuit(n, 1000 * n) for n in qubits)]:
        lines.append(compare(entry, args.batch, args.repeats))
        print(lines[-1], flush=True)
    lines += ["", seed_layer_row(args.batch, args.repeats)]
    lines.append(f"load average after {os.getloadavg()[0]:.2f}")
    print("\n".join(lines[-2:]), flush=True)
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
