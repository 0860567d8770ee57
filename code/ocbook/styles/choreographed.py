"""The choreographed saga: services react to each other's events on an EventBridge bus."""

from __future__ import annotations

import json
from typing import ClassVar

import pandas as pd

from ocbook.clients import client
from ocbook.deploy import Function
from ocbook.styles.base import SERVICES, Style


class Choreographed(Style):
    """Each service's rule on the bus comes from the event contract; a trip service records the end (chapter 5)."""

    name: ClassVar[str] = "choreographed"
    template_name: ClassVar[str] = "saga-choreographed"
    units: ClassVar[tuple[str, ...]] = ("events",)   # EventBridge bills per event published
    retries_asynchronously: ClassVar[bool] = True  # EventBridge invokes the services asynchronously
    stack_by_default: ClassVar[bool] = True  # checked on the engine: chapters 4-6, the harness, add_step

    bus: str = ""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.rules: dict[str, str] = {}   # service -> its rule on the bus (empty for a stack: CloudFormation's)

    def build(self, pivot: str | None = None) -> None:
        """A bus, one function per service (and the trip service), rules wired from the event contract; with a
        pivot, the services after it redrive their failed events (forward recovery) instead of alerting, and a
        step stuck after it makes the trip service alert."""
        from booking import contract
        from booking.definition import forward_steps

        self.options = {"pivot": pivot}
        self.bus = self.deployment.bus("bus")
        forward = forward_steps(tuple(self.tables), pivot)
        redrive = self.deployment.function("redrive", "booking.redrive.handler", packages=("booking",), env={
            "EVENT_BUS": self.bus, "STEPS": json.dumps(list(self.tables)), "PIVOT": pivot}) if forward else None
        for service, reacts_to in contract.reactions(tuple(self.tables), forward).items():
            self.event_service(service, reacts_to, on_failure=redrive.arn if service in forward else None)

    def env(self, service: str, reacts_to: dict[str, str]) -> dict[str, str]:
        """A service's configuration: what it reacts to, where it publishes, its tables (with a pivot: whether
        it comes after it, and the trip service's alert queue)."""
        from booking.definition import forward_steps

        env = {"SERVICE": service, "EVENT_BUS": self.bus, "TRACE_TABLE": self.trace, "TRIPS_TABLE": self.trips,
               "REACTS_TO": json.dumps(reacts_to, sort_keys=True)}
        if service in self.tables:
            env["TABLE"] = self.tables[service]
        forward = forward_steps(tuple(self.tables), self.options.get("pivot"))
        if service in forward:
            env["AFTER_PIVOT"] = "true"
        elif forward and service not in self.tables:
            env["ALERTS_URL"] = self.alerts.url
        return env

    def event_service(self, service: str, reacts_to: dict[str, str], on_failure: str | None = None) -> Function:
        """One service: its function, its async failure destination (the alert queue unless given), its rule."""
        from booking import contract

        fn = self.deployment.function(f"{service}-events", "booking.choreographed.handler", packages=("booking",),
                                      env=self.env(service, reacts_to))
        self.deployment.async_config(fn, on_failure=on_failure or self.alerts.arn)  # retries exhausted
        self.rules[service] = self.deployment.rule(self.bus, contract.pattern(reacts_to), [fn.arn],
                                                   kind=f"{service}-rule")
        self.functions[service] = fn
        return fn

    @classmethod
    def template(cls, steps: tuple[str, ...] = SERVICES, **options) -> dict:
        """templates/saga-choreographed.yaml for these steps (its one option: pivot)."""
        from ocbook import templates

        unknown = set(options) - {"pivot"}
        if unknown:
            raise ValueError(f"the choreographed saga's only option is pivot, not: {', '.join(sorted(unknown))}")
        return templates.saga_choreographed(steps, **options)

    def adopt(self, outputs: dict[str, str]) -> None:
        """The bus from the stack's outputs, and each service's rule from the stack's resources (SAM names a
        function's rule after the function and its event: HotelFunctionReactions)."""
        self.bus = outputs["EventBusName"]
        if not (self.deployment and self.stack in self.deployment.stacks):
            return
        resources = client("cloudformation").describe_stack_resources(StackName=self.stack)["StackResources"]
        by_id = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
        for service in self.functions:
            rule = by_id.get(f"{service.capitalize()}FunctionReactions")
            if rule:
                self.rules[service] = rule.rpartition("|")[2]

    def request(self, trip: dict, **extra) -> None:
        """Publish TripRequested (extra fields go into the entry, e.g. a TraceHeader); a duplicate request is a
        second event the services must absorb."""
        from booking import contract

        entry = {"EventBusName": self.bus, "Source": contract.SOURCE, "DetailType": "TripRequested",
                 "Detail": json.dumps(trip), **extra}
        answer = client("events").put_events(Entries=[entry])
        if answer["FailedEntryCount"]:
            raise RuntimeError(f"EventBridge refused the TripRequested event: {answer['Entries']}")

    def work(self, trip_id: str, records: pd.DataFrame, requests: int) -> dict:
        """Events on the bus (the requests and every event a handler published); the trip service's record
        of the end is when it finished."""
        closing = records[records["service"] == "trip"]
        return {"finished": float(closing["ended"].min()) if len(closing) else None,
                "events": requests + sum(len(out) for out in records["events_out"])}

    def billed(self, trip_id: str, runs: pd.Series, requests: int) -> dict:
        """The trip service's writes of the trip's status (one per run)."""
        return {"ddb_writes": int(runs.get("trip", 0))}

    def request_traced(self, trip: dict, header: str) -> tuple[dict, str]:
        """PutEvents of TripRequested with the entry's TraceHeader (EventBridge passes it to the targets)."""
        self.request(trip, TraceHeader=header)
        return {"name": "EventBridge", "aws": {"operation": "PutEvents"}}, ""

    def deliver_late(self, trip: dict, records: pd.DataFrame) -> str:
        """The first event a service emitted for the trip, published again on the bus."""
        from booking import contract

        mine = records[records["trip"] == trip["trip_id"]].sort_values("started")
        first = next(e for out in mine["events_out"] for e in out)
        client("events").put_events(Entries=[{"EventBusName": self.bus, "Source": contract.SOURCE,
                                              "DetailType": first, "Detail": json.dumps(trip)}])
        return f"{first} redelivered"

    def add_step(self, step: str) -> None:
        """A table, a new service, and every existing service whose reactions change learns its new events."""
        from booking import contract

        if self.stack:
            return self.restack(step)
        before = contract.reactions(tuple(self.tables))
        self.tables[step] = self.deployment.table(f"{step}-bookings")
        after = contract.reactions(tuple(self.tables))
        lam, events = client("lambda"), client("events")
        for service, reacts_to in after.items():
            if service not in before:
                self.event_service(service, reacts_to)
            elif before[service] != reacts_to:  # an existing service must learn new events
                name = self.functions[service].name
                lam.update_function_configuration(FunctionName=name,
                                                  Environment={"Variables": self.env(service, reacts_to)})
                lam.get_waiter("function_updated_v2").wait(FunctionName=name)
                events.put_rule(Name=self.rules[service], EventBusName=self.bus,
                                EventPattern=json.dumps(contract.pattern(reacts_to)))

    def wiring(self) -> dict[str, str]:
        """The rules on the bus (every rule, stack or not) and each service's configured reactions."""
        events, lam = client("events"), client("lambda")
        found: dict[str, str] = {}
        named = {rule: service for service, rule in self.rules.items()}
        for page in events.get_paginator("list_rules").paginate(EventBusName=self.bus):
            for rule in page["Rules"]:
                found[f"rule {named.get(rule['Name'], rule['Name'])}"] = rule.get("EventPattern", "")
        for service, fn in self.functions.items():
            env = lam.get_function_configuration(FunctionName=fn.name)["Environment"]["Variables"]
            found[f"function {service}"] = env.get("REACTS_TO", "")
        return found
