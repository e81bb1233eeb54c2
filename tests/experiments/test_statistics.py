from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from hqnn_pl.experiments.statistics import holm, paired, summarise, verdict

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


def test_tost_is_the_larger_of_two_one_sided_scipy_tests() -> None:
    d = np.subtract(B, A)
    result = paired("test/acc", A, B, margin=0.05)
    lower = stats.ttest_1samp(d, -0.05, alternative="greater").pvalue
    upper = stats.ttest_1samp(d, 0.05, alternative="less").pvalue
    assert result.margin == 0.05
    assert result.tost_p == pytest.approx(max(lower, upper))
    assert math.isnan(paired("test/acc", A, B).tost_p)  # no margin, no equivalence test


def test_equivalence_verdicts_in_words() -> None:
    close = [a + e for a, e in zip(A, [0.001, -0.002, 0.002, -0.001, 0.0], strict=True)]
    equivalent = paired("test/acc", A, close, margin=0.02)
    assert equivalent.tost_p < 0.05
    assert "equivalent within +-0.02 at n=5" in verdict("x", "ref", equivalent)
    different = paired("test/acc", A, B, margin=0.005)
    assert different.t_p < 0.05 and different.tost_p >= 0.05
    assert "different: x is higher" in verdict("x", "ref", different)
    noisy = paired("test/acc", A, [0.92, 0.92, 0.93, 0.94, 0.91], margin=0.005)
    text = verdict("x", "ref", noisy)
    assert "inconclusive at n=5" in text and "equivalent" not in text.split(":")[1]


def test_holm_matches_statsmodels_per_kind_of_p_value() -> None:
    from statsmodels.stats.multitest import multipletests

    results = [
        paired("test/acc", A, B, margin=0.05),
        paired("test/acc", A, [0.92, 0.92, 0.93, 0.94, 0.91], margin=0.05),
        paired("test/acc", [0.9], [0.95], margin=0.05),  # n=1: no p-values, left out
    ]
    corrected = holm(results)
    expected_t = multipletests([r.t_p for r in results[:2]], method="holm")[1]
    expected_tost = multipletests([r.tost_p for r in results[:2]], method="holm")[1]
    assert [c.t_p for c in corrected[:2]] == pytest.approx(list(expected_t))
    assert [c.tost_p for c in corrected[:2]] == pytest.approx(list(expected_tost))
    assert corrected[0].t_p > results[0].t_p  # the smallest p is multiplied by 2
    assert math.isnan(corrected[2].t_p) and corrected[0].corrected == 3
    assert "Holm-corrected over 3 sizes" in verdict("x", "ref", corrected[0])
