"""The travel-booking saga: deploy its services (either style) and check its invariant over the tables."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from ocbook import wait
from ocbook.deploy import Deployment, Function, Queue

SERVICES = ("hotel", "flight", "car")


@dataclass
class Saga:
    """What a deployed saga consists of (either style)."""
    tables: dict[str, str]                       # service -> bookings table
    trips: str                                   # trip id -> final status
    trace: str                                   # trace records of every handler run
    alerts: object                               # queue for compensations that need a human
    functions: dict[str, Function] = field(default_factory=dict)
    rules: dict[str, str] = field(default_factory=dict)  # choreographed only: service -> its rule on the bus
    state_machine: str = ""                      # orchestrated only
    definition: dict = field(default_factory=dict)
    bus: str = ""                                # choreographed only


def storage(deployment: Deployment, steps: tuple[str, ...] = SERVICES) -> Saga:
    """The tables and the alert queue both styles use (a bookings table per step)."""
    return Saga(tables={s: deployment.table(f"{s}-bookings") for s in steps},
                trips=deployment.table("trips"), trace=deployment.table("trace", key="pk", sort="sk"),
                alerts=deployment.queue("alerts"))


def orchestrated(deployment: Deployment, approvals_url: str | None = None, type: str = "STANDARD",
                 saga: Saga | None = None, jsonata: bool = False) -> Saga:
    """One function per service and the state machine that drives them (written in JSONata if asked)."""
    saga = saga or storage(deployment)
    for service in saga.tables:
        service_function(deployment, saga, service)
    saga.definition = definition_for(saga, approvals_url, jsonata)
    saga.state_machine = deployment.state_machine("trip-saga", saga.definition, type=type)
    return saga


def service_function(deployment: Deployment, saga: Saga, service: str) -> Function:
    """The Lambda function of one service for the orchestrated style."""
    saga.functions[service] = deployment.function(
        f"{service}-svc", "booking.orchestrated.handler", packages=("booking",),
        env={"SERVICE": service, "TABLE": saga.tables[service], "TRACE_TABLE": saga.trace})
    return saga.functions[service]


def definition_for(saga: Saga, approvals_url: str | None = None, jsonata: bool = False) -> dict:
    """The saga definition over the saga's steps (in the order of its tables), JSONPath or JSONata."""
    from booking.definition import saga as jsonpath_definition
    from booking.definition import saga_jsonata as jsonata_definition

    steps = tuple(saga.tables)
    build = jsonata_definition if jsonata else jsonpath_definition
    return build({s: saga.functions[s].arn for s in steps}, saga.trips, saga.alerts.url, approvals_url, steps=steps)


def choreographed(deployment: Deployment, saga: Saga | None = None) -> Saga:
    """A bus, one function per service (and the trip service), rules wired from the event contract."""
    from booking import contract

    saga = saga or storage(deployment)
    saga.bus = deployment.bus("bus")
    for service, reacts_to in contract.reactions(tuple(saga.tables)).items():
        event_service(deployment, saga, service, reacts_to)
    return saga


def choreography_env(saga: Saga, service: str, reacts_to: dict[str, str]) -> dict[str, str]:
    """A choreographed service's configuration: what it reacts to, where it publishes, its tables."""
    import json

    env = {"SERVICE": service, "EVENT_BUS": saga.bus, "TRACE_TABLE": saga.trace, "TRIPS_TABLE": saga.trips,
           "REACTS_TO": json.dumps(reacts_to, sort_keys=True)}
    if service in saga.tables:
        env["TABLE"] = saga.tables[service]
    return env


def event_service(deployment: Deployment, saga: Saga, service: str, reacts_to: dict[str, str]) -> Function:
    """One choreographed service: its function, its async failure destination, its rule on the bus."""
    from booking import contract

    fn = deployment.function(f"{service}-events", "booking.choreographed.handler", packages=("booking",),
                             env=choreography_env(saga, service, reacts_to))
    deployment.async_config(fn, on_failure=saga.alerts.arn)  # retries exhausted: a human has to look
    saga.rules[service] = deployment.rule(saga.bus, contract.pattern(reacts_to), [fn.arn], kind=f"{service}-rule")
    saga.functions[service] = fn
    return fn


def from_stack(outputs: dict[str, str], steps: tuple[str, ...] = SERVICES) -> Saga:
    """The saga a stack of templates/saga-*.yaml deployed, read from the stack's outputs (either style)."""
    from ocbook.clients import ACCOUNT, REGION

    alerts = Queue(outputs["AlertsQueueName"], outputs["AlertsQueueUrl"], outputs["AlertsQueueArn"])
    functions = {}
    for service in (*steps, "trip"):
        name = outputs.get(f"{service.capitalize()}FunctionName")
        if name:
            functions[service] = Function(name, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
    return Saga(tables={s: outputs[f"{s.capitalize()}Table"] for s in steps}, trips=outputs["TripsTable"],
                trace=outputs["TraceTable"], alerts=alerts, functions=functions,
                state_machine=outputs.get("StateMachineArn", ""), bus=outputs.get("EventBusName", ""))


def request(saga: Saga, trip: dict) -> None:
    """Start a trip: run the state machine (orchestrated) or publish TripRequested (choreographed)."""
    import json

    from ocbook.clients import client

    if saga.state_machine:
        from ocbook import stepfunctions

        stepfunctions.start(saga.state_machine, trip)
        return
    entry = {"EventBusName": saga.bus, "Source": "book.trips", "DetailType": "TripRequested",
             "Detail": json.dumps(trip)}
    answer = client("events").put_events(Entries=[entry])
    if answer["FailedEntryCount"]:
        raise RuntimeError(f"EventBridge refused the TripRequested event: {answer['Entries']}")


def wait_final(saga: Saga, trip_ids: list[str], timeout: float = 90) -> dict[str, str]:
    """Wait until every trip has a final status in the trips table; return them."""
    def finals() -> dict[str, str]:
        return {i["pk"]: i["status"] for i in wait.items(saga.trips) if i["pk"] in trip_ids}

    return wait.until(finals, lambda found: len(found) == len(trip_ids), timeout,
                      what=f"{len(trip_ids)} trip(s) to reach a final status")


def bookings(saga: Saga, trip_ids: list[str] | None = None) -> pd.DataFrame:
    """One row per trip: the status of its booking in each service's table and its recorded final status."""
    rows: dict[str, dict] = {}
    for service, table in saga.tables.items():
        for item in wait.items(table):
            if "#" not in item["pk"]:  # skip attempt counters
                rows.setdefault(item["pk"], {})[service] = item["status"]
    for item in wait.items(saga.trips):
        rows.setdefault(item["pk"], {})["trip"] = item["status"]
    frame = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=[*saga.tables, "trip"]).fillna("-")
    frame.index.name = "trip_id"
    if trip_ids is not None:
        frame = frame.reindex(trip_ids).fillna("-")
    return frame.sort_index()


def violations(table: pd.DataFrame, alerted: set[str] = frozenset()) -> list[str]:
    """Trips breaking the invariant: confirmed => all three BOOKED; otherwise none left BOOKED.

    Trips for which a compensation failed and a human was alerted are reported as such, not hidden.
    """
    found = []
    services = [c for c in table.columns if c != "trip"]
    for trip_id, row in table.iterrows():
        booked = [s for s in services if row[s] == "BOOKED"]
        if row["trip"] == "CONFIRMED" and len(booked) != len(services):
            found.append(f"{trip_id}: confirmed but only {booked or 'nothing'} booked")
        elif row["trip"] != "CONFIRMED" and booked:
            note = " (alerted: waiting for a human)" if trip_id in alerted else ""
            found.append(f"{trip_id}: {row['trip']} but {', '.join(booked)} still booked{note}")
    return found


def add_step(deployment: Deployment, saga: Saga, step: str) -> None:
    """Add a booking step after the last one, the way each style has to: for real, on the engine."""
    from booking import contract
    from ocbook.clients import client

    saga.tables[step] = deployment.table(f"{step}-bookings")
    if saga.state_machine:
        service_function(deployment, saga, step)
        saga.definition = definition_for(saga)
        client("stepfunctions").update_state_machine(stateMachineArn=saga.state_machine,
                                                     definition=json.dumps(saga.definition))
        return
    before = contract.reactions(tuple(s for s in saga.tables if s != step))
    after = contract.reactions(tuple(saga.tables))
    lam, events = client("lambda"), client("events")
    for service, reacts_to in after.items():
        if service not in before:
            event_service(deployment, saga, service, reacts_to)
        elif before[service] != reacts_to:  # an existing service must learn new events
            lam.update_function_configuration(FunctionName=saga.functions[service].name,
                                              Environment={"Variables": choreography_env(saga, service, reacts_to)})
            lam.get_waiter("function_updated_v2").wait(FunctionName=saga.functions[service].name)
            events.put_rule(Name=saga.rules[service], EventBusName=saga.bus,
                            EventPattern=json.dumps(contract.pattern(reacts_to)))


def wiring(saga: Saga) -> dict[str, str]:
    """What defines the saga's flow, read back from the engine: the definition's states, or the bus's rules
    and each service's configured reactions (one entry per artefact, as JSON text)."""
    from ocbook.clients import client

    found: dict[str, str] = {}
    if saga.state_machine:
        definition = json.loads(client("stepfunctions").describe_state_machine(
            stateMachineArn=saga.state_machine)["definition"])
        for name, state in definition["States"].items():
            found[f"state {name}"] = json.dumps(state, sort_keys=True)
        return found
    events, lam = client("events"), client("lambda")
    for service, rule in saga.rules.items():
        found[f"rule {service}"] = events.describe_rule(Name=rule, EventBusName=saga.bus)["EventPattern"]
    for service, fn in saga.functions.items():
        env = lam.get_function_configuration(FunctionName=fn.name)["Environment"]["Variables"]
        found[f"function {service}"] = env.get("REACTS_TO", "")
    return found


def changes(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str]]:
    """Which artefacts a change added and which it modified."""
    return {"added": sorted(set(after) - set(before)),
            "modified": sorted(k for k in before if k in after and before[k] != after[k])}
