"""The launcher's pure parts: settings, probing, messages."""

from __future__ import annotations

import os

import pytest

from ocbook_engine import launcher


def test_engine_env_has_the_settings_that_make_it_work_here(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere:1")
    env = launcher.engine_env()
    assert env["OVERRIDE_IN_DOCKER"] == "0" and env["GATEWAY_SERVER"] == "hypercorn"
    assert env["GATEWAY_LISTEN"] == f"127.0.0.1:{launcher.PORT}"
    assert env["LAMBDA_RUNTIME_EXECUTOR"] == "local-process"
    assert env["PROVIDER_OVERRIDE_DYNAMODB"] == env["PROVIDER_OVERRIDE_DYNAMODBSTREAMS"] == "moto"
    assert env["KINESIS_LATENCY"] == "0" and env["DNS_ADDRESS"] == "0"
    for key in ("FILESYSTEM_ROOT", "TMPDIR", "XDG_CACHE_HOME"):
        assert env[key].startswith(str(launcher.HOME))
    assert "AWS_ENDPOINT_URL" not in env  # the engine must not inherit the book's client settings


def test_time_scale_is_one_setting_passed_to_the_engine(monkeypatch):
    monkeypatch.delenv("OCBOOK_TIME_SCALE", raising=False)
    assert float(launcher.engine_env()["OCBOOK_TIME_SCALE"]) == 1 / 60
    monkeypatch.setenv("OCBOOK_TIME_SCALE", "1")
    assert launcher.engine_env()["OCBOOK_TIME_SCALE"] == "1.0"
    assert launcher.engine_env()["PROVIDER_OVERRIDE_EVENTS"] == "ocbook"


def test_a_bad_time_scale_is_refused_with_what_to_do(monkeypatch):
    monkeypatch.setenv("OCBOOK_TIME_SCALE", "60")
    with pytest.raises(launcher.EngineError, match=r"must be in \(0, 1\]"):
        launcher.engine_env()


def test_explicit_python_comes_first(monkeypatch):
    monkeypatch.setenv("OCBOOK_ENGINE_PYTHON", "/opt/my/python3.13")
    assert launcher.python313_candidates()[0] == "/opt/my/python3.13"


def test_health_of_a_closed_port_is_none():
    assert launcher.health("http://127.0.0.1:9", timeout=0.5) is None


def test_tree_memory_counts_this_process():
    rss, pss = launcher.tree_memory_mb(os.getpid())
    assert rss > 1 and 0 < pss <= rss
