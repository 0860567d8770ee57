"""The trip watchdog: one delayed SQS message per trip; if the trip has no final status when it arrives, the
first step that has not booked is declared failed (<Step>BookingFailed), and the saga's own compensations run.

Configuration: TRIPS_TABLE, EVENT_BUS, STEP_TABLES (JSON: step -> its bookings table, in saga order).
"""

from __future__ import annotations

import json
import os

import boto3

from booking import contract
from fnlib.bus import publish
from fnlib.store import table
from fnlib.tracing import Tracer  # aws_lambda_powertools.Tracer (see fnlib/tracing.py)

tracer = Tracer()


@tracer.capture_lambda_handler
def handler(event, context):
    """Check each watched trip; time out the ones still open."""
    timed_out = []
    for record in event["Records"]:
        trip = json.loads(record["body"])
        tracer.put_annotation("trip_id", trip["trip_id"])
        if table("TRIPS_TABLE").get_item(Key={"pk": trip["trip_id"]}, ConsistentRead=True).get("Item"):
            continue  # the trip closed in time
        silent = first_unbooked(trip["trip_id"])
        if silent:
            publish(contract.event(silent, "BookingFailed"), {**trip, "timed_out": silent}, contract.SOURCE)
            timed_out.append(trip["trip_id"])
    return {"timed_out": timed_out}


def first_unbooked(trip_id: str) -> str | None:
    """The first step (in saga order) with no BOOKED booking for the trip."""
    dynamodb = boto3.resource("dynamodb")
    for step, name in json.loads(os.environ["STEP_TABLES"]).items():
        item = dynamodb.Table(name).get_item(Key={"pk": trip_id}, ConsistentRead=True).get("Item")
        if not item or item.get("status") != "BOOKED":
            return step
    return None
