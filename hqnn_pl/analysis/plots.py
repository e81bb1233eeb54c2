"""Figures of the diagnostics (matplotlib, Agg backend, every figure closed after saving)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from hqnn_pl.analysis.expressibility import ExpressibilityResult
from hqnn_pl.analysis.fourier import FourierResult, coefficient_labels
from hqnn_pl.analysis.gradients import GradientVarianceResult

__all__ = ["plot_expressibility", "plot_fourier", "plot_gradient_variance"]


def _save(figure: plt.Figure, path: Path, dpi: int) -> Path:
    try:
        figure.savefig(path, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(figure)
    return path


def plot_fourier(result: FourierResult, path: Path, title: str, dpi: int = 120) -> Path:
    """Violin plots of the real and imaginary parts of every coefficient (Fig. 10 style).

    The random draws are violins; the layer's actual weights (one point per circuit) are
    overlaid as dots.

    Args:
        result: Fourier coefficients.
        path: PNG to write.
        title: Figure title.
        dpi: Resolution.

    Returns:
        ``path``.
    """
    labels = coefficient_labels(result.degree)
    random = result.random.reshape(len(result.random), -1)
    actual = result.actual.reshape(len(result.actual), -1)
    positions = np.arange(len(labels))
    figure, axes = plt.subplots(2, 1, figsize=(max(6.0, 0.7 * len(labels)), 5), sharex=True)
    for axis, part, name in ((axes[0], np.real, "real"), (axes[1], np.imag, "imaginary")):
        values = part(random)
        varying = np.ptp(values, axis=0) > 1e-12  # constant ones (e.g. Im c(0,0) = 0) as dots
        if varying.any():
            parts = axis.violinplot(
                [values[:, i] for i in positions[varying]],
                positions=positions[varying],
                showextrema=False,
                widths=0.8,
            )
            for body in parts["bodies"]:
                body.set_alpha(0.5)
        for circuit, row in enumerate(part(actual)):
            axis.scatter(
                positions + 0.08 * (circuit - (len(actual) - 1) / 2),
                row,
                s=10,
                zorder=3,
                label=f"circuit {circuit} (actual weights)",
            )
        axis.axhline(0.0, color="gray", linewidth=0.5)
        axis.set_ylabel(f"{name} part")
    axes[1].set_xticks(positions, labels, rotation=45)
    axes[0].legend(fontsize=6, loc="upper right")
    axes[0].set_title(title, fontsize=9)
    return _save(figure, path, dpi)


def plot_expressibility(
    result: ExpressibilityResult, path: Path, title: str, dpi: int = 120
) -> Path:
    """Fidelity histogram of the circuit against the Haar distribution.

    Args:
        result: Expressibility result.
        path: PNG to write.
        title: Figure title.
        dpi: Resolution.

    Returns:
        ``path``.
    """
    centres = (np.arange(result.bins) + 0.5) / result.bins
    figure, axis = plt.subplots(figsize=(5, 3))
    axis.bar(centres, result.histogram, width=1.0 / result.bins, alpha=0.6, label="circuit")
    axis.plot(centres, result.haar, color="black", linewidth=1, label="Haar")
    axis.set_xlabel("fidelity")
    axis.set_ylabel("probability")
    axis.set_title(f"{title}\nKL to Haar = {result.kl:.4f} ({result.pairs} pairs)", fontsize=8)
    axis.legend(fontsize=7)
    return _save(figure, path, dpi)


def plot_gradient_variance(
    result: GradientVarianceResult, path: Path, title: str, dpi: int = 120
) -> Path:
    """Gradient variance against qubits (one line per depth) and depth, log scale.

    Args:
        result: Gradient-variance scan.
        path: PNG to write.
        title: Figure title.
        dpi: Resolution.

    Returns:
        ``path``.
    """
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    colours = plt.cm.viridis(np.linspace(0, 1, len(result.depths)))
    for i, depth in enumerate(result.depths):
        axes[0].semilogy(
            result.qubits,
            result.variance[i],
            marker="o",
            markersize=3,
            color=colours[i],
            label=f"depth {depth}",
        )
    axes[0].set_xlabel("qubits")
    axes[0].set_ylabel("Var[dE/dθ] (mean over weights)")
    axes[0].legend(fontsize=6, ncol=2)
    colours = plt.cm.plasma(np.linspace(0, 0.9, len(result.qubits)))
    for j, n_qubits in enumerate(result.qubits):
        axes[1].semilogy(
            result.depths,
            result.variance[:, j],
            marker="o",
            markersize=3,
            color=colours[j],
            label=f"{n_qubits} qubits",
        )
    axes[1].set_xlabel("depth")
    axes[1].legend(fontsize=6, ncol=2)
    figure.suptitle(f"{title} ({result.samples} random initialisations per point)", fontsize=9)
    return _save(figure, path, dpi)
