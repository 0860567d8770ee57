"""The travel-booking saga: deploy its services (either style) and check its invariant over the tables."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ocbook import wait
from ocbook.deploy import Deployment, Function

SERVICES = ("hotel", "flight", "car")


@dataclass
class Saga:
    """What a deployed saga consists of (either style)."""
    tables: dict[str, str]                       # service -> bookings table
    trips: str                                   # trip id -> final status
    trace: str                                   # trace records of every handler run
    alerts: object                               # queue for compensations that need a human
    functions: dict[str, Function] = field(default_factory=dict)
    state_machine: str = ""                      # orchestrated only
    definition: dict = field(default_factory=dict)
    bus: str = ""                                # choreographed only


def storage(deployment: Deployment) -> Saga:
    """The tables and the alert queue both styles use."""
    return Saga(tables={s: deployment.table(f"{s}-bookings") for s in SERVICES},
                trips=deployment.table("trips"), trace=deployment.table("trace", key="pk", sort="sk"),
                alerts=deployment.queue("alerts"))


def orchestrated(deployment: Deployment, approvals_url: str | None = None, type: str = "STANDARD",
                 saga: Saga | None = None) -> Saga:
    """Three service functions and the state machine that drives them."""
    from booking.definition import saga as saga_definition

    saga = saga or storage(deployment)
    for service in SERVICES:
        saga.functions[service] = deployment.function(
            f"{service}-svc", "booking.orchestrated.handler", packages=("booking",),
            env={"SERVICE": service, "TABLE": saga.tables[service], "TRACE_TABLE": saga.trace})
    saga.definition = saga_definition({s: f.arn for s, f in saga.functions.items()}, saga.trips,
                                      saga.alerts.url, approvals_url)
    saga.state_machine = deployment.state_machine("trip-saga", saga.definition, type=type)
    return saga


def choreographed(deployment: Deployment, saga: Saga | None = None, variant: str = "") -> Saga:
    """A bus, one function per service (and the trip service), rules wired from the event contract."""
    from booking import contract

    saga = saga or storage(deployment)
    saga.bus = deployment.bus("trips")
    for service in contract.REACTIONS:
        env = {"SERVICE": service, "EVENT_BUS": saga.bus, "TRACE_TABLE": saga.trace, "TRIPS_TABLE": saga.trips}
        if service in saga.tables:
            env["TABLE"] = saga.tables[service]
        if variant:
            env["VARIANT"] = variant
        fn = deployment.function(f"{service}-events", "booking.choreographed.handler", packages=("booking",), env=env)
        deployment.async_config(fn, on_failure=saga.alerts.arn)  # retries exhausted: a human has to look
        deployment.rule(saga.bus, contract.pattern(service), [fn.arn], kind=f"{service}-rule")
        saga.functions[service] = fn
    return saga


def request(saga: Saga, trip: dict) -> None:
    """Start a trip: run the state machine (orchestrated) or publish TripRequested (choreographed)."""
    import json

    from ocbook.clients import client

    if saga.state_machine:
        from ocbook import stepfunctions

        stepfunctions.start(saga.state_machine, trip)
        return
    entry = {"EventBusName": saga.bus, "Source": "book.trips", "DetailType": "TripRequested", "Detail": json.dumps(trip)}
    assert client("events").put_events(Entries=[entry])["FailedEntryCount"] == 0


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
    frame = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=[*SERVICES, "trip"]).fillna("-")
    frame.index.name = "trip_id"
    if trip_ids is not None:
        frame = frame.reindex(trip_ids).fillna("-")
    return frame.sort_index()


def violations(table: pd.DataFrame, alerted: set[str] = frozenset()) -> list[str]:
    """Trips breaking the invariant: confirmed => all three BOOKED; otherwise none left BOOKED.

    Trips for which a compensation failed and a human was alerted are reported as such, not hidden.
    """
    found = []
    for trip_id, row in table.iterrows():
        booked = [s for s in SERVICES if row[s] == "BOOKED"]
        if row["trip"] == "CONFIRMED" and len(booked) != len(SERVICES):
            found.append(f"{trip_id}: confirmed but only {booked or 'nothing'} booked")
        elif row["trip"] != "CONFIRMED" and booked:
            note = " (alerted: waiting for a human)" if trip_id in alerted else ""
            found.append(f"{trip_id}: {row['trip']} but {', '.join(booked)} still booked{note}")
    return found
