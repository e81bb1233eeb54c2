"""Statistics of a comparison, all from scipy.stats: summaries, paired tests, a verdict."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
ALPHA = 0.05


@dataclass
class Summary:
    """Mean, sample standard deviation and t-based 95% confidence interval of the mean.

    ``std``, ``low`` and ``high`` are NaN for fewer than 2 values.
    """

    n: int
    mean: float
    std: float
    low: float
    high: float


def summarise(values: Sequence[float]) -> Summary:
    """Summarise values (one per seed): mean, sample std (ddof=1), 95% CI from Student's t."""
    data = np.asarray(values, dtype=float)
    n = len(data)
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(data.mean())
    if n < 2:
        return Summary(n, mean, math.nan, math.nan, math.nan)
    std = float(data.std(ddof=1))
    if std == 0.0:
        return Summary(n, mean, 0.0, mean, mean)
    low, high = stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=stats.sem(data))
    return Summary(n, mean, std, float(low), float(high))


@dataclass
class Paired:
    """A paired comparison of a config (``other``) with the reference, seed by seed.

    ``difference`` is ``other - reference`` (mean over seeds) with its 95% CI; ``t_p`` and
    ``wilcoxon_p`` are two-sided p-values (NaN when the test cannot run).
    """

    metric: str
    n: int
    difference: float
    low: float
    high: float
    t_p: float
    wilcoxon_p: float


def paired(metric: str, reference: Sequence[float], other: Sequence[float]) -> Paired:
    """Paired t-test and Wilcoxon signed-rank test of ``other`` against ``reference``.

    Args:
        metric: Name of the metric compared.
        reference: Values of the reference config, one per seed.
        other: Values of the other config for the same seeds, in the same order.
    """
    a = np.asarray(reference, dtype=float)
    b = np.asarray(other, dtype=float)
    n = len(a)
    if n == 0:
        return Paired(metric, 0, math.nan, math.nan, math.nan, math.nan, math.nan)
    difference = float((b - a).mean())
    if n < 2:
        return Paired(metric, n, difference, math.nan, math.nan, math.nan, math.nan)
    if np.all(b - a == (b - a)[0]):  # no spread: tests and interval are undefined
        p = 1.0 if difference == 0.0 else math.nan
        return Paired(metric, n, difference, difference, difference, p, p)
    result = stats.ttest_rel(b, a)
    interval = result.confidence_interval(CONFIDENCE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small-n / zero-difference notes from scipy
        try:
            wilcoxon_p = float(stats.wilcoxon(b, a).pvalue)
        except ValueError:
            wilcoxon_p = math.nan
    return Paired(
        metric,
        n,
        difference,
        float(interval.low),
        float(interval.high),
        float(result.pvalue),
        wilcoxon_p,
    )


def verdict(name: str, reference: str, result: Paired, comparisons: int = 1) -> str:
    """A plain-words reading of a paired comparison that does not claim more than it shows."""
    metric = result.metric.removeprefix("test/")
    if result.n < 2:
        return (
            f"{name} vs {reference} ({metric}): {result.n} paired seed(s), too few for a test or "
            "an interval; the difference is a single observation."
        )
    if math.isnan(result.t_p):
        return f"{name} vs {reference} ({metric}): the test is undefined (no spread)."
    direction = "higher" if result.difference > 0 else "lower"
    both = f"paired t-test p={result.t_p:.3g}, Wilcoxon p=" + (
        "n/a" if math.isnan(result.wilcoxon_p) else f"{result.wilcoxon_p:.3g}"
    )
    if result.t_p >= ALPHA:
        return (
            f"{name} vs {reference} ({metric}): no significant difference at n={result.n} "
            f"(mean difference {result.difference:+.4f}, 95% CI [{result.low:+.4f}, "
            f"{result.high:+.4f}]; {both})."
        )
    caveats = []
    if not math.isnan(result.wilcoxon_p) and result.wilcoxon_p >= ALPHA:
        caveats.append("the Wilcoxon test does not confirm it")
    if comparisons > 1:
        caveats.append(f"uncorrected for {comparisons} comparisons")
    caveat = f"; {', '.join(caveats)}" if caveats else ""
    return (
        f"{name} vs {reference} ({metric}): {name} is {direction} by {abs(result.difference):.4f} "
        f"(95% CI [{result.low:+.4f}, {result.high:+.4f}]) at n={result.n} seeds ({both}{caveat}); "
        "this holds for this data, protocol and budget only."
    )
