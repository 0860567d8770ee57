"""Durable probe handlers (engine tests): steps with retries, a wait, a callback, each observable from outside.

They import the durable execution SDK that Lambda's Python 3.13 runtime ships (on the engine: the runtime's
own packages), so the function's zip holds only this package.
"""

from __future__ import annotations

import os

import boto3
from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution
from aws_durable_execution_sdk_python.config import CallbackConfig, Duration, JitterStrategy, StepConfig
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy


def record(kind: str, what: str) -> None:
    """One item in the probe table (pk = kind), written outside the durable history: counts real side effects."""
    table = os.environ.get("RECORDS")
    if table:
        boto3.client("dynamodb").put_item(TableName=table, Item={"pk": {"S": kind}, "sk": {"S": os.urandom(8).hex()},
                                                                 "what": {"S": what}})


def retries(attempts: int, delay: int) -> StepConfig:
    """A step retried up to `attempts` attempts in all, `delay` s apart (no jitter, no back-off growth)."""
    return StepConfig(retry_strategy=create_retry_strategy(RetryStrategyConfig(
        max_attempts=attempts, initial_delay=Duration.from_seconds(delay), backoff_rate=1,
        jitter_strategy=JitterStrategy.NONE)))


@durable_execution
def flaky_steps(event: dict, context: DurableContext) -> dict:
    """A step failing its first `fail` attempts (of `attempts`, `delay` s apart), then a step that records once."""
    fail, kind = int(event.get("fail", 0)), event.get("kind", "flaky")

    def flaky(step: StepContext) -> int:
        attempt = attempts_so_far(kind, record_first=True)
        if attempt <= fail:
            raise RuntimeError(f"flaky step fails on attempt {attempt} (the first {fail} fail)")
        return attempt

    succeeded_on = context.step(flaky, name="flaky", config=retries(int(event.get("attempts", 3)),
                                                                    int(event.get("delay", 1))))
    context.step(lambda _: record(f"{kind}-after", "once"), name="after")
    return {"succeeded_on": succeeded_on}


def attempts_so_far(kind: str, record_first: bool = False) -> int:
    """How many attempts of the flaky step have run (its records in the probe table), this one included."""
    if record_first:
        record(kind, "attempt")
    found = boto3.client("dynamodb").query(TableName=os.environ["RECORDS"], KeyConditionExpression="pk = :pk",
                                           ExpressionAttributeValues={":pk": {"S": kind}}, ConsistentRead=True)
    return found["Count"]


@durable_execution
def waits(event: dict, context: DurableContext) -> dict:
    """Record, wait `seconds`, record again: the second record comes once, after the wait."""
    kind = event.get("kind", "wait")
    context.step(lambda _: record(kind, "before"), name="before")
    context.wait(Duration.from_seconds(int(event["seconds"])), name="pause")
    context.step(lambda _: record(kind, "after"), name="after")
    return {"waited": int(event["seconds"])}


@durable_execution
def callback(event: dict, context: DurableContext) -> dict:
    """Create a callback, publish its id (record), and return what the callback is completed with."""
    kind = event.get("kind", "callback")
    waiting = context.create_callback(name="approval", config=CallbackConfig(
        timeout=Duration.from_seconds(int(event.get("timeout", 300)))))
    context.step(lambda _: record(kind, waiting.callback_id), name="publish")
    return {"approved": waiting.result()}
