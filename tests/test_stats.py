"""Percentiles and latency summaries (qa.stats), as the evaluation, the benchmark and the load test report them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qa.stats import percentile, summarize


def test_percentile_interpolates_like_numpy() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    # sorted 1..5: p50 is the middle value 3; p95 sits 0.95 * 4 = 3.8 ranks in: 4 + 0.8 * (5 - 4) = 4.8
    assert percentile(values, 50) == 3.0
    assert percentile(values, 95) == pytest.approx(4.8)
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 5.0
    for q in (10, 37.5, 95, 99):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_of_nothing_is_nan_and_bad_q_is_refused() -> None:
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="0..100"):
        percentile([1.0], 101)


def test_summarize_reports_n_p50_p95_max_mean() -> None:
    s = summarize([10.0, 20.0, 30.0])
    # p95 sits 0.95 * 2 = 1.9 ranks in: 20 + 0.9 * (30 - 20) = 29
    assert s == {"n": 3, "p50": 20.0, "p95": 29.0, "max": 30.0, "mean": 20.0}
    empty = summarize([])
    assert empty["n"] == 0 and math.isnan(empty["p95"])
