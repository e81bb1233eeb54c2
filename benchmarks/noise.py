"""Benchmark noisy and finite-shot execution of the torch backend.

Measured in one run, interleaved (each repeat times every contender once, in turn, so machine
load hits all alike), median forward+backward time per batch:

1. Noisy ParallelQuantumLayer (q=5, c=4, depth 3, batch 256, depolarizing + amplitude damping +
   readout): torch backend vs the pennylane backend on default.mixed (backprop, broadcast), at
   batch --pl_batch (default.mixed needs ~60 MB per sample, batch 256 does not fit beside other
   jobs); the torch layer is also timed at batch 256.
2. Shots on the torch backend (1000 shots, shot_gradients=exact) vs the exact forward+backward,
   noise-free, same layer; and one parameter-shift backward (reported, fewer repeats).
3. A noisy HQNN-Parallel training step vs the CNN's at batch 256 on 1x28x28 inputs.

Usage::

    python benchmarks/noise.py [--repeats 5] [--threads N] [--pl_batch 32]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch

from hqnn_pl.models import CNN, HQNNParallel
from hqnn_pl.quantum import Execution, ParallelQuantumLayer

NOISE = {"depolarizing": 0.01, "amplitude_damping": 0.002, "readout": 0.02}


def fwd_bwd(layer: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """One forward and backward pass of ``layer`` on ``x``."""

    def run() -> None:
        layer.zero_grad(set_to_none=True)
        xx = x.clone().requires_grad_()
        layer(xx).sum().backward()

    return run


def train_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], None]:
    """One training step (forward, cross-entropy, backward, Adam)."""
    opt = torch.optim.Adam(model.parameters())

    def run() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return run


def interleaved(contenders: dict[str, Callable[[], None]], repeats: int) -> dict[str, float]:
    """Median seconds per call of each contender, timed in turn within each repeat."""
    for fn in contenders.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    """Run the benchmarks and print times and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--pl_batch", type=int, default=32, help="batch of the PennyLane runs")
    parser.add_argument("--pl_repeats", type=int, default=2)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, threads={torch.get_num_threads()}, "
        f"load average {os.getloadavg()[0]:.1f} (shared machine: ratios matter, not seconds)"
    )
    torch.manual_seed(0)
    x = torch.rand(256, 20) * 3

    fast = ParallelQuantumLayer(execution=Execution(noise=NOISE))
    slow = ParallelQuantumLayer(
        execution=Execution(backend="pennylane", device="default.mixed", noise=NOISE)
    )
    slow.load_state_dict(fast.state_dict())
    # default.mixed holds ~60 MB per broadcast sample in backprop (measured: 4.4 GB at batch 32),
    # so batch 256 does not fit beside other jobs: both backends are compared at --pl_batch,
    # interleaved, and the torch layer is also timed at 256.
    small = x[: args.pl_batch]
    t = interleaved(
        {"torch": fwd_bwd(fast, small), "pennylane": fwd_bwd(slow, small)}, args.pl_repeats
    )
    t256 = interleaved({"torch": fwd_bwd(fast, x)}, args.repeats)["torch"]
    print(
        f"[1] noisy ParallelQuantumLayer fwd+bwd, batch {args.pl_batch}: torch "
        f"{t['torch'] * 1e3:.1f} ms, pennylane default.mixed {t['pennylane']:.1f} s -> "
        f"{t['pennylane'] / t['torch']:.0f}x (target >= 30x); torch at batch 256: "
        f"{t256 * 1e3:.1f} ms",
        flush=True,
    )

    exact = ParallelQuantumLayer()
    shots = ParallelQuantumLayer(execution=Execution(shots=1000))
    shift = ParallelQuantumLayer(execution=Execution(shots=1000, shot_gradients="parameter-shift"))
    for layer in (shots, shift):
        layer.load_state_dict(exact.state_dict())
    t = interleaved({"exact": fwd_bwd(exact, x), "shots": fwd_bwd(shots, x)}, max(args.repeats, 10))
    print(
        f"[2] shots=1000 (exact gradients) fwd+bwd {t['shots'] * 1e3:.1f} ms vs exact "
        f"{t['exact'] * 1e3:.1f} ms -> {t['shots'] / t['exact']:.2f}x (target <= 2x)"
    )
    t_shift = interleaved({"shift": fwd_bwd(shift, x)}, 1)["shift"]
    print(
        f"    parameter-shift (1000 shots, 2 x 50 shifted executions of the batch): "
        f"{t_shift:.2f} s per fwd+bwd = {t_shift / t['exact']:.0f}x exact"
    )

    images = torch.rand(256, 1, 28, 28)
    labels = torch.randint(0, 10, (256,))
    hqnn = HQNNParallel(
        num_classes=10, in_channels=1, image_size=28, execution=Execution(noise=NOISE)
    )
    cnn = CNN(num_classes=10, in_channels=1, image_size=28)
    t = interleaved(
        {"hqnn": train_step(hqnn, images, labels), "cnn": train_step(cnn, images, labels)},
        max(args.repeats, 10),
    )
    print(
        f"[3] training step, batch 256: noisy HQNN-Parallel {t['hqnn'] * 1e3:.1f} ms, CNN "
        f"{t['cnn'] * 1e3:.1f} ms -> {t['hqnn'] / t['cnn']:.2f}x (target <= 1.5x)"
    )


if __name__ == "__main__":
    main()
