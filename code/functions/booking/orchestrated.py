"""One Lambda per service for the state machine: {"action": "book"|"cancel", "trip": {...}} -> result."""

from __future__ import annotations

import os
import time

from booking import core
from fnlib import trace
from fnlib.store import table


def handler(event, context):
    """Book or cancel this function's service (SERVICE) in its table (TABLE)."""
    service, action, trip = os.environ["SERVICE"], event["action"], event["trip"]
    started = time.time()
    try:
        result = getattr(core, action)(table("TABLE"), service, trip)
    except Exception as exc:
        refused = isinstance(exc, (core.BookingFailed, core.AlreadyCancelled))
        outcome = "refused" if refused else type(exc).__name__
        trace.record(trip["trip_id"], service, action, [], started, outcome=outcome)
        raise
    trace.record(trip["trip_id"], service, action, [], started)
    return {"service": service, "action": action, "status": result["status"]}
