from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from hqnn_pl.experiments.statistics import paired, summarise, verdict

A = [0.91, 0.93, 0.92, 0.95, 0.90]
B = [0.93, 0.96, 0.93, 0.97, 0.94]


def test_summary_matches_scipy_t_interval() -> None:
    s = summarise(A)
    low, high = stats.t.interval(0.95, len(A) - 1, loc=np.mean(A), scale=stats.sem(A))
    assert s.n == 5
    assert s.mean == pytest.approx(np.mean(A))
    assert s.std == pytest.approx(np.std(A, ddof=1))
    assert (s.low, s.high) == pytest.approx((low, high))


def test_summary_of_one_value_has_no_spread() -> None:
    s = summarise([0.5])
    assert s.mean == 0.5 and math.isnan(s.std) and math.isnan(s.low)


def test_paired_matches_scipy() -> None:
    result = paired("test/acc", A, B)
    t = stats.ttest_rel(B, A)
    interval = t.confidence_interval(0.95)
    assert result.n == 5
    assert result.difference == pytest.approx(np.mean(np.subtract(B, A)))
    assert (result.low, result.high) == pytest.approx((interval.low, interval.high))
    assert result.t_p == pytest.approx(t.pvalue)
    assert result.wilcoxon_p == pytest.approx(stats.wilcoxon(B, A).pvalue)


def test_verdicts_do_not_overclaim() -> None:
    noisy = paired("test/acc", A, [0.92, 0.92, 0.93, 0.94, 0.91])
    assert "no significant difference at n=5" in verdict("x", "ref", noisy)
    clear = paired("test/acc", A, B)
    text = verdict("x", "ref", clear, comparisons=3)
    assert clear.t_p < 0.05
    assert "x is higher" in text and "uncorrected for 3 comparisons" in text
    # With 5 pairs the smallest two-sided Wilcoxon p is 0.0625: it cannot confirm at 0.05.
    assert "the Wilcoxon test does not confirm it" in text
    single = paired("test/acc", [0.9], [0.95])
    assert "too few" in verdict("x", "ref", single)
