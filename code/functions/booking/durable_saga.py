"""The saga as a Lambda durable function: ordinary code, checkpointed step by step and replayed after failures.

Each booking and each cancellation is a durable step (booking.core, as in the other styles); a step that
raised ServiceUnavailable is retried by the service with back-off, like the state machine's Retry. A booking
that fails for good is caught by the function's own `except`, which compensates in reverse order, the failed
step included (its cancellation leaves a marker so a late booking is refused), exactly as the state machine's
Catch chain does. A cancellation that still fails after its retries sends an alert for a human and the
compensation goes on. The final status goes to the trips table in a last step.

Replay: after every retry delay the function is invoked again from the top. Completed steps are not run
again: their results come from the checkpoint log. Code between steps does run again, so it must have no
side effects; each step's own effect must be idempotent (core's conditional writes), because a step can run
twice if the environment dies after the effect and before the checkpoint.

Configuration (environment): STEPS (JSON list, in order), TABLES (JSON service -> bookings table),
TRIPS_TABLE, TRACE_TABLE, ALERTS_URL.
"""

from __future__ import annotations

import json
import os
import time

import boto3
from aws_durable_execution_sdk_python import DurableContext, StepError, durable_execution
from aws_durable_execution_sdk_python.config import Duration, JitterStrategy, StepConfig
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy

from booking import core
from fnlib import trace

# The state machine's retries, in the durable SDK's words (booking/definition.py: TRANSIENT_RETRY and
# COMPENSATION_RETRY). max_attempts counts the first attempt too; delays are whole seconds.
BOOK_RETRY = StepConfig(retry_strategy=create_retry_strategy(RetryStrategyConfig(
    max_attempts=4, initial_delay=Duration.from_seconds(1), max_delay=Duration.from_seconds(4), backoff_rate=2.0,
    jitter_strategy=JitterStrategy.FULL, retryable_error_types=[core.ServiceUnavailable])))
CANCEL_RETRY = StepConfig(retry_strategy=create_retry_strategy(RetryStrategyConfig(
    max_attempts=3, initial_delay=Duration.from_seconds(1), backoff_rate=1.5, jitter_strategy=JitterStrategy.NONE)))


def act(action: str, service: str, trip: dict) -> dict:
    """Book or cancel one service for the trip (one step), leaving a trace record like every style's services."""
    started = time.time()
    bookings = boto3.resource("dynamodb").Table(json.loads(os.environ["TABLES"])[service])
    try:
        result = getattr(core, action)(bookings, service, trip)
    except Exception as exc:
        refused = isinstance(exc, (core.BookingFailed, core.AlreadyCancelled))
        trace.record(trip["trip_id"], service, action, [], started, outcome="refused" if refused else
                     type(exc).__name__)
        raise
    trace.record(trip["trip_id"], service, action, [], started)
    return {"service": service, "action": action, "status": result["status"]}


def alert(trip: dict, service: str, error: str) -> None:
    """A compensation that failed for good: a human has to undo it (same message as the state machine's)."""
    boto3.client("sqs").send_message(QueueUrl=os.environ["ALERTS_URL"], MessageBody=json.dumps(
        {"trip_id": trip["trip_id"], "step": service, "problem": "compensation failed: undo by hand",
         "error": error}))


def record(trip: dict, status: str) -> str:
    """The trip's final status in the trips table."""
    boto3.resource("dynamodb").Table(os.environ["TRIPS_TABLE"]).put_item(
        Item={"pk": trip["trip_id"], "status": status, "style": "durable"})
    return status


@durable_execution
def handler(trip: dict, context: DurableContext) -> dict:
    """Book every step in order; if one fails for good, cancel it and every earlier one in reverse order."""
    steps = json.loads(os.environ["STEPS"])
    reached: list[str] = []
    try:
        for service in steps:
            reached.append(service)
            context.step(lambda _, s=service: act("book", s, trip), name=f"book-{service}", config=BOOK_RETRY)
    except StepError as failure:
        undone = {}
        for service in reversed(reached):
            try:
                context.step(lambda _, s=service: act("cancel", s, trip), name=f"cancel-{service}",
                             config=CANCEL_RETRY)
                undone[service] = "CANCELLED"
            except StepError as broken:
                context.step(lambda _, s=service, e=str(broken): alert(trip, s, e), name=f"alert-{service}")
                undone[service] = "ALERTED"
        status = context.step(lambda _: record(trip, "CANCELLED"), name="record-cancelled")
        return {"trip_id": trip["trip_id"], "status": status, "failed": reached[-1], "error": str(failure),
                "undone": undone}
    status = context.step(lambda _: record(trip, "CONFIRMED"), name="record-confirmed")
    return {"trip_id": trip["trip_id"], "status": status}
