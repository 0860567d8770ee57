"""Fixtures for the engine conformance suite: the engine, a deployment per module and a table for probe records.

Tests that talk to the engine request `engine` (or `deployment`, which depends on it); pure tests start nothing.
"""

from __future__ import annotations

import time

import pytest

import ocbook as ob


@pytest.fixture(scope="session")
def engine() -> str:
    """The LocalStack under test (explicit endpoint, running one, or the embedded engine)."""
    return ob.endpoint()


@pytest.fixture(scope="module")
def deployment(request, engine):
    """Resources for one test module, removed when the module ends."""
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
    with ob.Deployment(f"t-{module[:12]}") as d:
        yield d
        assert d.teardown() == []


@pytest.fixture(scope="module")
def records(deployment) -> str:
    """A table the probe handlers write to (pk = kind of record, sk = time-ordered id)."""
    return deployment.table("records", key="pk", sort="sk")


def items(table: str, pk: str) -> list[dict]:
    """All items of one partition, oldest first."""
    ddb = ob.client("dynamodb")
    found = ob.all_pages(ddb, "query", "Items", TableName=table, KeyConditionExpression="pk = :pk",
                         ExpressionAttributeValues={":pk": {"S": pk}}, ConsistentRead=True)
    return [ob.show.plain(item) for item in found]


def wait_items(table: str, pk: str, count: int, timeout: float = 30) -> list[dict]:
    """Wait until a partition holds at least `count` items."""
    return ob.wait.until(lambda: items(table, pk), lambda found: len(found) >= count, timeout,
                         what=f"{count} record(s) under {pk!r}")


def stays(check, seconds: float) -> bool:
    """True if check() stays truthy for the whole period (used to show something does NOT happen)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not check():
            return False
        time.sleep(0.25)
    return True
