"""Percentile-bootstrap confidence intervals for a figure of one sample and for the ratio of two samples."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 2000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """An estimate and its confidence interval (low, high) at `level`, from `over` (what was resampled)."""
    estimate: float
    low: float
    high: float
    level: float = LEVEL
    over: str = "trips"

    def excludes(self, value: float) -> bool:
        """True if the interval lies wholly above or below value."""
        return value < self.low or value > self.high

    def overlaps(self, other: Interval) -> bool:
        """True if the two intervals share at least one value."""
        return self.low <= other.high and other.low <= self.high

    def text(self, digits: int = 2) -> str:
        """'1.23 [1.10, 1.40]'."""
        return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def quantile(q: float) -> Callable[[np.ndarray], np.ndarray]:
    """A statistic: the q-quantile along the last axis (works on one sample or a stack of resamples)."""
    def statistic(values: np.ndarray) -> np.ndarray:
        return np.quantile(values, q, axis=-1)
    statistic.__name__ = f"p{round(q * 100)}"
    return statistic


def mean(values: np.ndarray) -> np.ndarray:
    """A statistic: the mean along the last axis."""
    return np.mean(values, axis=-1)


def _clean(sample: Sequence[float]) -> np.ndarray:
    """The sample as floats, without missing values; an empty one is refused with a clear message."""
    values = np.asarray(sample, dtype=float)
    values = values[~np.isnan(values)]
    if values.size == 0:
        raise ValueError("an interval needs at least one value; the sample is empty")
    return values


def _resampled(values: np.ndarray, statistic: Callable, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """The statistic over `resamples` bootstrap resamples (drawn with replacement, same size)."""
    return statistic(values[rng.integers(0, values.size, size=(resamples, values.size))])


def bootstrap(sample: Sequence[float], statistic: Callable = quantile(0.5), *, level: float = LEVEL,
              resamples: int = RESAMPLES, seed: int = 0, over: str = "trips") -> Interval:
    """The statistic of one sample with its percentile-bootstrap interval."""
    values = _clean(sample)
    spread = _resampled(values, statistic, np.random.default_rng(seed), resamples)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(spread, [tail, 100 - tail])
    return Interval(float(statistic(values)), float(low), float(high), level, over)


def ratio(numerator: Sequence[float], denominator: Sequence[float], statistic: Callable = quantile(0.5), *,
          level: float = LEVEL, resamples: int = RESAMPLES, seed: int = 0, over: str = "trips") -> Interval:
    """statistic(numerator) / statistic(denominator), each sample resampled on its own; nan if the
    denominator's statistic is 0 in a resample (the interval is then taken over the finite ratios)."""
    top, bottom = _clean(numerator), _clean(denominator)
    rng = np.random.default_rng(seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = _resampled(top, statistic, rng, resamples) / _resampled(bottom, statistic, rng, resamples)
        estimate = float(statistic(top) / statistic(bottom))
    spread = spread[np.isfinite(spread)]
    if spread.size == 0:
        return Interval(estimate, float("nan"), float("nan"), level, over)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(spread, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high), level, over)
