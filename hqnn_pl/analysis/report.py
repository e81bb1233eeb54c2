"""Run every diagnostic on every quantum layer of a model and write JSON, Markdown and PNGs."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hqnn_pl.analysis import plots
from hqnn_pl.analysis.entanglement import entangling_capability
from hqnn_pl.analysis.expressibility import check_histogram_samples, expressibility
from hqnn_pl.analysis.fourier import coefficient_labels, fourier_coefficients
from hqnn_pl.analysis.gradients import gradient_variance_scan
from hqnn_pl.analysis.specs import CircuitSpec, circuit_spec, quantum_layers
from hqnn_pl.analysis.zx import draw_reduced, import_pyzx, zx_analysis
from hqnn_pl.errors import ConfigurationError

__all__ = ["MEASURES", "DiagnoseSettings", "diagnose_model", "write_markdown"]

MEASURES = ("fourier", "zx", "expressibility", "entangling_capability", "gradient_variance")


@dataclass
class DiagnoseSettings:
    """Settings of ``hqnn-pl-diagnose`` (see its ``--help``)."""

    measures: Sequence[str] = MEASURES
    seed: int = 0
    fourier_draws: int = 100
    fourier_degree: int = 1
    fourier_output: int = -1
    pairs: int = 5000
    bins: int = 75
    entangling_samples: int = 2000
    gradient_samples: int = 100
    gradient_qubits: Sequence[int] = field(default_factory=lambda: list(range(2, 11)))
    gradient_depths: Sequence[int] = field(default_factory=lambda: list(range(1, 9)))
    dpi: int = 120

    def validate(self) -> None:
        """Refuse unknown measures and sample counts too small to mean anything, up front."""
        unknown = sorted(set(self.measures) - set(MEASURES))
        if unknown:
            raise ConfigurationError(
                f"Unknown measure(s) {', '.join(unknown)}; choose from {', '.join(MEASURES)}."
            )
        if "expressibility" in self.measures:
            check_histogram_samples(self.pairs, self.bins)
        for name, value, least in (
            ("--fourier_draws", self.fourier_draws, 2),
            ("--fourier_degree", self.fourier_degree, 1),
            ("--entangling_samples", self.entangling_samples, 2),
            ("--gradient_samples", self.gradient_samples, 2),
        ):
            if value < least:
                raise ConfigurationError(f"{name}={value} is too small; use at least {least}.")
        if "zx" in self.measures:
            import_pyzx()


def _stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "layer"


def _timed(timings: dict[str, float], key: str, func: Callable[[], Any]) -> Any:
    start = time.perf_counter()
    try:
        return func()
    finally:
        timings[key] = round(time.perf_counter() - start, 3)


def _complex_list(values: np.ndarray) -> list[list[float]]:
    return [[float(v.real), float(v.imag)] for v in values]


def _fourier(spec: CircuitSpec, s: DiagnoseSettings, out: Path, name: str) -> dict[str, Any]:
    result = fourier_coefficients(spec, s.fourier_draws, s.fourier_degree, s.fourier_output, s.seed)
    labels = coefficient_labels(result.degree)
    flat = result.random.reshape(len(result.random), -1)
    png = plots.plot_fourier(
        result,
        out / f"fourier_{_stem(name)}.png",
        f"{name}: Fourier coefficients of output {result.output} over inputs x0, x1 "
        f"({s.fourier_draws} random weight draws)",
        s.dpi,
    )
    return {
        "output": result.output,
        "degree": result.degree,
        "fixed_inputs": result.fixed_inputs,
        "draws": s.fourier_draws,
        "coefficients": labels,
        "random_std_real": np.real(flat).std(axis=0).tolist(),
        "random_std_imag": np.imag(flat).std(axis=0).tolist(),
        "actual": {
            f"circuit_{c}": _complex_list(row.reshape(-1)) for c, row in enumerate(result.actual)
        },
        "covariance_rank": result.covariance_rank,
        "real_degrees_of_freedom": result.free_parameters,
        "max_conjugate_asymmetry": result.max_conjugate_asymmetry,
        "figure": png.name,
    }


def _zx(spec: CircuitSpec, s: DiagnoseSettings, out: Path, name: str) -> dict[str, Any]:
    result = zx_analysis(spec, s.seed)
    summary = result.summary()
    summary["figure"] = draw_reduced(result, out / f"zx_{_stem(name)}.png", s.dpi).name
    return summary


def _expressibility(
    spec: CircuitSpec, s: DiagnoseSettings, out: Path, name: str, inputs: torch.Tensor
) -> dict[str, Any]:
    result = expressibility(spec, inputs, s.pairs, s.bins, s.seed)
    png = plots.plot_expressibility(result, out / f"expressibility_{_stem(name)}.png", name, s.dpi)
    return {
        "kl_to_haar": result.kl,
        "pairs": result.pairs,
        "bins": result.bins,
        "mean_fidelity": result.mean_fidelity,
        "haar_mean_fidelity": 1.0 / 2**spec.n_qubits,
        "fixed_inputs": inputs.tolist(),
        "figure": png.name,
    }


def _entangling(spec: CircuitSpec, s: DiagnoseSettings, inputs: torch.Tensor) -> dict[str, Any]:
    result = entangling_capability(spec, inputs, s.entangling_samples, s.seed)
    return {"mean_meyer_wallach": result.mean, "std": result.std, "samples": result.samples}


def _gradients(spec: CircuitSpec, s: DiagnoseSettings, out: Path, name: str) -> dict[str, Any]:
    qubits, depths = s.gradient_qubits, s.gradient_depths
    if spec.family is None:  # a fixed-size circuit (a user's own): its own size only
        fixed = spec
        spec = dataclasses.replace(spec, family=lambda n, d: fixed)
        qubits, depths = [spec.n_qubits], [spec.depth or 1]
    result = gradient_variance_scan(spec, qubits, depths, s.gradient_samples, s.seed)
    png = plots.plot_gradient_variance(
        result, out / f"gradient_variance_{_stem(name)}.png", f"{name}: {spec.name}", s.dpi
    )
    slopes = [
        float(np.polyfit(result.qubits, np.log2(row), 1)[0]) if len(result.qubits) > 1 else None
        for row in result.variance
    ]
    return {
        "qubits": result.qubits,
        "depths": result.depths,
        "samples": result.samples,
        "variance": result.variance.tolist(),
        "first_weight_variance": result.first_weight_variance.tolist(),
        "log2_slope_per_qubit": dict(zip(map(str, result.depths), slopes, strict=True)),
        "figure": png.name,
    }


def _skipped(reason: str) -> dict[str, str]:
    return {"skipped": reason}


def diagnose_layer(
    name: str, layer: nn.Module, settings: DiagnoseSettings, out: Path
) -> dict[str, Any]:
    """All selected diagnostics of one quantum layer.

    Args:
        name: The layer's module name.
        layer: The layer.
        settings: What to compute.
        out: Folder for the figures.

    Returns:
        JSON-ready results, with ``timings_s`` per measure.
    """
    spec = circuit_spec(layer)
    timings: dict[str, float] = {}
    inputs = spec.random_inputs(1, torch.Generator().manual_seed(settings.seed))[0]
    entry: dict[str, Any] = {
        "type": type(layer).__name__,
        "circuit": spec.name,
        "n_circuits": len(spec.circuit_weights),
        "n_qubits": spec.n_qubits,
        "weights_per_circuit": int(np.prod(spec.weight_shape)),
        "trainable": spec.trainable,
    }
    selected = set(settings.measures)
    if "fourier" in selected:
        entry["fourier"] = (
            _skipped("amplitude embedding: the output is not a Fourier series of the inputs")
            if spec.input_kind == "amplitude"
            else _timed(timings, "fourier", lambda: _fourier(spec, settings, out, name))
        )
    if "zx" in selected:
        entry["zx"] = _timed(timings, "zx", lambda: _zx(spec, settings, out, name))
    if "expressibility" in selected:
        entry["expressibility"] = _timed(
            timings,
            "expressibility",
            lambda: _expressibility(spec, settings, out, name, inputs),
        )
    if "entangling_capability" in selected:
        entry["entangling_capability"] = _timed(
            timings, "entangling_capability", lambda: _entangling(spec, settings, inputs)
        )
    if "gradient_variance" in selected:
        if not spec.trainable:
            entry["gradient_variance"] = _skipped("the circuit's weights are not trained")
        else:
            entry["gradient_variance"] = _timed(
                timings, "gradient_variance", lambda: _gradients(spec, settings, out, name)
            )
    entry["timings_s"] = timings
    return entry


def diagnose_model(
    model: nn.Module,
    settings: DiagnoseSettings,
    out: Path,
    meta: dict[str, Any],
    hardware_cost: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Diagnose every quantum layer of ``model``; write ``diagnostics.json`` and ``.md``.

    Args:
        model: The model (with initial or trained weights).
        settings: What to compute.
        out: Output folder (created).
        meta: What to record about the run (config, checkpoint, model class).
        hardware_cost: The model's hardware cost (``hqnn_pl.callbacks.hardware_cost``), if
            computed: recorded as it is and summarised in the Markdown.

    Returns:
        The JSON-ready report.

    Raises:
        ConfigurationError: If the model has no quantum layer.
    """
    layers = quantum_layers(model)
    if not layers:
        raise ConfigurationError(
            f"{type(model).__name__} has no quantum layer to diagnose (it is a classical model); "
            "use the config of a hybrid model, e.g. configs/mnist/hqnn_parallel.yaml."
        )
    settings.validate()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    report: dict[str, Any] = {
        **meta,
        "settings": {
            key: list(value) if isinstance(value, (list, tuple)) else value
            for key, value in vars(settings).items()
        },
        "torch_threads": torch.get_num_threads(),
        "layers": {name: diagnose_layer(name, layer, settings, out) for name, layer in layers},
    }
    if hardware_cost is not None:
        report["hardware_cost"] = hardware_cost
    report["total_seconds"] = round(time.perf_counter() - start, 2)
    (out / "diagnostics.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "diagnostics.md").write_text(write_markdown(report))
    return report


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _hardware_markdown(cost: dict[str, Any]) -> list[str]:
    """The hardware-cost section: one table row per quantum layer and the epoch totals."""
    lines = [
        f"## Hardware cost ({cost['shots']:,} shots per execution, "
        f"{cost['shot_rate']:,.0f} shots/s)",
        "",
        "| layer | qubits | 1-qubit gates | 2-qubit gates | depth | circuits/sample "
        "| executions/forward batch | executions/epoch (parameter shift) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, e in cost["layers"].items():
        epoch = e.get("executions_per_epoch_parameter_shift")
        lines.append(
            f"| `{name}` | {e['qubits']} | {e['one_qubit_gates']} | {e['two_qubit_gates']} "
            f"| {e['depth']} | {e['circuits_per_sample']:,} "
            f"| {e['executions_per_forward_batch']:,} "
            f"| {'-' if epoch is None else f'{epoch:,}'} |"
        )
    lines.append("")
    if "shots_per_epoch" in cost:
        lines.append(
            f"One training epoch ({cost['train_samples']:,} images, from "
            f"{cost.get('train_samples_from') or 'the caller'}) under parameter shift: "
            f"{cost['executions_per_epoch_parameter_shift']:,} circuit executions, "
            f"{cost['shots_per_epoch']:,} shots, {cost['device_hours_per_epoch']:,.1f} device "
            "hours (shots only: no queueing, compilation or per-job overhead)."
        )
    else:
        lines.append("Epoch cost left out: the training data is not on disk; pass --train_samples.")
    return [*lines, ""]


def write_markdown(report: dict[str, Any]) -> str:
    """The human-readable report of :func:`diagnose_model`'s result.

    Args:
        report: The JSON-ready report.

    Returns:
        Markdown text.
    """
    lines = [
        f"# Diagnostics of {report.get('model', 'the model')}",
        "",
        f"config: `{report.get('config')}`; weights: {report.get('weights')}; "
        f"total {report['total_seconds']} s with {report['torch_threads']} torch thread(s).",
        "",
    ]
    if "hardware_cost" in report:
        lines += _hardware_markdown(report["hardware_cost"])
    for name, entry in report["layers"].items():
        lines += [
            f"## `{name}`: {entry['type']}",
            "",
            f"{entry['circuit']}; {entry['n_circuits']} circuit(s) of {entry['n_qubits']} qubits, "
            f"{entry['weights_per_circuit']} weights each.",
            "",
        ]
        fourier = entry.get("fourier")
        if fourier and "skipped" not in fourier:
            lines += [
                f"**Fourier** (output {fourier['output']}, inputs x0 and x1, "
                f"{fourier['draws']} draws): covariance rank of the real and imaginary parts "
                f"{fourier['covariance_rank']} of at most {fourier['real_degrees_of_freedom']} "
                "(c(-w) = conj(c(w)) for a real output, so the correlation matrix of all parts "
                "is singular whatever the weights). Spread (std over draws) of the real parts: "
                + ", ".join(
                    f"{label} {_fmt(std)}"
                    for label, std in zip(
                        fourier["coefficients"], fourier["random_std_real"], strict=True
                    )
                )
                + f". ![fourier]({fourier['figure']})",
                "",
            ]
        elif fourier:
            lines += [f"**Fourier**: skipped ({fourier['skipped']}).", ""]
        zx = entry.get("zx")
        if zx:
            verdict = (
                "some parameter is redundant" if zx["redundant"] else "no parameter is redundant"
            )
            lines += [
                f"**ZX** (pyzx full_reduce): gates {zx['gates_before'].get('gates')} -> "
                f"{zx['gates_after'].get('gates')} (non-Clifford {zx['gates_before'].get('tcount')}"
                f" -> {zx['gates_after'].get('tcount')}, two-qubit "
                f"{zx['gates_before'].get('twoqubit')} -> {zx['gates_after'].get('twoqubit')}); "
                f"{zx['parameter_spiders_after']} parameter spiders carry "
                f"{zx['independent_parameter_combinations']} independent combinations of "
                f"{zx['parameters']} parameters: {verdict}"
                + (f" (merged: {'; '.join(zx['merged_phases'])})" if zx["merged_phases"] else "")
                + (
                    f" (missing: {', '.join(zx['missing_parameters'])})"
                    if zx["missing_parameters"]
                    else ""
                )
                + ("" if zx["inputs_in_diagram"] else " (weights only: amplitude-encoded inputs)")
                + f". ![zx]({zx['figure']})",
                "",
            ]
        expr = entry.get("expressibility")
        if expr:
            lines += [
                f"**Expressibility**: KL to Haar {_fmt(expr['kl_to_haar'])} ({expr['pairs']} "
                f"pairs, {expr['bins']} bins; mean fidelity {_fmt(expr['mean_fidelity'])}, Haar "
                f"{_fmt(expr['haar_mean_fidelity'])}). ![expressibility]({expr['figure']})",
                "",
            ]
        ent = entry.get("entangling_capability")
        if ent:
            lines += [
                f"**Entangling capability**: mean Meyer-Wallach {_fmt(ent['mean_meyer_wallach'])} "
                f"+- {_fmt(ent['std'])} ({ent['samples']} draws).",
                "",
            ]
        grad = entry.get("gradient_variance")
        if grad and "skipped" not in grad and len(grad["qubits"]) == 1:
            lines += [
                f"**Gradient variance** at its own size ({grad['qubits'][0]} qubits, a "
                f"fixed-size circuit; {grad['samples']} draws): "
                f"{_fmt(grad['variance'][0][0])} per weight on average. "
                f"![gradient variance]({grad['figure']})",
                "",
            ]
        elif grad and "skipped" not in grad:
            deepest = str(grad["depths"][-1])
            slope = grad["log2_slope_per_qubit"][deepest]
            lines += [
                f"**Gradient variance** over {grad['qubits'][0]}-{grad['qubits'][-1]} qubits and "
                f"depths {grad['depths'][0]}-{grad['depths'][-1]} ({grad['samples']} draws): at "
                f"depth {deepest} it falls by a factor 2^{_fmt(-slope)} per qubit "
                f"(from {_fmt(grad['variance'][-1][0])} to {_fmt(grad['variance'][-1][-1])}). "
                f"![gradient variance]({grad['figure']})",
                "",
            ]
        elif grad:
            lines += [f"**Gradient variance**: skipped ({grad['skipped']}).", ""]
        if entry["timings_s"]:
            lines += [
                "Seconds per measure: "
                + ", ".join(f"{k} {v}" for k, v in entry["timings_s"].items()),
                "",
            ]
    return "\n".join(lines)
