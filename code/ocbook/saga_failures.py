"""Choreography's own failure modes, wired onto a deployed choreographed saga (an ``ocbook.styles.Choreographed``).

- a compensation that fails: the service's retries run out and Lambda's on-failure destination (the saga's
  alert queue) receives the event; ``alerts`` reads those records, ``ocbook.saga.violations`` reports the trip;
- a lost event: ``lose`` disables one service's rule for a while (EventBridge drops what no rule matches),
  ``stuck`` finds the trips left without a final status, and ``archive`` / ``replay`` recover them with an
  EventBridge archive and a replay, which the services' idempotency makes safe;
- a stuck trip: ``watchdog`` deploys a timer per trip (a delayed SQS message) and a function that, when the
  timer fires on a trip still open, declares the silent step failed so the saga's own compensations run;
- a step that cannot be undone: a saga deployed with a pivot (``deploy(deployment, pivot="flight")``, either
  style) retries the steps after it until they succeed; if one fails for good the saga stops, alerts and marks
  the trip NEEDS_ATTENTION, the pivot kept; ``attempts`` and ``refunds`` show what that took.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from datetime import datetime, timezone

from ocbook import wait
from ocbook.clients import client


def alerts(saga, count: int, timeout: float = 30) -> list[dict]:
    """The next `count` failure records on the saga's alert queue: trip, service, error, attempts."""
    found = []
    for message in wait.messages(saga.alerts.url, count, timeout=timeout):
        record = message["Body"]
        if "problem" in record:  # a saga's own alert (a step after the pivot failed for good), not Lambda's record
            found.append(escalation(record))
            continue
        payload, context = record.get("requestPayload") or {}, record.get("requestContext") or {}
        found.append({"trip": (payload.get("detail") or {}).get("trip_id", "?"),
                      "service": service_of(saga, context.get("functionArn", "")),
                      "event": payload.get("detail-type", "?"), "condition": context.get("condition", "?"),
                      "attempts": context.get("approximateInvokeCount"),
                      "error": (record.get("responsePayload") or {}).get("errorType", "?")})
    return found


def escalation(alert: dict) -> dict:
    """A saga's own alert ({trip_id, step, problem, error}, either style) in the fields alerts() returns."""
    error = alert.get("error")
    return {"trip": alert.get("trip_id", "?"), "service": alert.get("step", "?"), "event": "-",
            "condition": alert["problem"], "attempts": None,
            "error": error.get("Error", "?") if isinstance(error, dict) else str(error)}


def service_of(saga, function_arn: str) -> str:
    """The saga service a function ARN belongs to."""
    name = function_arn.split(":")[6] if function_arn.count(":") >= 6 else function_arn
    return next((service for service, fn in saga.functions.items() if fn.name == name), name)


def bus_arn(saga) -> str:
    """The ARN of the saga's bus."""
    return client("events").describe_event_bus(Name=saga.bus)["Arn"]


def archive(deployment, saga) -> str:
    """An EventBridge archive of every event on the saga's bus; returns its ARN (deleted at teardown)."""
    events = client("events")
    name = deployment.name("archive", limit=48)
    arn = events.create_archive(ArchiveName=name, EventSourceArn=bus_arn(saga), RetentionDays=1)["ArchiveArn"]
    deployment.record("archive", name, lambda: events.delete_archive(ArchiveName=name))
    return arn


@contextmanager
def lose(saga, service: str):
    """While inside, the service's rule is disabled: the events it reacts to match nothing and are lost."""
    events = client("events")
    events.disable_rule(Name=saga.rules[service], EventBusName=saga.bus)
    try:
        yield
    finally:
        events.enable_rule(Name=saga.rules[service], EventBusName=saga.bus)


def stuck(saga, trip_ids: list[str], quiet_for: float = 2.0, timeout: float = 30) -> list[str]:
    """The trips still without a final status once nothing has happened to them for `quiet_for` seconds
    (what a watchdog sweeping the trips table finds)."""
    def activity() -> int:
        return len([i for i in wait.items(saga.trace) if i["pk"] in trip_ids])

    last = {"count": -1}

    def settled() -> bool:
        count, previous = activity(), last["count"]
        last["count"] = count
        return count == previous

    wait.steady(settled, quiet_for, timeout, interval=0.3, what="the trips to go quiet")
    final = {i["pk"] for i in wait.items(saga.trips)}
    return [t for t in trip_ids if t not in final]


def replay(deployment, saga, archive_arn: str, start: float, end: float, timeout: float = 60) -> dict:
    """Replay the archived events of [start, end] onto the saga's bus (every rule); wait until it completes."""
    events = client("events")
    name = deployment.name("replay", limit=48)
    events.start_replay(ReplayName=name, EventSourceArn=archive_arn,
                        EventStartTime=datetime.fromtimestamp(start, tz=timezone.utc),
                        EventEndTime=datetime.fromtimestamp(end, tz=timezone.utc),
                        Destination={"Arn": bus_arn(saga)})
    began = time.time()
    state = wait.until(lambda: events.describe_replay(ReplayName=name), lambda r: r["State"] in
                       ("COMPLETED", "FAILED", "CANCELLED"), timeout, what=f"replay {name} to complete")
    if state["State"] != "COMPLETED":
        raise RuntimeError(f"replay {name} ended {state['State']}: {state.get('StateReason', '')}")
    return {"replay": name, "state": state["State"], "seconds": round(time.time() - began, 1)}


def watchdog(deployment, saga, after_seconds: int):
    """A watchdog for the saga: a queue whose messages wait `after_seconds` (SQS DelaySeconds) and a function
    that times out the trips still open when their message arrives. Returns the queue to watch trips with."""
    queue = deployment.queue("watchdog")
    client("sqs").set_queue_attributes(QueueUrl=queue.url, Attributes={"DelaySeconds": str(after_seconds)})
    fn = deployment.function("watchdog", "booking.watchdog.handler", packages=("booking",), env={
        "TRIPS_TABLE": saga.trips, "EVENT_BUS": saga.bus, "TRACE_TABLE": saga.trace,
        "STEP_TABLES": json.dumps(saga.tables)})
    deployment.mapping(fn, queue.arn, BatchSize=1)
    return queue


def watched(saga, queue, trip: dict) -> None:
    """Start a trip and its watchdog timer (on AWS the trip service would send the timer on TripRequested)."""
    from ocbook.saga import request

    request(saga, trip)
    client("sqs").send_message(QueueUrl=queue.url, MessageBody=json.dumps(trip))


def attempts(saga, trip_id: str) -> dict[str, int]:
    """How many booking attempts each service counted for a trip (0 where no failure was injected: the
    counter is kept by booking.core's failure injection)."""
    dynamodb = client("dynamodb")
    counted = {}
    for service, name in saga.tables.items():
        item = dynamodb.get_item(TableName=name, Key={"pk": {"S": f"{trip_id}#book-attempts"}},
                                 ConsistentRead=True).get("Item")
        counted[service] = int(item["n"]["N"]) if item else 0
    return counted


def refunds(saga, trip_id: str) -> int:
    """The refunds (compensations that undid a booking) the services made for a trip."""
    return sum(int(item.get("refunds", 0)) for name in saga.tables.values() for item in wait.items(name)
               if item["pk"] == trip_id)


def settled(saga, trip_ids: list[str], alerted: set[str] = frozenset(), timeout: float = 90):
    """Wait until each trip has a final status or is among the `alerted` ones (left open for a human); return
    their bookings (ocbook.saga.bookings)."""
    from ocbook.saga import bookings

    return wait.until(lambda: bookings(saga, trip_ids),
                      lambda table: all(t in alerted or table.loc[t, "trip"] != "-" for t in trip_ids), timeout,
                      what=f"{len(trip_ids)} trip(s) to end or be alerted")
