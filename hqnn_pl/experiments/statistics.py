"""Statistics of a comparison: summaries, paired tests, equivalence tests, a verdict.

The tests come from scipy.stats (Student's t, Wilcoxon signed-rank, and the two one-sided t
tests of an equivalence test); Holm's correction across training-set sizes from statsmodels
(scipy.stats has none).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests

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
    ``wilcoxon_p`` are two-sided p-values (NaN when the test cannot run). With a ``margin`` D,
    ``tost_p`` is the p-value of the equivalence test (two one-sided paired t-tests of
    H0: difference <= -D and H0: difference >= +D; the larger of their p-values). ``corrected``
    is the number of p-values each was Holm-corrected over (1: uncorrected).
    """

    metric: str
    n: int
    difference: float
    low: float
    high: float
    t_p: float
    wilcoxon_p: float
    margin: float | None = None
    tost_p: float = math.nan
    corrected: int = 1


def paired(
    metric: str,
    reference: Sequence[float],
    other: Sequence[float],
    margin: float | None = None,
) -> Paired:
    """Paired t-test and Wilcoxon signed-rank test of ``other`` against ``reference``.

    Args:
        metric: Name of the metric compared.
        reference: Values of the reference config, one per seed.
        other: Values of the other config for the same seeds, in the same order.
        margin: With a margin D > 0, also the equivalence test (TOST) against +-D.
    """
    return replace(
        _paired(metric, reference, other),
        margin=margin,
        tost_p=tost(np.subtract(other, reference), margin) if margin is not None else math.nan,
    )


def tost(differences: Sequence[float] | np.ndarray, margin: float) -> float:
    """p-value of the paired equivalence test (TOST) of mean ``differences`` within +-``margin``.

    Two one-sided one-sample t-tests (scipy.stats.ttest_1samp): H0 mean <= -margin against
    "greater", and H0 mean >= +margin against "less"; equivalence is shown at level alpha when
    both reject, i.e. when the larger p-value is below alpha.

    Args:
        differences: Paired differences (other - reference), one per seed.
        margin: The equivalence margin D > 0.

    Returns:
        The larger of the two one-sided p-values; NaN for fewer than 2 differences or none
        spread (the t statistic is undefined).
    """
    data = np.asarray(differences, dtype=float)
    if len(data) < 2 or np.all(data == data[0]):
        return math.nan
    lower = stats.ttest_1samp(data, -margin, alternative="greater").pvalue
    upper = stats.ttest_1samp(data, margin, alternative="less").pvalue
    return float(max(lower, upper))


def holm(results: Sequence[Paired]) -> list[Paired]:
    """Holm-correct the p-values of ``results`` (one family, e.g. one config over sizes).

    Each kind of p-value (t-test, Wilcoxon, TOST) is corrected over the results that have one
    (statsmodels' ``multipletests(method="holm")``); NaN stays NaN.

    Returns:
        Copies of ``results`` with corrected p-values and ``corrected`` set to the family size.
    """
    corrected = {}
    for name in ("t_p", "wilcoxon_p", "tost_p"):
        values = [getattr(r, name) for r in results]
        kept = [i for i, v in enumerate(values) if not math.isnan(v)]
        adjusted = list(values)
        if kept:
            fixed = multipletests([values[i] for i in kept], method="holm")[1]
            for i, value in zip(kept, fixed, strict=True):
                adjusted[i] = float(value)
        corrected[name] = adjusted
    return [
        replace(
            r,
            t_p=corrected["t_p"][i],
            wilcoxon_p=corrected["wilcoxon_p"][i],
            tost_p=corrected["tost_p"][i],
            corrected=len(results),
        )
        for i, r in enumerate(results)
    ]


def _paired(metric: str, reference: Sequence[float], other: Sequence[float]) -> Paired:
    """The t-test, its interval and the Wilcoxon test of :func:`paired`."""
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
    """A plain-words reading of a paired comparison that does not claim more than it shows.

    With a margin it says one of "equivalent within +-D", "different" or "inconclusive at n".
    """
    metric = result.metric.removeprefix("test/")
    if result.n < 2:
        return (
            f"{name} vs {reference} ({metric}): {result.n} paired seed(s), too few for a test or "
            "an interval; the difference is a single observation."
        )
    if math.isnan(result.t_p):
        return f"{name} vs {reference} ({metric}): the test is undefined (no spread)."
    if result.margin is not None:
        return _equivalence_verdict(name, reference, result, comparisons)
    direction = "higher" if result.difference > 0 else "lower"
    both = f"paired t-test p={result.t_p:.3g}, Wilcoxon p=" + (
        "n/a" if math.isnan(result.wilcoxon_p) else f"{result.wilcoxon_p:.3g}"
    )
    if result.corrected > 1:
        both += f", Holm-corrected over {result.corrected} sizes"
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


def _equivalence_verdict(name: str, reference: str, result: Paired, comparisons: int) -> str:
    """The verdict with a margin: equivalent within +-D, different, or inconclusive at n."""
    metric = result.metric.removeprefix("test/")
    margin = f"+-{result.margin:g}"
    holm_note = f", Holm-corrected over {result.corrected} sizes" if result.corrected > 1 else ""
    tests = (
        f"TOST p={_p(result.tost_p)}, paired t-test p={_p(result.t_p)}, Wilcoxon "
        f"p={_p(result.wilcoxon_p)}{holm_note}"
    )
    head = f"{name} vs {reference} ({metric})"
    detail = (
        f"mean difference {result.difference:+.4f}, 95% CI [{result.low:+.4f}, "
        f"{result.high:+.4f}]; {tests}"
    )
    others = f"; uncorrected for {comparisons} comparisons" if comparisons > 1 else ""
    if not math.isnan(result.tost_p) and result.tost_p < ALPHA:
        also = (
            "; the difference is significant but smaller than the margin"
            if result.t_p < ALPHA
            else ""
        )
        return f"{head}: equivalent within {margin} at n={result.n} ({detail}{also}{others})."
    if not math.isnan(result.t_p) and result.t_p < ALPHA:
        direction = "higher" if result.difference > 0 else "lower"
        return (
            f"{head}: different: {name} is {direction} by {abs(result.difference):.4f} at "
            f"n={result.n} ({detail}{others}); this holds for this data, protocol and budget only."
        )
    return (
        f"{head}: inconclusive at n={result.n}: neither a difference nor equivalence within "
        f"{margin} is shown ({detail}{others})."
    )


def _p(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3g}"
