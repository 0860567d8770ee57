"""One function per service, reacting to events on the bus and emitting the next ones (see booking.contract)."""

from __future__ import annotations

import json
import os
import time

from booking import contract, core, naive
from fnlib import trace
from fnlib.bus import publish
from fnlib.store import table
from fnlib.tracing import Tracer  # aws_lambda_powertools.Tracer (see fnlib/tracing.py)

REFUSED = (core.BookingFailed, core.AlreadyCancelled)
tracer = Tracer()  # the service name comes from POWERTOOLS_SERVICE_NAME


@tracer.capture_lambda_handler
def handler(event, context):
    """React to one event: act on the service's own table, then emit what happened."""
    service, kind, trip = os.environ["SERVICE"], event["detail-type"], event["detail"]
    tracer.put_annotation("trip_id", trip["trip_id"])  # the correlation id, searchable in X-Ray
    action = reactions(service)[kind]
    started = time.time()
    try:
        outcome = run(service, action, trip)
    except Exception as exc:  # transient or compensation failure: the platform retries
        trace.record(trip["trip_id"], service, kind, [], started, outcome=type(exc).__name__)
        raise
    emitted = contract.emits(service, action, outcome)
    if emitted:
        publish(emitted, trip, contract.SOURCE)
    trace.record(trip["trip_id"], service, kind, [emitted] if emitted else [], started,
                 outcome="ok" if outcome == "ok" else "refused")
    return {"emitted": emitted}


def reactions(service: str) -> dict[str, str]:
    """What this service reacts to: REACTS_TO (set at deployment from the contract) or the default contract."""
    configured = os.environ.get("REACTS_TO")
    return json.loads(configured) if configured else contract.REACTIONS[service]


def run(service: str, action: str, trip: dict) -> str:
    """Do the action; 'ok', or 'failed' when the service refuses it."""
    if service == "trip":
        status = "CONFIRMED" if action == "confirm" else "CANCELLED"
        table("TRIPS_TABLE").put_item(Item={"pk": trip["trip_id"], "status": status, "style": "choreographed"})
        return "ok"
    steps = naive if os.environ.get("VARIANT") == "naive" else core
    try:
        getattr(steps, action)(table("TABLE"), service, trip)
    except REFUSED:
        return "failed"
    return "ok"
