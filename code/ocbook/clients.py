"""The one place that builds AWS clients: LocalStack's endpoint, dummy credentials, one region.

A call that cannot reach the engine (it was stopped or died) raises one EngineStopped error that says
what to do, instead of botocore's chained connection tracebacks.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.config import Config
from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from localstack_client.session import Session

from ocbook.endpoints import DEFAULT, endpoint, explicit
from ocbook.paths import engine_log_file

REGION = "us-east-1"
ACCOUNT = "000000000000"
# One attempt per call: a silent SDK retry could invoke a function twice and spoil what a chapter counts.
# No host prefixes ("sync-127.0.0.1" for StartSyncExecution cannot resolve).
CONFIG = Config(retries={"total_max_attempts": 1}, read_timeout=120, connect_timeout=5, inject_host_prefix=False)
# What botocore raises when nothing answers at the endpoint any more (refused, reset, or silent).
UNREACHABLE = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError)


class EngineStopped(RuntimeError):
    """The engine stopped answering during a call; the message says where its log is and what to do."""


def engine_log() -> Path | None:
    """The embedded engine's log file, or None when the endpoint is a LocalStack the book did not start."""
    if explicit() and explicit() != DEFAULT:
        return None
    return engine_log_file()


def stopped_message(url: str) -> str:
    """The one line a reader sees when the engine stops answering."""
    log = engine_log()
    where = f"; its log is at {log}" if log else ""
    return (f"the engine stopped answering at {url} while running this cell{where}; "
            "run `make engine-start` and re-run the chapter")


def guarded(service_client: Any) -> Any:
    """Make a client raise EngineStopped (without the chained traceback) when the engine cannot be reached."""
    call = service_client._make_api_call  # every operation, paginator and waiter goes through it

    def make_api_call(operation: str, params: dict) -> Any:
        try:
            return call(operation, params)
        except UNREACHABLE:
            raise EngineStopped(stopped_message(service_client.meta.endpoint_url)) from None

    service_client._make_api_call = make_api_call
    return service_client


@functools.cache
def session() -> Session:
    """A localstack-client session pointed at the discovered endpoint."""
    url = urlparse(endpoint())
    return Session(aws_access_key_id="test", aws_secret_access_key="test", aws_session_token="test",
                   region_name=REGION, localstack_host=url.netloc)


@functools.cache
def client(service: str):
    """A boto3 client for a service on LocalStack (cached per service)."""
    return guarded(session().client(service, config=CONFIG))


def all_pages(service_client: Any, operation: str, key: str, **params: Any) -> list:
    """Every element of `key` over all pages of a list/scan operation.

    botocore's paginator where it has one; otherwise (e.g. EventBridge's ListEventBuses) the NextToken loop.
    """
    found: list = []
    if service_client.can_paginate(operation):
        for page in service_client.get_paginator(operation).paginate(**params):
            found += page.get(key, [])
        return found
    call = getattr(service_client, operation)
    while True:
        page = call(**params)
        found += page.get(key, [])
        if not page.get("NextToken"):
            return found
        params = {**params, "NextToken": page["NextToken"]}


def show_engine_stopped(shell, etype, value, tb, tb_offset=None) -> list[str]:
    """IPython handler for EngineStopped: the cell fails with its one-line message as the whole traceback."""
    lines = [f"{etype.__name__}: {value}"]
    shell._showtraceback(etype, value, lines)  # the kernel's error output (a terminal prints the lines)
    return lines


def register_ipython_handler() -> bool:
    """Inside IPython, show EngineStopped as one line instead of a traceback (only that error); True if so."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.set_custom_exc((EngineStopped,), show_engine_stopped)
    return True
