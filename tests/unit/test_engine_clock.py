"""The book's view of the engine's clock, without an engine (the endpoint's answer is faked)."""

from __future__ import annotations

import pytest

from ocbook import engine


@pytest.mark.parametrize("answer,says", [
    ({"scale": 1 / 60}, "time scale: 1/60 (one AWS minute of waiting lasts 1 s here)"),
    ({"scale": 1.0}, "time scale: 1 (AWS's real waiting times)"),
    (None, "time scale: unknown")])
def test_a_chapter_prints_the_scale_it_ran_with(monkeypatch, answer, says):
    monkeypatch.setattr(engine, "_call", lambda path, body=None: answer)
    assert engine.describe_time_scale().startswith(says)


def test_delivery_faults_are_refused_politely_by_another_localstack(monkeypatch):
    monkeypatch.setattr(engine, "_call", lambda path, body=None: None)
    assert engine.plan_delivery_fault("arn:aws:sqs:us-east-1:000000000000:q", 1) is False
