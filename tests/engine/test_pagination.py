"""Readers return every page: a table holding more than DynamoDB's 1 MB per scan page, read back whole."""

from __future__ import annotations

import json

import ocbook as ob

ITEMS = 130
PADDING = "x" * 9_500  # ~9.6 KB per item: ~1.25 MB in all, more than one 1 MB scan page


def trace_item(n: int) -> dict:
    """A trace record of the shape fnlib.trace writes (what the harness reads), padded to make it large."""
    return {"pk": {"S": f"trip-{n % 5}"}, "sk": {"S": f"{n:06d}"}, "service": {"S": "hotel"},
            "event_in": {"S": "TripRequested"}, "events_out": {"S": json.dumps(["HotelBooked"])},
            "started": {"N": str(1_800_000_000 + n)}, "ended": {"N": str(1_800_000_000 + n + 0.5)},
            "outcome": {"S": "ok"}, "padding": {"S": PADDING}}


def write_all(table: str, items: list[dict]) -> None:
    """batch_write_item in batches of 25, resending anything the engine left unprocessed."""
    ddb = ob.client("dynamodb")
    for start in range(0, len(items), 25):
        requests = {table: [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]}
        while requests:
            requests = ddb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}


def test_a_table_larger_than_one_scan_page_is_read_whole(deployment):
    table = deployment.table("big", key="pk", sort="sk")
    write_all(table, [trace_item(n) for n in range(ITEMS)])
    first_page = ob.client("dynamodb").scan(TableName=table, ConsistentRead=True)
    assert "LastEvaluatedKey" in first_page and len(first_page["Items"]) < ITEMS  # it really spans pages
    assert len(ob.wait.items(table)) == ITEMS
    assert len(ob.wait.items(table, count=ITEMS, timeout=10)) == ITEMS
    records = ob.trace.records(table)  # the harness's reader of trace tables
    assert len(records) == ITEMS and sorted(records["started"]) == [1_800_000_000.0 + n for n in range(ITEMS)]
