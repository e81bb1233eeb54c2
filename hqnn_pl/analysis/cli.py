"""``hqnn-pl-diagnose``: look inside every quantum layer of a model.

    hqnn-pl-diagnose --config configs/mnist/hqnn_parallel.yaml --out diagnostics/
    hqnn-pl-diagnose --config runs/<name>/version_<n>/config.yaml --ckpt_path <ckpt> --out DIR
    hqnn-pl-diagnose --config configs/cars/resnet50_hqnn.yaml --only hardware_cost \
        --train_samples 8144 --out DIR

The model is built from the config's ``model`` and ``data`` sections exactly as ``hqnn-pl``
builds it (the datamodule's classes, channels and image size linked in; no data is read), with
the config's ``seed_everything`` for its initial weights, or the checkpoint's trained weights.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

import hqnn_pl.datamodules
import hqnn_pl.models  # noqa: F401  (registers the models for short class names)
from hqnn_pl.analysis.report import MEASURES, DiagnoseSettings, diagnose_model
from hqnn_pl.callbacks.hardware_cost import DEFAULT_SHOT_RATE, DEFAULT_SHOTS
from hqnn_pl.errors import ConfigurationError
from hqnn_pl.run.files import check_output_folder
from hqnn_pl.run.loading import load_model_and_data

__all__ = ["build_model", "count_train_samples", "main"]

HARDWARE = "hardware_cost"
ALL_MEASURES = (*MEASURES, HARDWARE)


def build_model(configs: list[Path]) -> tuple[nn.Module, int]:
    """Instantiate the model of ``hqnn-pl`` configs (their ``model`` and ``data`` sections).

    Args:
        configs: One or more YAML files, later ones overriding earlier ones.

    Returns:
        The model and the seed its weights were drawn with.

    Raises:
        ConfigurationError: For a missing file or a config without ``model`` and ``data``.
    """
    loaded = load_model_and_data(configs)
    return loaded.model, loaded.seed


def count_train_samples(datamodule: Any) -> int | None:
    """Training samples per epoch of ``datamodule``, or None when its data is not on disk.

    Sets the datamodule up for fitting (reads the data's index, never downloads).
    """
    try:
        datamodule.setup("fit")
        return len(datamodule.train_dataloader().dataset)
    except Exception:  # any missing or unreadable data means "unknown"
        return None


def _hardware_cost(model: nn.Module, datamodule: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The HardwareCost callback's report for ``model`` at the config's batch size."""
    from hqnn_pl.callbacks.hardware_cost import hardware_cost
    from hqnn_pl.quantum.layers import quantum_layers

    train_samples = args.train_samples
    source = "--train_samples"
    if train_samples is None:
        train_samples = count_train_samples(datamodule)
        source = "the datamodule's training split" if train_samples is not None else None
    layer_shots = next((lay.shots for _, lay in quantum_layers(model) if lay.shots), None)
    shots = args.shots or layer_shots or DEFAULT_SHOTS
    report = hardware_cost(
        model,
        int(getattr(datamodule, "batch_size", 1) or 1),
        train_samples,
        shots,
        args.shot_rate,
    )
    report["model"] = type(model).__name__
    report["train_samples_from"] = source
    return report


def _int_range(text: str) -> list[int]:
    """``"2-10"`` or ``"2,4,8"`` -> a list of positive ints."""
    try:
        if "-" in text:
            low, high = (int(v) for v in text.split("-", 1))
            values = list(range(low, high + 1))
        else:
            values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a range like 2-10 or a list like 2,4,8"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must name positive ints")
    return values


def _positive(cast: type[int] | type[float]) -> Callable[[str], int | float]:
    """An argparse type: ``cast`` of the text, refused unless above 0."""

    def parse(text: str) -> int | float:
        try:
            value = cast(text)
        except ValueError:
            kind = "an integer" if cast is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hqnn-pl-diagnose",
        description="Analyse every quantum layer of an hqnn-pl model: Fourier coefficients, ZX "
        "reduction, expressibility, entangling capability, gradient variance, and what one "
        "forward batch and one training epoch under parameter shift would cost on a device "
        "(hardware_cost). Writes "
        "diagnostics.json, diagnostics.md and PNG figures to --out.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        action="append",
        required=True,
        help="hqnn-pl config (repeatable; later files override earlier ones).",
    )
    parser.add_argument("--ckpt_path", type=Path, help="Checkpoint whose trained weights to use.")
    parser.add_argument("--out", type=Path, required=True, help="Output folder.")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=ALL_MEASURES, help="Measures to leave out."
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=ALL_MEASURES,
        help="Compute only these measures (e.g. --only hardware_cost).",
    )
    parser.add_argument(
        "--shots",
        type=_positive(int),
        help="Shots per circuit execution for the hardware cost (default: the model's shots, "
        "else 1000).",
    )
    parser.add_argument(
        "--shot_rate",
        type=_positive(float),
        default=DEFAULT_SHOT_RATE,
        help="Shots per second of the device, for the hardware cost's device hours.",
    )
    parser.add_argument(
        "--train_samples",
        type=_positive(int),
        help="Training images per epoch for the hardware cost (default: counted from the "
        "config's datamodule when its data is on disk, else the epoch cost is left out).",
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of all random draws.")
    parser.add_argument("--fourier_draws", type=int, default=100)
    parser.add_argument(
        "--fourier_degree",
        type=int,
        default=1,
        help="Largest frequency per input (times each input is encoded).",
    )
    parser.add_argument(
        "--fourier_output",
        type=int,
        default=-1,
        help="Output (measured qubit) analysed; -1 is the last, as in Fig. 10.",
    )
    parser.add_argument("--pairs", type=int, default=5000, help="Expressibility state pairs.")
    parser.add_argument("--bins", type=int, default=75, help="Expressibility histogram bins.")
    parser.add_argument("--entangling_samples", type=int, default=2000)
    parser.add_argument("--gradient_samples", type=int, default=100)
    parser.add_argument(
        "--gradient_qubits",
        type=_int_range,
        default=list(range(2, 11)),
        help="Qubit counts of the gradient-variance scan, e.g. 2-10.",
    )
    parser.add_argument(
        "--gradient_depths",
        type=_int_range,
        default=list(range(1, 9)),
        help="Depths of the gradient-variance scan, e.g. 1-8.",
    )
    parser.add_argument("--dpi", type=int, default=120)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: the simulations are many small tensor ops, and on a "
        "shared 2-core machine 2 threads made the gradient scan 10-20x slower than 1).",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    """Run ``hqnn-pl-diagnose``; bad input ends it with one line on stderr and status 2.

    Args:
        argv: Arguments (``sys.argv[1:]`` when None).
    """
    args = _parser().parse_args(argv)
    selected = [
        m for m in ALL_MEASURES if m not in args.skip and (args.only is None or m in args.only)
    ]
    settings = DiagnoseSettings(
        measures=[m for m in MEASURES if m in selected],
        seed=args.seed,
        fourier_draws=args.fourier_draws,
        fourier_degree=args.fourier_degree,
        fourier_output=args.fourier_output,
        pairs=args.pairs,
        bins=args.bins,
        entangling_samples=args.entangling_samples,
        gradient_samples=args.gradient_samples,
        gradient_qubits=args.gradient_qubits,
        gradient_depths=args.gradient_depths,
        dpi=args.dpi,
    )
    if args.threads < 1:
        print(f"hqnn-pl-diagnose: error: --threads={args.threads}; use 1 or more.", file=sys.stderr)
        raise SystemExit(2)
    torch.set_num_threads(args.threads)
    try:
        settings.validate()
        check_output_folder(args.out)
        loaded = load_model_and_data(args.config, args.ckpt_path)
        model = loaded.model
        cost = _hardware_cost(model, loaded.datamodule, args) if HARDWARE in selected else None
        report = diagnose_model(
            model,
            settings,
            args.out,
            {
                "model": type(model).__name__,
                "config": [str(p) for p in args.config],
                "weights": loaded.weights,
            },
            hardware_cost=cost,
        )
    except ConfigurationError as error:
        print(f"hqnn-pl-diagnose: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(
        f"hqnn-pl-diagnose: {len(report['layers'])} quantum layer(s) of {report['model']} in "
        f"{report['total_seconds']} s -> {args.out / 'diagnostics.md'}"
    )


if __name__ == "__main__":
    main()
