"""The bootstrap intervals: they cover what they should and tell different samples from identical ones."""

import numpy as np
import pytest

from ocbook import stats


def test_interval_of_the_median_covers_the_known_median_of_a_synthetic_sample():
    rng = np.random.default_rng(1)
    sample = rng.exponential(scale=2.0, size=400)   # true median: 2 ln 2
    interval = stats.bootstrap(sample, stats.quantile(0.5))
    assert interval.low <= 2 * np.log(2) <= interval.high
    assert interval.low < interval.estimate < interval.high
    assert interval.high - interval.low < 0.6       # and it is not uselessly wide


def test_interval_of_a_shifted_sample_misses_the_median_of_the_unshifted_one():
    rng = np.random.default_rng(2)
    interval = stats.bootstrap(rng.exponential(scale=2.0, size=400) + 1.0)
    assert interval.excludes(2 * np.log(2))


def test_ratio_interval_excludes_one_for_clearly_different_samples():
    rng = np.random.default_rng(3)
    slow, fast = rng.normal(2.0, 0.3, 200), rng.normal(1.0, 0.15, 200)
    interval = stats.ratio(slow, fast)
    assert interval.excludes(1) and interval.low > 1.6


def test_ratio_interval_includes_one_for_samples_of_the_same_distribution():
    rng = np.random.default_rng(4)
    interval = stats.ratio(rng.normal(1.0, 0.2, 200), rng.normal(1.0, 0.2, 200))
    assert not interval.excludes(1)


def test_the_mean_and_the_tail_quantile_statistics():
    values = np.arange(1, 101, dtype=float)
    assert stats.bootstrap(values, stats.mean).estimate == pytest.approx(50.5)
    assert stats.bootstrap(values, stats.quantile(0.99)).estimate == pytest.approx(np.quantile(values, 0.99))
    assert stats.quantile(0.95).__name__ == "p95"


def test_overlap_and_text():
    a, b, c = stats.Interval(1, 0.8, 1.2), stats.Interval(1.1, 1.15, 1.5), stats.Interval(2, 1.6, 2.4)
    assert a.overlaps(b) and b.overlaps(a) and not a.overlaps(c)
    assert a.text() == "1.00 [0.80, 1.20]"


def test_missing_values_are_dropped_and_an_empty_sample_is_refused():
    assert stats.bootstrap([1.0, float("nan"), 3.0], stats.mean).estimate == 2.0
    with pytest.raises(ValueError, match="empty"):
        stats.bootstrap([float("nan")])


def test_a_zero_denominator_gives_no_finite_ratio_rather_than_an_error():
    interval = stats.ratio([1.0, 2.0], [0.0, 0.0], stats.mean)
    assert np.isnan(interval.low) and np.isnan(interval.high)
