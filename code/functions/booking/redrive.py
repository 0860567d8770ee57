"""Forward recovery for a choreographed service after the saga's pivot: its on-failure destination.

Lambda retries a failed asynchronous invocation twice, then hands this function the failure record (the
original event under requestPayload). A step after the pivot must not give up, so the event goes back to the
same function as a new asynchronous invocation (three more attempts), counted in the event's `redriven` field.
After MAX_REDRIVES rounds the step is declared stuck (<Step>BookingStuck on the bus, as when it refuses the
booking): the trip service alerts a human and marks the trip NEEDS_ATTENTION; nothing is undone.

Configuration: EVENT_BUS, STEPS (JSON list, in saga order), PIVOT, MAX_REDRIVES (default 10).
"""

from __future__ import annotations

import json
import os

import boto3

from booking import contract
from booking.definition import forward_steps
from fnlib.bus import publish

MAX_REDRIVES = int(os.environ.get("MAX_REDRIVES", "10"))


def handler(record, context):
    """Invoke the failed function again with its event, or declare its step stuck once MAX_REDRIVES rounds
    have failed."""
    event = dict(record["requestPayload"])
    function_arn = record["requestContext"]["functionArn"]
    rounds = int(event.get("redriven", 0))
    if rounds >= MAX_REDRIVES:
        step = stuck_step(event["detail-type"])
        error = (record.get("responsePayload") or {}).get("errorType", "?")
        publish(contract.event(step, "BookingStuck"),
                {**event["detail"], "stuck": {"step": step, "error": f"{error} after {rounds} redrive rounds"}},
                contract.SOURCE)
        return {"redriven": rounds, "gave_up": True}
    event["redriven"] = rounds + 1
    boto3.client("lambda").invoke(FunctionName=function_arn, InvocationType="Event", Payload=json.dumps(event))
    return {"redriven": rounds + 1, "gave_up": False}


def stuck_step(kind: str) -> str:
    """The step after the pivot that books on an event of this kind (the contract's reactions)."""
    steps = tuple(json.loads(os.environ["STEPS"]))
    forward = forward_steps(steps, os.environ["PIVOT"])
    reactions = contract.reactions(steps, forward)
    return next(step for step in forward if reactions[step].get(kind) == "book")
