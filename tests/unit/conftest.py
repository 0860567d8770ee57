"""Unit tests run without any LocalStack; the engine's stdlib-only modules come from code/engine (pytest.ini)."""

import pytest

from ocbook import endpoints


@pytest.fixture(autouse=True)
def never_start_an_engine(monkeypatch):
    """A unit test that reaches for an endpoint fails here instead of starting the embedded engine (which would
    outlive the test on the default port). Tests of the lookup itself patch start_embedded again."""
    def refuse():
        pytest.fail("a unit test tried to start the embedded engine: patch what needs an endpoint")

    monkeypatch.setattr(endpoints, "start_embedded", refuse)
