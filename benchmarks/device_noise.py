"""Device noise (``noise: {device: fake_torino}``): the torch engine against Aer, and training.

Measures, in one run, interleaved round by round so background load hits both sides alike:

1. HQNN-Parallel's quantum layer (4 circuits x 5 qubits, depth 3) compiled to fake_torino,
   evaluated on a batch of 256 (1024 circuit executions) by the torch engine (route ``device``,
   float64 and float32, forward only) and by Aer's density-matrix simulator
   (``NoiseModel.from_backend``, one thread) on the same compiled circuits. Aer runs
   ``--aer_samples`` of the 256 inputs per round (x 4 circuits); its batch time is its time per
   circuit x 1024, and its outputs are checked against the engine's.
2. One training step of the HQNNParallel model (16 px images, 10 classes, batch 256: forward,
   loss, backward, Adam step) without noise and under fake_torino's noise.

Check ``uptime`` first: other load makes every row slower. Usage::

    python benchmarks/device_noise.py > docs/engine/device_noise.txt
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from machine import describe_machine

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hqnn_pl.models import HQNNParallel  # noqa: E402
from hqnn_pl.quantum.layers import ParallelQuantumLayer  # noqa: E402


def _timed(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls (seconds)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _aer_batch(layer, x: np.ndarray, sim) -> tuple[float, np.ndarray]:
    """Aer on the compiled circuits for inputs ``x`` ``(S, 20)``: seconds of the run, outputs."""
    compiled = layer.device_circuit()
    tqc = compiled.circuit
    weights = layer.weights.detach().double().reshape(4, -1).numpy()
    physical = list(compiled.physical)
    final = [physical[p] for p in compiled.final]
    circuits = []
    for row in x:
        for c in range(4):
            binds = {
                p: float(weights[c, p.index])
                if p.vector.name == "w"
                else float(row[5 * c + p.index])
                for p in tqc.parameters
            }
            bound = tqc.assign_parameters(binds)
            bound.save_probabilities(qubits=list(reversed(final)))
            circuits.append(bound)
    start = time.perf_counter()
    result = sim.run(circuits).result()
    seconds = time.perf_counter() - start
    bits = (np.arange(32)[:, None] >> (4 - np.arange(5))) & 1
    out = []
    for index in range(len(circuits)):
        p = np.asarray(result.data(index)["probabilities"]).reshape([2] * 5)
        for j in range(5):  # readout confusion of wire j's final qubit, C[m, b]
            p = np.moveaxis(np.tensordot(compiled.confusion[j], p, axes=([1], [j])), 0, j)
        out.append(p.reshape(-1) @ (1 - 2 * bits))
    return seconds, np.array(out).reshape(len(x), 20)


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="fake_torino")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--aer_samples", type=int, default=32)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import NoiseModel

    print(f"# benchmarks/device_noise.py: {describe_machine(torch.device('cpu'))}")
    print(f"# load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    import qiskit
    import qiskit_aer

    print(f"# qiskit {qiskit.__version__}, qiskit-aer {qiskit_aer.__version__}")
    torch.manual_seed(0)
    noise = {"device": args.device}
    layer = ParallelQuantumLayer(5, 4, 3, execution={"noise": noise})
    x = torch.rand(256, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 6
    start = time.perf_counter()
    layer(x[:1])
    compile_s = time.perf_counter() - start
    stats = layer.device_circuit().stats()
    print(
        f"# compiled once per structure in {compile_s:.2f} s: {stats['two_qubit_gates']} "
        f"two-qubit gates, {stats['swaps']} SWAPs, depth {stats['depth']}, "
        f"{stats['gates']} native gates on physical qubits {stats['physical_qubits']}"
    )
    backend = layer.execution.device_noise.backend()
    sim = AerSimulator(
        method="density_matrix",
        noise_model=NoiseModel.from_backend(backend),
        max_parallel_threads=1,
        max_parallel_experiments=1,
    )
    model_args = {"num_classes": 10, "in_channels": 1, "image_size": 16}
    torch.manual_seed(0)
    plain = HQNNParallel(**model_args)
    torch.manual_seed(0)
    noisy = HQNNParallel(**model_args, execution={"noise": noise})
    images = torch.rand(256, 1, 16, 16)
    labels = torch.randint(0, 10, (256,))
    optimizers = {
        "noiseless": (plain, torch.optim.Adam(plain.parameters(), 1e-3)),
        "device": (noisy, torch.optim.Adam(noisy.parameters(), 1e-3)),
    }

    def step(name: str) -> None:
        model, optimizer = optimizers[name]
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()

    for name in optimizers:  # warm-up (and compile)
        step(name)
    rows: dict[str, list[float]] = {}
    worst = 0.0
    for round_ in range(args.rounds):
        with torch.no_grad():
            rows.setdefault("torch64", []).append(_timed(lambda: layer(x), 3))
            rows.setdefault("torch32", []).append(_timed(lambda: layer(x.float()), 3))
            reference = layer(x).numpy()
        subset = slice(round_ * args.aer_samples, (round_ + 1) * args.aer_samples)
        big, aer_out = _aer_batch(layer, x[subset].numpy(), sim)
        small, _ = _aer_batch(layer, x[subset].numpy()[: args.aer_samples // 4], sim)
        marginal = (big - small) / (4 * (args.aer_samples - args.aer_samples // 4))
        rows.setdefault("aer", []).append(marginal * 1024)
        rows.setdefault("aer_fixed", []).append(small - marginal * 4 * (args.aer_samples // 4))
        worst = max(worst, float(np.abs(aer_out - reference[subset]).max()))
        for name in optimizers:
            rows.setdefault(f"step_{name}", []).append(_timed(lambda n=name: step(n), 3))
    med = {key: statistics.median(values) for key, values in rows.items()}
    print(f"# medians over {args.rounds} interleaved rounds; Aer ran {args.aer_samples} x 4 and "
          f"{args.aer_samples // 4} x 4 circuits per round: {med['aer'] / 1024 * 1e3:.1f} ms per "
          f"circuit, plus {med['aer_fixed']:.1f} s fixed per run (left out below)")  # fmt: skip
    print(f"# max |torch - Aer| over the {args.rounds * args.aer_samples * 4} circuits compared: "
          f"{worst:.1e}")  # fmt: skip
    print("what                                              time     vs Aer")
    print(f"Aer density matrix, 1024 circuits (1 thread)  {med['aer']:8.2f} s       1x")
    for key, label in (("torch64", "float64"), ("torch32", "float32")):
        print(
            f"torch route 'device', batch 256 ({label})       {med[key] * 1e3:8.1f} ms  "
            f"{med['aer'] / med[key]:6.0f}x"
        )
    ratio = med["step_device"] / med["step_noiseless"]
    print(f"training step, noiseless (batch 256)           {med['step_noiseless'] * 1e3:8.1f} ms")
    print(
        f"training step, {args.device} noise (batch 256)   {med['step_device'] * 1e3:8.1f} ms  "
        f"({ratio:.1f}x the noiseless step)"
    )


if __name__ == "__main__":
    main()
