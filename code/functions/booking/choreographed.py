"""One function per service, reacting to events on the bus and emitting the next ones (see booking.contract)."""

from __future__ import annotations

import json
import os
import time

import boto3

from booking import contract, core, definition, naive
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
    emitted = contract.emits(service, action, outcome, forward=os.environ.get("AFTER_PIVOT") == "true")
    if emitted:
        stuck = {"stuck": {"step": service, "error": outcome}} if emitted.endswith("BookingStuck") else {}
        publish(emitted, {**trip, **stuck}, contract.SOURCE)
    trace.record(trip["trip_id"], service, kind, [emitted] if emitted else [], started,
                 outcome="ok" if outcome == "ok" else "refused")
    return {"emitted": emitted}


def reactions(service: str) -> dict[str, str]:
    """What this service reacts to: REACTS_TO (set at deployment from the contract) or the default contract."""
    configured = os.environ.get("REACTS_TO")
    return json.loads(configured) if configured else contract.REACTIONS[service]


def alert(trip_id: str, step: str, error: str) -> None:
    """Tell a human on the alert queue (ALERTS_URL) which step failed after the pivot; the same message as the
    state machine's escalation."""
    body = {"trip_id": trip_id, "step": step, "problem": definition.STUCK_PROBLEM, "error": error}
    boto3.client("sqs").send_message(QueueUrl=os.environ["ALERTS_URL"], MessageBody=json.dumps(body))


def run(service: str, action: str, trip: dict) -> str:
    """Do the action; 'ok', or the refusal's name (BookingFailed, AlreadyCancelled) when the service refuses it."""
    if service == "trip":
        status = {"confirm": "CONFIRMED", "attention": definition.NEEDS_ATTENTION}.get(action, "CANCELLED")
        if action == "attention":  # a step after the pivot failed for good: a human finishes the trip
            stuck = trip.get("stuck") or {}
            alert(trip["trip_id"], stuck.get("step", "?"), stuck.get("error", "?"))
        table("TRIPS_TABLE").put_item(Item={"pk": trip["trip_id"], "status": status, "style": "choreographed"})
        return "ok"
    steps = naive if os.environ.get("VARIANT") == "naive" else core
    try:
        getattr(steps, action)(table("TABLE"), service, trip)
    except REFUSED as refusal:
        return type(refusal).__name__
    return "ok"
