"""Figures of a comparison: per-epoch curves (mean +- 1 std), final accuracies, learning curves."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from hqnn_pl.experiments.collect import CURVE_METRICS, RunResult

DPI = 90


@contextmanager
def _figure(figsize: tuple[float, float]) -> Iterator[tuple[plt.Figure, Axes]]:
    """One figure with one axes, closed when the block ends (saved or not)."""
    fig, ax = plt.subplots(figsize=figsize)
    try:
        yield fig, ax
    finally:
        plt.close(fig)


def _save(fig: plt.Figure, path: Path) -> Path:
    """Lay ``fig`` out tightly and write it to ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path


def plot_curves(ax: Axes, results: dict[str, list[RunResult]], metric: str) -> list[str]:
    """Draw one config per line: the mean over seeds per epoch and a +-1 std band.

    Epochs where only some seeds have a value (an unfinished run) use the seeds that have one.

    Returns:
        The configs drawn, in order (one line each).
    """
    drawn = []
    for label, runs in results.items():
        epochs = sorted({e for r in runs for e in r.curves.get(metric, {})})
        if not epochs:
            continue
        values = [
            [r.curves[metric][e] for r in runs if e in r.curves.get(metric, {})] for e in epochs
        ]
        mean = np.array([np.mean(v) for v in values])
        std = np.array([np.std(v, ddof=1) if len(v) > 1 else 0.0 for v in values])
        x = np.array(epochs) + 1
        n = sum(1 for r in runs if r.curves.get(metric))
        (line,) = ax.plot(x, mean, label=f"{label} (n={n})", linewidth=1.5)
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2)
        drawn.append(label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric}: mean +- 1 std over seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return drawn


def curve_figures(results: dict[str, list[RunResult]], folder: Path) -> list[Path]:
    """One PNG per metric in :data:`CURVE_METRICS` that any run logged (see :func:`plot_curves`).

    Returns:
        The PNG files written (``curve_train_loss.png`` ...).
    """
    written = []
    for metric in CURVE_METRICS:
        if not any(metric in r.curves for runs in results.values() for r in runs):
            continue
        with _figure((5.5, 3.6)) as (fig, ax):
            plot_curves(ax, results, metric)
            written.append(_save(fig, folder / f"curve_{metric.replace('/', '_')}.png"))
    return written


def accuracy_figure(results: dict[str, list[RunResult]], folder: Path) -> Path | None:
    """Box plot of the final test accuracy per config with every seed as a point.

    Returns:
        ``test_acc.png``, or None when no run has a test accuracy.
    """
    labels = [label for label, runs in results.items() if any("test/acc" in r.test for r in runs)]
    if not labels:
        return None
    data = [
        [r.test["test/acc"] for r in results[label] if "test/acc" in r.test] for label in labels
    ]
    with _figure((1.2 + 1.3 * len(labels), 3.6)) as (fig, ax):
        ax.boxplot(data, widths=0.5, showfliers=False)
        jitter = np.random.default_rng(0)
        for i, values in enumerate(data, start=1):
            x = i + jitter.uniform(-0.12, 0.12, size=len(values))
            ax.scatter(x, values, s=14, alpha=0.8, zorder=3)
        ax.set_xticks(range(1, len(labels) + 1), labels, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel("test accuracy")
        ax.set_title("final test accuracy per seed")
        ax.grid(axis="y", alpha=0.3)
        return _save(fig, folder / "test_acc.png")


def plot_learning_curve(ax: Axes, groups: dict[int, dict[str, list[RunResult]]]) -> list[str]:
    """Draw test accuracy against training-set size (log x): per config the mean and 95% CI band.

    Args:
        ax: The axes.
        groups: ``train size -> (config -> runs)``.

    Returns:
        The configs drawn, in order (one line and one band each).
    """
    from hqnn_pl.experiments.statistics import summarise

    drawn = []
    for label in next(iter(groups.values()), {}):
        points = []
        for size in sorted(groups):
            values = [r.test["test/acc"] for r in groups[size][label] if "test/acc" in r.test]
            if values:
                points.append((size, summarise(values)))
        if not points:
            continue
        x = np.array([size for size, _ in points], dtype=float)
        mean = np.array([s.mean for _, s in points])
        low = np.array([s.mean if np.isnan(s.low) else s.low for _, s in points])
        high = np.array([s.mean if np.isnan(s.high) else s.high for _, s in points])
        n = min(s.n for _, s in points)
        (line,) = ax.plot(x, mean, marker="o", linewidth=1.5, label=f"{label} (n>={n})")
        ax.fill_between(x, low, high, color=line.get_color(), alpha=0.2)
        drawn.append(label)
    ax.set_xscale("log")
    ax.set_xlabel("training-set size (images)")
    ax.set_ylabel("test accuracy")
    ax.set_title("learning curve: mean and 95% CI over seeds")
    ax.grid(alpha=0.3, which="both")
    if drawn:
        ax.legend(fontsize=8)
    return drawn


def learning_curve_figure(
    groups: dict[int, dict[str, list[RunResult]]], folder: Path
) -> Path | None:
    """Write ``learning_curve.png`` (see :func:`plot_learning_curve`).

    Returns:
        The file, or None when no run of any size has a test accuracy.
    """
    with _figure((5.5, 3.8)) as (fig, ax):
        if not plot_learning_curve(ax, groups):
            return None
        return _save(fig, folder / "learning_curve.png")
