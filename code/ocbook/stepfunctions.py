"""Step Functions: start an execution, wait for it, read its history as a tidy table."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from ocbook.clients import all_pages, client
from ocbook.wait import poll

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


def start(state_machine_arn: str, payload: Any = None, name: str | None = None) -> str:
    """Start an execution; returns its ARN."""
    args = {"stateMachineArn": state_machine_arn, "input": json.dumps(payload or {})}
    if name:
        args["name"] = name
    return client("stepfunctions").start_execution(**args)["executionArn"]


def wait(execution_arn: str, timeout: float = 60) -> dict:
    """Wait until an execution ends; returns describe_execution with `output` parsed."""
    sfn = client("stepfunctions")
    done = poll(lambda: (d := sfn.describe_execution(executionArn=execution_arn))["status"] in TERMINAL and d,
                timeout, interval=0.05, what=f"execution {execution_arn.rsplit(':', 1)[-1]} to finish")
    if done.get("output"):
        done["output"] = json.loads(done["output"])
    return done


def run(state_machine_arn: str, payload: Any = None, timeout: float = 60) -> dict:
    """Start an execution and wait for it."""
    return wait(start(state_machine_arn, payload), timeout)


def events(execution_arn: str) -> list[dict]:
    """The raw history events of an execution, oldest first."""
    return all_pages(client("stepfunctions"), "get_execution_history", "events", executionArn=execution_arn)


def detail(event: dict) -> dict:
    """The *EventDetails part of a history event."""
    return next((value for key, value in event.items() if key.endswith("EventDetails")), {})


def history(execution_arn: str) -> pd.DataFrame:
    """An execution's history as a table: step, elapsed ms, event type, state, and error if any."""
    raw = events(execution_arn)
    start_time = raw[0]["timestamp"] if raw else None
    names: dict[int, str] = {}
    rows = []
    for event in raw:
        info = detail(event)
        name = info.get("name") or names.get(event.get("previousEventId"), "")
        names[event["id"]] = name
        rows.append({
            "id": event["id"],
            "ms": round((event["timestamp"] - start_time).total_seconds() * 1000),
            "type": event["type"],
            "state": name,
            "error": info.get("error", ""),
        })
    return pd.DataFrame(rows, columns=["id", "ms", "type", "state", "error"])


def path(execution_arn: str) -> list[str]:
    """The states an execution entered, in order."""
    return [detail(e)["name"] for e in events(execution_arn) if e["type"].endswith("StateEntered")]
