"""The saga as a Lambda durable function (booking/durable_saga.py): deploy it, request trips, read their history.

Mirrors the saga API of ocbook.saga (deploy, request, wait_final; ob.saga.bookings and violations apply
unchanged) and needs nothing of it but those two; the style class in ocbook/styles/durable.py delegates here,
passing itself as the saga (any object with tables, trips, trace, alerts and functions will do).

    saga = ob.durable.deploy(deployment)
    ob.durable.request(saga, trip); ob.durable.wait_final(saga, [trip["trip_id"]])
    ob.durable.history(saga, trip["trip_id"])     # the durable execution's events, as a table
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import pandas as pd

from ocbook import wait
from ocbook.clients import ACCOUNT, REGION, all_pages, client
from ocbook.deploy import Deployment, Function, Queue

SERVICES = ("hotel", "flight", "car")

HANDLER = "booking.durable_saga.handler"
RUNTIME = "python3.13"   # durable functions run on Python 3.13 and 3.14 (of these, the engine runs 3.13)
TIMEOUT = 30             # one invocation (the first, or a replay); the execution's own limit is below
# The execution may last an hour; its history is kept a day after it ends (AWS's limits: 1 year, 1-90 days).
DURABLE_CONFIG = {"ExecutionTimeout": 3600, "RetentionPeriodInDays": 1}
# Events that are billed as one durable operation each (a step attempt, a wait, a callback, a child context,
# and starting the execution), as read from AWS's pricing: "each step, wait, callback ... is an operation".
OPERATION_EVENTS = ("ExecutionStarted", "StepStarted", "WaitStarted", "CallbackStarted", "ContextStarted",
                    "ChainedInvokeStarted")


@dataclass
class DurableSaga:
    """What a deployed durable saga consists of: the storage every style has, and its one function ("trip")."""
    tables: dict[str, str]                       # service -> bookings table, in step order
    trips: str                                   # trip id -> final status
    trace: str                                   # trace records of every step run
    alerts: Queue                                # compensations that need a human
    functions: dict[str, Function] = field(default_factory=dict)


def storage(deployment: Deployment, steps: tuple[str, ...] = SERVICES) -> DurableSaga:
    """The tables and the alert queue, named as every style names them."""
    return DurableSaga(tables={s: deployment.table(f"{s}-bookings") for s in steps}, trips=deployment.table("trips"),
                       trace=deployment.table("trace", key="pk", sort="sk"), alerts=deployment.queue("alerts"))


def environment(saga: DurableSaga) -> dict[str, str]:
    """The durable function's configuration: its steps in order and where each writes."""
    return {"STEPS": json.dumps(list(saga.tables)), "TABLES": json.dumps(saga.tables), "TRIPS_TABLE": saga.trips,
            "TRACE_TABLE": saga.trace, "ALERTS_URL": saga.alerts.url}


def timer_scale() -> float | None:
    """The factor the engine applies to durable waits and step retry delays (None: not the book's engine)."""
    from urllib.request import Request

    from ocbook.endpoints import endpoint, fetch_json

    found = fetch_json(Request(f"{endpoint()}/_ocbook/clock"), timeout=5)
    return float(found["durable_scale"]) if found and "durable_scale" in found else None


def available() -> bool:
    """Whether the LocalStack in use serves Lambda's durable execution APIs (the book's engine does)."""
    from botocore.exceptions import ClientError

    lam = client("lambda")
    try:
        lam.list_durable_executions_by_function(FunctionName="ocbook-durable-probe")
    except lam.exceptions.ResourceNotFoundException:
        return True
    except ClientError:
        return False
    return True


def deploy(deployment: Deployment, steps: tuple[str, ...] = SERVICES, saga: DurableSaga | None = None
           ) -> DurableSaga:
    """The saga's storage (as for the other styles) and one durable function that runs every trip."""
    if not available():
        raise RuntimeError("this LocalStack does not serve Lambda durable functions (ListDurableExecutionsByFunction "
                           "failed); the book's own engine does: unset AWS_ENDPOINT_URL to use it")
    saga = saga or storage(deployment, steps)
    saga.functions["trip"] = deployment.function("trip-durable", HANDLER, packages=("booking",),
                                                 env=environment(saga), runtime=RUNTIME, timeout=TIMEOUT,
                                                 durable=DURABLE_CONFIG)
    return saga


def from_stack(outputs: dict[str, str], steps: tuple[str, ...] = SERVICES) -> DurableSaga:
    """The saga a stack of templates/saga-durable.yaml deployed, read from the stack's outputs."""
    name = outputs["TripFunctionName"]
    return DurableSaga(
        tables={s: outputs[f"{s.capitalize()}Table"] for s in steps}, trips=outputs["TripsTable"],
        trace=outputs["TraceTable"],
        alerts=Queue(outputs["AlertsQueueName"], outputs["AlertsQueueUrl"], outputs["AlertsQueueArn"]),
        functions={"trip": Function(name, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")})


def request(saga: DurableSaga, trip: dict) -> str | None:
    """Start a trip: an asynchronous Invoke naming the execution after the trip; its ARN. A repeated request
    starts nothing new: Lambda answers the running execution, or refuses once it has ended (None here)."""
    lam = client("lambda")
    try:
        answer = lam.invoke(FunctionName=saga.functions["trip"].name, InvocationType="Event",
                            DurableExecutionName=trip["trip_id"], Payload=json.dumps(trip))
    except lam.exceptions.DurableExecutionAlreadyStartedException:
        return None
    return answer["DurableExecutionArn"]


def execution(saga: DurableSaga, trip_id: str) -> dict:
    """The durable execution named after a trip (ListDurableExecutionsByFunction, then GetDurableExecution)."""
    lam = client("lambda")
    found = [e for e in all_pages(lam, "list_durable_executions_by_function", "DurableExecutions",
                                  FunctionName=saga.functions["trip"].name, DurableExecutionName=trip_id)
             if e["DurableExecutionName"] == trip_id]
    if not found:
        raise LookupError(f"no durable execution named {trip_id!r} for {saga.functions['trip'].name}")
    return lam.get_durable_execution(DurableExecutionArn=found[0]["DurableExecutionArn"])


def status(saga: DurableSaga, trip_id: str) -> str | None:
    """The trip's final status from the trips table, or None while it runs."""
    item = client("dynamodb").get_item(TableName=saga.trips, Key={"pk": {"S": trip_id}},
                                       ConsistentRead=True).get("Item")
    return item["status"]["S"] if item else None


def wait_final(saga: DurableSaga, trip_ids: list[str], timeout: float = 90) -> dict[str, str]:
    """Wait until every trip has a final status in the trips table; return them."""
    def finals() -> dict[str, str]:
        return {i["pk"]: i["status"] for i in wait.items(saga.trips) if i["pk"] in trip_ids}

    return wait.until(finals, lambda found: len(found) == len(trip_ids), timeout,
                      what=f"{len(trip_ids)} trip(s) to reach a final status")


def wait_ended(saga: DurableSaga, trip_id: str, timeout: float = 90) -> dict:
    """Wait until the trip's durable execution has ended (its function returned or failed for good)."""
    return wait.until(lambda: execution(saga, trip_id), lambda found: found["Status"] != "RUNNING", timeout,
                      what=f"the durable execution of {trip_id} to end")


def events(saga: DurableSaga, trip_id: str) -> list[dict]:
    """Every event of the trip's durable execution, with its data."""
    arn = execution(saga, trip_id)["DurableExecutionArn"]
    return all_pages(client("lambda"), "get_durable_execution_history", "Events", DurableExecutionArn=arn,
                     IncludeExecutionData=True)


def detail(event: dict) -> str:
    """What an event says in a few words: an error's type and message, a retry's delay, the execution's result."""
    details = next((value for key, value in event.items() if key.endswith("Details") and isinstance(value, dict)),
                   {})
    error = (details.get("Error") or {}).get("Payload") or {}
    retry = details.get("RetryDetails") or {}
    parts = []
    if error:
        parts.append(f"{error.get('ErrorType', '')}: {error.get('ErrorMessage', '')}".strip(": "))
    if retry.get("NextAttemptDelaySeconds"):
        parts.append(f"attempt {retry.get('CurrentAttempt')} failed, retry in {retry['NextAttemptDelaySeconds']} s")
    result = (details.get("Result") or {}).get("Payload")
    if result is not None and event["EventType"].startswith("Execution"):  # step results are in the SDK's envelope
        parts.append(str(result))
    return "; ".join(parts)


def history(saga: DurableSaga, trip_id: str) -> pd.DataFrame:
    """The trip's durable execution history as a table: one row per event, ms since the start."""
    found = events(saga, trip_id)
    start = found[0]["EventTimestamp"]
    rows = [{"ms": round((e["EventTimestamp"] - start).total_seconds() * 1000), "event": e["EventType"],
             "operation": e.get("Name", "") if e["EventType"] not in ("ExecutionStarted", "ExecutionSucceeded",
                                                                       "ExecutionFailed") else "",
             "detail": detail(e)} for e in found]
    return pd.DataFrame(rows).set_index("ms")


def work(saga: DurableSaga, trip_id: str) -> dict:
    """What one trip cost: durable operations, invocations of the durable function (the first and each
    replay), and when the execution ended (epoch seconds, None while it runs)."""
    found = events(saga, trip_id)
    ended = [e for e in found if e["EventType"].startswith("Execution") and e["EventType"] != "ExecutionStarted"]
    return {"finished": ended[-1]["EventTimestamp"].timestamp() if ended else None,
            "durable_operations": sum(e["EventType"] in OPERATION_EVENTS for e in found),
            "replays": sum(e["EventType"] == "InvocationCompleted" for e in found) - 1}


def add_step(deployment: Deployment, saga: DurableSaga, step: str) -> None:
    """Add a booking step after the last one: a table, and the function's step list (its code is unchanged)."""
    saga.tables[step] = deployment.table(f"{step}-bookings")
    lam, name = client("lambda"), saga.functions["trip"].name
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": environment(saga)})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)


def wiring(saga: DurableSaga) -> dict[str, str]:
    """What defines the flow, read back from the engine: the durable function's step list (the code is fixed)."""
    variables = client("lambda").get_function_configuration(
        FunctionName=saga.functions["trip"].name)["Environment"]["Variables"]
    return {"function trip": json.dumps({"STEPS": json.loads(variables["STEPS"])}, sort_keys=True)}


def run_trips(saga: DurableSaga, trips: list[dict], timeout: float = 90) -> pd.DataFrame:
    """Request trips, wait for their final status, and return the bookings table (for the invariant)."""
    began = time.monotonic()
    for trip in trips:
        request(saga, trip)
    ids = [trip["trip_id"] for trip in trips]
    wait_final(saga, ids, timeout=max(1.0, timeout - (time.monotonic() - began)))
    from ocbook.saga import bookings  # here: ocbook.saga imports the styles, whose durable style imports this

    return bookings(saga, ids)
