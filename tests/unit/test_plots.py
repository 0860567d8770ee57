"""Attempt timelines: labels of attempts that land on each other are merged, others stay one per attempt."""

from __future__ import annotations

from ocbook import plots


def test_attempts_at_the_same_moment_share_one_label():
    assert plots.label_groups([0.0, 0.01, 0.02], span=6.0) == [(0.0, "1\u20133")]


def test_attempts_far_enough_apart_keep_a_label_each():
    assert plots.label_groups([0.0, 1.1, 3.1], span=6.0) == [(0.0, "1"), (1.1, "2"), (3.1, "3")]


def test_only_the_close_ones_are_merged():
    assert plots.label_groups([0.0, 3.0, 3.05], span=6.0) == [(0.0, "1"), (3.0, "2\u20133")]


def test_the_figure_draws_one_label_per_group():
    figure = plots.attempts({"kinesis": [10.0, 10.0, 10.01], "s3": [5.0, 6.1, 8.1]})
    labels = sorted(text.get_text() for text in figure.axes[0].texts)
    assert labels == ["1", "1\u20133", "2", "3"]
