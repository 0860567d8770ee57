"""Endpoint discovery rules."""

import pytest

from ocbook import endpoints as ep


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    ep.endpoint.cache_clear()
    for variable in ep.EXPLICIT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    yield
    ep.endpoint.cache_clear()


def test_explicit_endpoint_wins(monkeypatch):
    monkeypatch.setenv("LOCALSTACK_ENDPOINT", "http://127.0.0.1:4999/")
    monkeypatch.setattr(ep, "answers", lambda url, timeout=2.0: url == "http://127.0.0.1:4999")
    assert ep.endpoint() == "http://127.0.0.1:4999"


def test_real_aws_is_refused(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://lambda.eu-west-1.amazonaws.com")
    with pytest.raises(ep.EndpointError, match="real AWS endpoint"):
        ep.endpoint()


def test_unreachable_explicit_endpoint_says_what_to_do(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    with pytest.raises(ep.EndpointError, match="not reachable at http://127.0.0.1:9"):
        ep.endpoint()


def test_running_localstack_is_used_without_starting_one(monkeypatch):
    monkeypatch.setattr(ep, "answers", lambda url, timeout=2.0: True)
    monkeypatch.setattr(ep, "start_embedded", lambda: pytest.fail("must not start an engine"))
    assert ep.endpoint() == ep.DEFAULT


def test_embedded_engine_is_started_when_nothing_answers(monkeypatch):
    started = []
    monkeypatch.setattr(ep, "answers", lambda url, timeout=2.0: False)
    monkeypatch.setattr(ep, "start_embedded", lambda: started.append(True))
    assert ep.endpoint() == ep.DEFAULT and started == [True]
