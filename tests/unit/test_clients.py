"""Clients: every page of a listing, and one clear error when the engine stops answering."""

from __future__ import annotations

import os
import socket
import threading

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from ocbook import clients


def raw_client(service: str, url: str = "http://127.0.0.1:4566", read_timeout: float = 60):
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", aws_access_key_id="t",
                        aws_secret_access_key="t", config=Config(retries={"total_max_attempts": 1},
                                                                  read_timeout=read_timeout, connect_timeout=2))


def test_all_pages_follows_the_paginator():
    lam = raw_client("lambda")
    with Stubber(lam) as stub:
        stub.add_response("list_functions", {"Functions": [{"FunctionName": "a"}], "NextMarker": "m1"}, {})
        stub.add_response("list_functions", {"Functions": [{"FunctionName": "b"}]}, {"Marker": "m1"})
        assert [f["FunctionName"] for f in clients.all_pages(lam, "list_functions", "Functions")] == ["a", "b"]
        stub.assert_no_pending_responses()


def test_all_pages_loops_on_next_token_where_botocore_has_no_paginator():
    events = raw_client("events")
    assert not events.can_paginate("list_event_buses")
    with Stubber(events) as stub:
        stub.add_response("list_event_buses", {"EventBuses": [{"Name": "default"}], "NextToken": "t1"}, {})
        stub.add_response("list_event_buses", {"EventBuses": [{"Name": "mine"}]}, {"NextToken": "t1"})
        assert [b["Name"] for b in clients.all_pages(events, "list_event_buses", "EventBuses")] == ["default", "mine"]


@pytest.fixture
def server():
    """A TCP server on a free loopback port that misbehaves as asked: 'close' at once or stay 'silent'."""
    listener = socket.create_server(("127.0.0.1", 0))
    mode = {"behaviour": "close"}
    held = []

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            connection.recv(65536)
            if mode["behaviour"] == "close":
                connection.close()
            else:
                held.append(connection)  # never answers

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", mode
    listener.close()
    for connection in held:
        connection.close()


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"  # nothing listens once the socket is closed


@pytest.mark.parametrize("behaviour", ["refused", "close", "silent"])
def test_a_stopped_engine_is_one_clear_error(server, behaviour, monkeypatch):
    url, mode = server
    mode["behaviour"] = behaviour
    if behaviour == "refused":
        url = closed_port()
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("LOCALSTACK_ENDPOINT", raising=False)
    sqs = clients.guarded(raw_client("sqs", url, read_timeout=0.5))
    with pytest.raises(clients.EngineStopped) as caught:
        sqs.list_queues()
    message = str(caught.value)
    assert message.startswith(f"the engine stopped answering at {url} while running this cell; its log is at ")
    assert message.endswith(f"logs/localstack-{os.environ.get('OCBOOK_ENGINE_PORT') or 4566}.log; "
                            "run `make engine-start` and re-run the chapter")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no chained traceback


def test_other_errors_pass_through_unchanged():
    sqs = clients.guarded(raw_client("sqs"))
    with Stubber(sqs) as stub:  # positive control: an answer from a live engine is not a stopped engine
        stub.add_client_error("list_queues", "AccessDenied", "no")
        with pytest.raises(sqs.exceptions.ClientError, match="AccessDenied"):
            sqs.list_queues()


def test_the_log_is_named_only_for_the_embedded_engine(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9999")
    assert "its log is at" not in clients.stopped_message("http://127.0.0.1:9999")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("OCBOOK_ENGINE_HOME", "/srv/engine-home")
    monkeypatch.setenv("OCBOOK_ENGINE_PORT", "4570")
    assert "its log is at /srv/engine-home/logs/localstack-4570.log;" in clients.stopped_message("http://x")


class FakeShell:
    """The two IPython methods the handler uses."""

    def __init__(self):
        self.handlers, self.shown = {}, []

    def set_custom_exc(self, types, handler):
        self.handlers = dict.fromkeys(types, handler)

    def _showtraceback(self, etype, value, lines):
        self.shown.append(lines)


def test_ipython_shows_only_the_message_and_only_for_engine_stopped(monkeypatch):
    import IPython

    shell = FakeShell()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    assert clients.register_ipython_handler()
    assert list(shell.handlers) == [clients.EngineStopped]
    error = clients.EngineStopped("the engine stopped answering at http://x")
    shell.handlers[clients.EngineStopped](shell, clients.EngineStopped, error, None)
    assert shell.shown == [["EngineStopped: the engine stopped answering at http://x"]]
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert not clients.register_ipython_handler()  # outside IPython nothing is registered
