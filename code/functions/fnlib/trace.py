"""Trace records: one row per handler run, keyed by correlation id, written to TRACE_TABLE if it is set."""

from __future__ import annotations

import json
import os
import time
import uuid

from fnlib.store import table


def record(correlation_id: str, service: str, event_in: str, events_out: list[str], started: float,
           outcome: str = "ok") -> None:
    """Write what one handler run did: which event it took, which it emitted, when, how it ended."""
    if not os.environ.get("TRACE_TABLE"):
        return
    ended = time.time()
    table("TRACE_TABLE").put_item(Item={
        "pk": correlation_id, "sk": f"{started:.6f}-{uuid.uuid4().hex[:6]}", "service": service,
        "event_in": event_in, "events_out": json.dumps(events_out), "started": f"{started:.6f}",
        "ended": f"{ended:.6f}", "outcome": outcome})
