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
    parser.add_argument("--shots", type=int, nargs="*", default=[10, 100, 1000, 10000])
    parser.add_argument("--depolarizing", type=float, nargs="*", default=[0.001, 0.01, 0.03, 0.1])
    parser.add_argument(
        "--amplitude_damping", type=float, nargs="*", default=[0.001, 0.01, 0.03, 0.1]
    )
    parser.add_argument("--readout", type=float, nargs="*", default=[0.01, 0.03, 0.1, 0.2])
    parser.add_argument("--noise_shots", type=int, default=None, help="shots for the noise grid")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
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
    """Evaluate the exact model and every grid point; one row per evaluation."""
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
    for kind, value, changes in settings:
        exact_noise = changes.get("shots") is None
        for repeat in range(1 if exact_noise else args.repeats):
            accuracy = evaluate(variant(repeat + 1, **changes), batches)
            rows.append({"kind": kind, "value": value, "repeat": repeat, "accuracy": accuracy})
            print(f"{kind}={value} repeat {repeat}: test accuracy {accuracy:.4f}", flush=True)
    return rows


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


def write_reports(rows: list[dict[str, Any]], out: Path, title: str) -> None:
    """robustness.csv, robustness.md and one PNG per kind."""
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
        rows = run_grid(model, model.state_dict(), batches, args)
        write_reports(rows, out, type(model).__name__)
    except ConfigurationError as error:
        print(f"hqnn-pl-robustness: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"Wrote {out / 'robustness.md'}")


if __name__ == "__main__":
    main()
