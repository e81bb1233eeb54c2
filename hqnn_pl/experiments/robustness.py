"""``hqnn-pl-robustness``: test accuracy of one trained checkpoint under shot and gate noise.

Evaluates the checkpoint on the test split of its datamodule (the same config it was trained
with) exactly (noise-free, whatever noise or shots it was trained with), then with finite
``shots`` (each value of ``--shots``) and with each noise channel alone at each strength
(``--depolarizing``, ``--amplitude_damping``, ``--readout``; the meaning is that of
:mod:`hqnn_pl.quantum.noise`), ``--repeats`` times each with different shot seeds. Noise
without shots is exact, so it is evaluated once; with ``--noise_shots N`` the noise grid is
sampled too. Writes ``robustness.csv`` (one row per evaluation), ``robustness.md`` (mean ± std
per setting) and ``robustness_<kind>.png`` (accuracy vs setting, exact accuracy as a reference
line) into ``--out``.

With ``--devices fake_torino fake_sherbrooke ...`` (the ``[devices]`` extra), each device's
calibrated noise is evaluated too (:mod:`hqnn_pl.quantum.devices`: the circuits compiled to the
device's layout, routing and native gates; exact, or sampled with ``--device_shots``): per
device the test accuracy, the compiled circuit's depth, two-qubit gates and SWAPs and the device
time per image from the gate durations, in ``robustness.md``, ``robustness_devices.csv`` and
``robustness_devices.png``; the compiled circuits go to ``circuits/`` as OpenQASM 3.

Example::

    hqnn-pl-robustness --config runs/fashion_mnist/version_0/config.yaml
        --ckpt_path runs/fashion_mnist/version_0/checkpoints/last.ckpt --out robustness/
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy import stats

from hqnn_pl.errors import ConfigurationError
from hqnn_pl.quantum.devices.config import DeviceNoise
from hqnn_pl.quantum.devices.report import compiled_specs, device_layers, export_circuits
from hqnn_pl.quantum.engine.shots import check_shots
from hqnn_pl.quantum.layers import quantum_layers
from hqnn_pl.quantum.noise import Noise
from hqnn_pl.run.files import check_output_folder
from hqnn_pl.run.loading import load_model_and_data

__all__ = ["build_parser", "evaluate", "main", "run_grid"]

KINDS = ("shots", "depolarizing", "amplitude_damping", "readout")


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = argparse.ArgumentParser(
        prog="hqnn-pl-robustness",
        description="Test accuracy of a trained hqnn-pl checkpoint over a grid of shots and "
        "noise strengths (each channel separately), with repeats.",
    )
    parser.add_argument("--config", required=True, help="the run's config.yaml (or its config)")
    parser.add_argument("--ckpt_path", required=True, help="checkpoint to evaluate")
    parser.add_argument("--out", default="robustness", help="output folder")
    grids = (
        ("--shots", int, [10, 100, 1000, 10000], "shot counts of the noiseless grid"),
        ("--depolarizing", float, [0.001, 0.01, 0.03, 0.1],
         "depolarizing probabilities after every gate"),
        ("--amplitude_damping", float, [0.001, 0.01, 0.03, 0.1],
         "amplitude-damping probabilities after every gate"),
        ("--readout", float, [0.01, 0.03, 0.1, 0.2], "bit-flip probabilities before every "
         "measurement"),
    )  # fmt: skip
    for flag, kind, default, what in grids:
        values = " ".join(str(v) for v in default)
        parser.add_argument(
            flag, type=kind, nargs="*", default=default,
            help=f"{what} (given with no value: skip this grid; default {values})",
        )  # fmt: skip
    parser.add_argument("--noise_shots", type=int, default=None, help="shots for the noise grid")
    parser.add_argument(
        "--devices", nargs="*", default=[], help="IBM fake-provider devices, e.g. fake_torino"
    )
    parser.add_argument("--device_shots", type=int, default=None, help="shots on the devices")
    parser.add_argument(
        "--optimization_level", type=int, default=1, help="transpiler level for --devices"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="evaluations per sampled setting, each with its own "
        "shot seed (3)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=int, default=0, help="shot seeds are seed * 1000 + repeat (0)"
    )
    parser.add_argument(
        "--max_samples", type=int, default=None, help="evaluate the first N test samples only"
    )
    parser.add_argument(
        "--cli_args",
        nargs=argparse.REMAINDER,
        default=[],
        help="further hqnn-pl arguments for the config, e.g. --cli_args --data.init_args.root X",
    )
    return parser


def _check_args(args: argparse.Namespace) -> None:
    for path in (args.config, args.ckpt_path):
        if not Path(path).is_file():
            raise ConfigurationError(f"No such file: {path!r}; pass an existing file.")
    for shots in [*args.shots, args.noise_shots]:
        check_shots(shots, None)
    for kind in KINDS[1:]:
        for value in getattr(args, kind):
            Noise(**{kind: value})
    for device in args.devices:
        DeviceNoise(device=device, optimization_level=args.optimization_level).check()
    check_shots(args.device_shots, None)
    if args.repeats < 1:
        raise ConfigurationError(f"--repeats must be positive; got {args.repeats}.")


def evaluate(model: Any, batches: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Top-1 accuracy of ``model`` on the batches."""
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in batches:
            correct += int((model(x).argmax(dim=-1) == y).sum())
            total += len(y)
    return correct / total


def run_grid(
    model: Any, state_dict: dict[str, Any], batches: list, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Evaluate the exact model and every grid point; one row per evaluation.

    The devices' compiled-circuit statistics are left in ``args.device_stats`` (per device).
    """
    if not hasattr(args, "device_stats"):
        args.device_stats = {}
    hparams = {k: v for k, v in model.hparams.items() if not k.startswith("_")}
    # every setting starts from the noise-free, exact circuit (whatever it was trained with)
    exact = dataclasses.replace(
        hparams["execution"], noise=None, shots=None, shot_gradients=None, route="auto"
    )

    def variant(repeat: int, **changes: Any) -> Any:
        torch.manual_seed(args.seed * 1000 + repeat)  # seeds the layers' shot samplers
        execution = dataclasses.replace(exact, **changes)
        new = type(model)(**{**hparams, "execution": execution})
        new.load_state_dict(state_dict)
        return new

    rows = [{"kind": "exact", "value": "", "repeat": 0, "accuracy": evaluate(variant(0), batches)}]
    settings: list[tuple[str, Any, dict[str, Any]]] = [
        ("shots", s, {"shots": s}) for s in args.shots
    ]
    for kind in KINDS[1:]:
        for value in getattr(args, kind):
            settings.append((kind, value, {"noise": {kind: value}, "shots": args.noise_shots}))
    for device in args.devices:
        noise = {"device": device, "optimization_level": args.optimization_level}
        settings.append(("device", device, {"noise": noise, "shots": args.device_shots}))
    for kind, value, changes in settings:
        exact_noise = changes.get("shots") is None
        for repeat in range(1 if exact_noise else args.repeats):
            new = variant(repeat + 1, **changes)
            accuracy = evaluate(new, batches)
            rows.append({"kind": kind, "value": value, "repeat": repeat, "accuracy": accuracy})
            print(f"{kind}={value} repeat {repeat}: test accuracy {accuracy:.4f}", flush=True)
            if kind == "device" and repeat == 0:
                args.device_stats[value] = device_stats(new, batches[0][0][:1], changes["shots"])
                export_circuits(new, Path(args.out) / "circuits")
    return rows


def device_stats(model: Any, image: torch.Tensor, shots: int | None) -> list[dict[str, Any]]:
    """Per device layer: the compiled circuit's size and the device time per image.

    Args:
        model: A model whose quantum layers run a device's noise.
        image: One input ``(1, C, H, W)``, to count the circuits each layer runs per image.
        shots: Shots per execution (None: one execution's time).

    Returns:
        One dict per layer: ``layer``, the :func:`~hqnn_pl.quantum.devices.report.
        compiled_specs` and ``circuits_per_image``, ``device_seconds_per_image``.
    """
    calls: dict[str, int] = {}
    layers = device_layers(model)
    hooks = [
        layer.register_forward_pre_hook(
            lambda mod, a, name=name: calls.__setitem__(name, mod.executions_per_call(a[0]))
        )
        for name, layer in layers
    ]
    try:
        with torch.no_grad():
            model(image)
    finally:
        for hook in hooks:
            hook.remove()
    out = []
    for name, layer in layers:
        specs = compiled_specs(layer)
        per_image = calls.get(name, 0)
        seconds = per_image * specs["duration_s"] * (shots or 1)
        out.append(
            {"layer": name, **specs, "circuits_per_image": per_image,
             "device_seconds_per_image": seconds, "shots": shots}
        )  # fmt: skip
    return out


def _summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, Any], list[float]] = {}
    for row in rows:
        groups.setdefault((row["kind"], row["value"]), []).append(row["accuracy"])
    out = []
    for (kind, value), accs in groups.items():
        if len(accs) > 1:
            desc = stats.describe(accs)
            mean, std = float(desc.mean), float(np.sqrt(desc.variance))
        else:
            mean, std = accs[0], 0.0
        out.append({"kind": kind, "value": value, "n": len(accs), "mean": mean, "std": std})
    return out


def _device_report(
    summary: list[dict[str, Any]], exact: float, devices: dict[str, list], out: Path
) -> list[str]:
    """The devices' table (Markdown lines), ``robustness_devices.csv`` and its figure."""
    points = [s for s in summary if s["kind"] == "device"]
    if not points:
        return []
    fields = ["device", "layer", "accuracy", "std", "depth", "two_qubit_gates", "swaps",
              "qubits", "physical_qubits", "duration_s", "circuits_per_image",
              "device_seconds_per_image", "shots"]  # fmt: skip
    lines = [
        "",
        "## Devices",
        "",
        "Each device's calibrated noise (qiskit-ibm-runtime's snapshot; Aer's "
        "`NoiseModel.from_backend` channels) on the circuits compiled to its layout, routing "
        "and native gates. Depth, two-qubit gates and SWAPs are one compiled circuit's; device "
        "time per image sums the layers' circuits per image x one execution's scheduled gate "
        "durations and readout (x shots when sampled).",
        "",
        "| device | test accuracy | vs exact | layer | depth | 2-qubit gates | SWAPs | "
        "device time / image |",
        "|---|---|---|---|---|---|---|---|",
    ]
    records = []
    for point in points:
        for layer in devices.get(point["value"], []):
            lines.append(
                f"| {point['value']} | {point['mean']:.4f} ± {point['std']:.4f} | "
                f"{point['mean'] - exact:+.4f} | {layer['layer']} | {layer['depth']} | "
                f"{layer['two_qubit_gates']} | {layer['swaps']} | "
                f"{layer['device_seconds_per_image'] * 1e3:.3f} ms |"
            )
            records.append(
                {"device": point["value"], "accuracy": point["mean"], "std": point["std"],
                 **{k: layer[k] for k in fields[1:] if k in layer}}
            )  # fmt: skip
    with (out / "robustness_devices.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(records)
    fig, ax = plt.subplots(figsize=(1.2 * len(points) + 3, 3.5))
    names = [p["value"] for p in points]
    ax.bar(names, [p["mean"] for p in points], yerr=[p["std"] for p in points], capsize=3)
    ax.axhline(exact, color="gray", linestyle="--", label=f"exact ({exact:.3f})")
    ax.set_ylabel("test accuracy")
    ax.set_title("accuracy per device")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "robustness_devices.png", dpi=120)
    plt.close(fig)
    return lines


def write_reports(
    rows: list[dict[str, Any]], out: Path, title: str, devices: dict[str, list] | None = None
) -> None:
    """robustness.csv, robustness.md, one PNG per kind, and the devices' table and figure."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "robustness.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["kind", "value", "repeat", "accuracy"])
        writer.writeheader()
        writer.writerows(rows)
    summary = _summary(rows)
    exact = next(s["mean"] for s in summary if s["kind"] == "exact")
    lines = [
        f"# Robustness of {title}",
        "",
        f"Exact test accuracy: {exact:.4f}. Mean ± std over repeats (std 0 where the setting is "
        "exact and deterministic).",
        "",
        "| setting | value | repeats | test accuracy | vs exact |",
        "|---|---|---|---|---|",
    ]
    for s in summary:
        if s["kind"] == "exact":
            continue
        lines.append(
            f"| {s['kind']} | {s['value']} | {s['n']} | {s['mean']:.4f} ± {s['std']:.4f} | "
            f"{s['mean'] - exact:+.4f} |"
        )
    lines += _device_report(summary, exact, devices or {}, out)
    (out / "robustness.md").write_text("\n".join(lines) + "\n")
    for kind in KINDS:
        points = [s for s in summary if s["kind"] == kind]
        if not points:
            continue
        fig, ax = plt.subplots(figsize=(5, 3.5))
        values = [float(p["value"]) for p in points]
        ax.errorbar(
            values, [p["mean"] for p in points], yerr=[p["std"] for p in points], marker="o",
            capsize=3, label="mean ± std",
        )  # fmt: skip
        ax.axhline(exact, color="gray", linestyle="--", label=f"exact ({exact:.3f})")
        ax.set_xscale("log")
        ax.set_xlabel("shots" if kind == "shots" else f"{kind} strength")
        ax.set_ylabel("test accuracy")
        ax.set_title(f"{title}: accuracy vs {kind}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / f"robustness_{kind}.png", dpi=120)
        plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``hqnn-pl-robustness``."""
    args = build_parser().parse_args(argv)
    try:
        _check_args(args)
        out = check_output_folder(args.out)
        loaded = load_model_and_data([args.config], args.ckpt_path, args.cli_args)
        model, datamodule = loaded.model, loaded.datamodule
        if not quantum_layers(model):
            raise ConfigurationError(
                f"{args.ckpt_path} is a run of {type(model).__name__}, which has no quantum "
                "layer: hqnn-pl-robustness varies the shots and noise of quantum layers. Give "
                "a checkpoint of a quantum model."
            )
        datamodule.setup("test")
        batches, seen = [], 0
        for x, y in datamodule.test_dataloader():
            if args.max_samples is not None and seen >= args.max_samples:
                break
            if args.max_samples is not None:
                x, y = x[: args.max_samples - seen], y[: args.max_samples - seen]
            batches.append((x, y))
            seen += len(y)
        args.device_stats = {}
        rows = run_grid(model, model.state_dict(), batches, args)
        write_reports(rows, out, type(model).__name__, args.device_stats)
    except ConfigurationError as error:
        print(f"hqnn-pl-robustness: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"Wrote {out / 'robustness.md'}")


if __name__ == "__main__":
    main()
