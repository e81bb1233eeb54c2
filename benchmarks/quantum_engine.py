"""Benchmark the exact torch engine of hqnn_pl.quantum against the PennyLane backend.

Measures, in one run on the current machine, forward+backward time per batch (median of several
repeats after warm-up) and the ratios for:

1. ParallelQuantumLayer (q=5, c=4, i=3, batch 256): torch backend vs pennylane backend
   (default.qubit, backprop).
2. Quanv2d (trainable HQNN-Quanv block, 28x28 input, batch 64): torch vs pennylane.
   On CPU, [1] and [2] run at torch's thread count and again on 1 thread.
3. One training step (forward + backward + Adam step) of HQNNParallel vs CNN at batch 256 on
   1x28x28 input.
4. A 60,000-image epoch estimate of an HQNN-Quanv-like net (Quanv2d + flatten + Linear) vs a
   CNN4-like net (Conv2d(1, 4, 2, stride=2) + flatten + Linear), extrapolated from timed steps.
5. A real 60,000-image training epoch of the HQNNQuanv and QuanvCNN(out_channels=4)
   LightningModules with Lightning's Trainer (data loading, metrics and optimiser included),
   and of HQNNQuanv with gate noise after every gate (depolarizing 0.01, amplitude damping
   0.002, readout 0.02: the exact noisy engine); each model runs two epochs (one with
   --quick), alternating, and the faster one counts.
6. Context for [2]: the quanvolution as the papers ran it, one QNode call per 2x2 patch.

Usage::

    python benchmarks/quantum_engine.py [--device cpu|cuda] [--repeats 40] [--quick] [--threads N]
        [--sections 1 2 3 4 5 6]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import time
import warnings
from collections.abc import Callable

import torch
from machine import describe_machine
from torch import Tensor, nn

from hqnn_pl.quantum import Execution, ParallelQuantumLayer, Quanv2d

EPOCH_IMAGES = 60_000
NOISE = {"depolarizing": 0.01, "amplitude_damping": 0.002, "readout": 0.02}
PENNYLANE_BUDGET_S = 2.0  # per timed call; beyond this the pennylane batch is subsampled


def timeit(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``fn`` in seconds, after ``warmup`` untimed calls."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def timeit_interleaved(
    fns: dict[str, Callable[[], object]], device: torch.device, repeats: int, warmup: int = 2
) -> dict[str, float]:
    """Median wall time of each function, timing them alternately so noise hits all alike."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def forward_backward(module: nn.Module, x: Tensor) -> Callable[[], None]:
    def step() -> None:
        module.zero_grad(set_to_none=True)
        if x.grad is not None:
            x.grad = None
        module(x).square().mean().backward()

    return step


def training_step(model: nn.Module, x: Tensor, y: Tensor) -> Callable[[], None]:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.2f} ms"


def row(label: str, seconds: float, note: str = "") -> None:
    print(f"  {label:<46s}{ms(seconds)}{('  ' + note) if note else ''}")


def threads_note() -> str:
    return f" [{torch.get_num_threads()} torch thread{'s' if torch.get_num_threads() > 1 else ''}]"


def bench_parallel(device: torch.device, repeats: int, pl_repeats: int) -> None:
    print(
        "\n[1] ParallelQuantumLayer(n_qubits=5, n_circuits=4, depth=3), batch 256, fwd+bwd"
        + threads_note()
    )
    torch.manual_seed(0)
    layer = ParallelQuantumLayer(5, 4, 3).to(device)
    pl_layer = ParallelQuantumLayer(
        5, 4, 3, execution=Execution(backend="pennylane", diff_method="backprop")
    )
    pl_layer.load_state_dict(layer.state_dict())
    pl_layer.to(device)
    x = torch.randn(256, 20, device=device, requires_grad=True)  # as if from a Linear layer
    t_torch = timeit(forward_backward(layer, x), device, repeats)
    t_pl = timeit(forward_backward(pl_layer, x), device, pl_repeats, warmup=1)
    row("torch backend", t_torch)
    row("pennylane backend (default.qubit, backprop)", t_pl)
    print(f"  ratio pennylane / torch: {t_pl / t_torch:8.1f}x   (target >= 30x)")


def bench_quanv(device: torch.device, repeats: int, pl_repeats: int, quick: bool) -> None:
    batch = 64
    print(
        f"\n[2] Quanv2d (trainable, k=2, stride=2), 1x28x28 input, batch {batch}, fwd+bwd"
        + threads_note()
    )
    torch.manual_seed(0)
    layer = Quanv2d().to(device)
    pl_layer = Quanv2d(execution=Execution(backend="pennylane", diff_method="backprop"))
    pl_layer.load_state_dict(layer.state_dict())
    pl_layer.to(device)
    images = torch.rand(batch, 1, 28, 28, device=device)
    t_torch = timeit(forward_backward(layer, images), device, repeats)
    # Probe the pennylane backend on a few images; subsample the batch if the full one is slow.
    probe = 4
    start = time.perf_counter()
    forward_backward(pl_layer, images[:probe])()
    per_image = (time.perf_counter() - start) / probe
    n_pl = batch
    if quick or per_image * batch > PENNYLANE_BUDGET_S:
        n_pl = max(probe, min(batch, int(PENNYLANE_BUDGET_S / max(per_image, 1e-9))))
        if quick:
            n_pl = min(n_pl, 16)
    t_pl = timeit(forward_backward(pl_layer, images[:n_pl]), device, pl_repeats, warmup=1)
    t_pl_batch = t_pl * batch / n_pl
    row("torch backend", t_torch)
    if n_pl == batch:
        row("pennylane backend (default.qubit, backprop)", t_pl_batch)
    else:
        row(
            "pennylane backend (default.qubit, backprop)",
            t_pl_batch,
            f"(timed on {n_pl} images, scaled per image to {batch})",
        )
    print(f"  ratio pennylane / torch: {t_pl_batch / t_torch:8.1f}x   (target >= 100x)")


def bench_models(device: torch.device, repeats: int) -> None:
    print("\n[3] Training step (fwd+bwd+Adam), batch 256, 1x28x28 input")
    try:
        from hqnn_pl.models import CNN, HQNNParallel
    except ImportError as err:  # the models live in another part of the package
        print(f"  skipped: hqnn_pl.models is not importable ({err})")
        return
    torch.manual_seed(0)
    x = torch.rand(256, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (256,), device=device)
    hqnn = HQNNParallel(num_classes=10, in_channels=1, image_size=28).to(device)
    cnn = CNN(num_classes=10, in_channels=1, image_size=28).to(device)
    steps = {"HQNNParallel": training_step(hqnn, x, y), "CNN": training_step(cnn, x, y)}
    times = timeit_interleaved(steps, device, repeats)
    t_hqnn, t_cnn = times["HQNNParallel"], times["CNN"]
    row("HQNNParallel (torch backend)", t_hqnn)
    row("CNN", t_cnn)
    print(f"  ratio HQNNParallel / CNN: {t_hqnn / t_cnn:7.2f}x   (target <= 1.05x)")


def bench_epoch(device: torch.device, repeats: int) -> None:
    batch = 64
    n_steps = math.ceil(EPOCH_IMAGES / batch)
    print(
        f"\n[4] 60,000-image epoch estimate at batch {batch} (median step time x {n_steps} steps; "
        "extrapolated, data loading excluded)"
    )
    torch.manual_seed(0)
    quanv_net = nn.Sequential(Quanv2d(), nn.Flatten(), nn.Linear(4 * 14 * 14, 10)).to(device)
    cnn4_net = nn.Sequential(
        nn.Conv2d(1, 4, kernel_size=2, stride=2), nn.Flatten(), nn.Linear(4 * 14 * 14, 10)
    ).to(device)
    x = torch.rand(batch, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    times = timeit_interleaved(
        {"quanv": training_step(quanv_net, x, y), "cnn4": training_step(cnn4_net, x, y)},
        device,
        repeats,
    )
    t_quanv, t_cnn4 = times["quanv"], times["cnn4"]
    row("HQNN-Quanv-like step (Quanv2d+Linear)", t_quanv, f"-> epoch {t_quanv * n_steps:7.1f} s")
    row("CNN4-like step (Conv2d(1,4,2,2)+Linear)", t_cnn4, f"-> epoch {t_cnn4 * n_steps:7.1f} s")
    print(f"  ratio HQNN-Quanv / CNN4 epoch: {t_quanv / t_cnn4:5.2f}x   (target <= 2x)")


def bench_lightning_epoch(device: torch.device, rounds: int) -> None:
    from lightning.pytorch import LightningDataModule, Trainer
    from torch.utils.data import TensorDataset

    from hqnn_pl.models import HQNNQuanv, QuanvCNN

    batch = 64
    print(f"\n[5] Full 60,000-image training epoch with Lightning, 1x28x28, batch {batch}")
    for name in ("lightning.pytorch", "lightning.fabric", "hqnn_pl"):
        logging.getLogger(name).setLevel(logging.WARNING)
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(EPOCH_IMAGES, 1, 28, 28, generator=generator)
    labels = torch.randint(0, 10, (EPOCH_IMAGES,), generator=generator)
    data = LightningDataModule.from_datasets(
        train_dataset=TensorDataset(images, labels), batch_size=batch
    )
    accelerator = "gpu" if device.type == "cuda" else "cpu"
    noisy = "HQNNQuanv, noisy (" + ", ".join(f"{k} {v}" for k, v in NOISE.items()) + ")"
    models = {
        "HQNNQuanv": lambda: HQNNQuanv(10, 1, 28),
        "QuanvCNN(out_channels=4)": lambda: QuanvCNN(10, 1, 28, out_channels=4),
        noisy: lambda: HQNNQuanv(10, 1, 28, execution=Execution(noise=NOISE)),
    }
    seconds: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):  # alternate the models, so that noise hits both alike
        for name, make_model in models.items():
            trainer = Trainer(
                accelerator=accelerator, devices=1, max_epochs=1, logger=False,
                enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                limit_val_batches=0,
            )  # fmt: skip
            start = time.perf_counter()
            trainer.fit(make_model(), datamodule=data)
            seconds[name].append(time.perf_counter() - start)
    best = {name: min(times) for name, times in seconds.items()}
    for name, epoch in best.items():
        row(name, epoch / math.ceil(EPOCH_IMAGES / batch), f"per step; epoch {epoch:6.1f} s")
    ratio = best["HQNNQuanv"] / best["QuanvCNN(out_channels=4)"]
    print(f"  ratio HQNN-Quanv / CNN4 epoch: {ratio:5.2f}x   (target <= 2x)")
    ratio = best[noisy] / best["QuanvCNN(out_channels=4)"]
    print(f"  ratio noisy HQNN-Quanv / CNN4 epoch: {ratio:5.2f}x   (target <= 2x)")


def bench_per_patch_pennylane(device: torch.device) -> None:
    import pennylane as qml

    from hqnn_pl.quantum import circuits

    print("\n[6] The papers' way: one QNode call per 2x2 patch (default.qubit), one 28x28 image")
    layer = Quanv2d().to(device)
    qnode = qml.QNode(circuits.quanv_trainable_circuit, qml.device("default.qubit", wires=4))
    image = torch.rand(28, 28)
    weights = layer.weights.detach().cpu().double()
    start = time.perf_counter()
    for row_index in range(0, 28, 2):
        for col_index in range(0, 28, 2):
            patch = image[row_index : row_index + 2, col_index : col_index + 2].reshape(4)
            qnode(patch.double(), weights)
    per_image = time.perf_counter() - start
    x = torch.rand(64, 1, 28, 28, device=device)
    with torch.no_grad():
        t_torch = timeit(lambda: layer(x), device, 10) / 64
    row("per-patch QNode loop, forward only", per_image, "per image")
    row("torch backend, forward only (batch 64)", t_torch, f"per image ({t_torch * 1e6:.1f} us)")
    print(f"  ratio per-patch loop / torch: {per_image / t_torch:8.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=40, help="timed repeats per measurement")
    parser.add_argument(
        "--quick", action="store_true", help="few repeats and a small pennylane subsample"
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)"
    )
    parser.add_argument(
        "--sections",
        type=int,
        nargs="+",
        choices=range(1, 7),
        default=list(range(1, 7)),
        help="which of the numbered measurements to run (default: all)",
    )
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda requested but CUDA is not available")
    device = torch.device(args.device)
    repeats = 5 if args.quick else args.repeats
    pl_repeats = 2 if args.quick else max(3, args.repeats // 4)
    warnings.filterwarnings("ignore", category=UserWarning)
    print(f"Machine: {describe_machine(device)}")
    if hasattr(os, "getloadavg"):
        load = os.getloadavg()[0]
        busy = "  (other processes are running: timings are noisy)" if load > 0.5 else ""
        print(f"Load average at start: {load:.2f}{busy}")
    print(f"Timings: median of {repeats} repeats after warm-up (pennylane: {pl_repeats})")
    sections = set(args.sections)
    print(f"Threads: {torch.get_num_threads()}; sections {sorted(sections)}")
    threads = torch.get_num_threads()
    for thread_count in (threads, 1) if device.type == "cpu" and threads != 1 else (threads,):
        torch.set_num_threads(thread_count)  # [1] and [2] again on one thread
        if 1 in sections:
            bench_parallel(device, repeats, pl_repeats)
        if 2 in sections:
            bench_quanv(device, repeats, pl_repeats, args.quick)
    torch.set_num_threads(threads)
    if 3 in sections:
        bench_models(device, repeats)
    if 4 in sections:
        bench_epoch(device, repeats)
    if 5 in sections:
        bench_lightning_epoch(device, rounds=1 if args.quick else 2)
    if 6 in sections:
        bench_per_patch_pennylane(device)


if __name__ == "__main__":
    main()
