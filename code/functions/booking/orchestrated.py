"""One Lambda per service for the state machine: {"action": "book"|"cancel", "trip": {...}} -> result."""

from __future__ import annotations

import os
import time

from booking import core
from fnlib import trace
from fnlib.store import table
from fnlib.tracing import Tracer  # aws_lambda_powertools.Tracer (see fnlib/tracing.py)

tracer = Tracer()  # the service name comes from POWERTOOLS_SERVICE_NAME


@tracer.capture_lambda_handler
def handler(event, context):
    """Book or cancel this function's service (SERVICE) in its table (TABLE)."""
    service, action, trip = os.environ["SERVICE"], event["action"], event["trip"]
    tracer.put_annotation("trip_id", trip["trip_id"])  # the correlation id, searchable in X-Ray
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
