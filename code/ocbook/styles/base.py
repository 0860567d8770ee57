"""The interface every saga style implements; an instance is one deployed saga of that style.

A style is one class: its template, how it deploys (boto3 calls, or its template as a CloudFormation stack),
how a trip is requested, a trip's final status, how a step is added, and what one trip costs in the style's own
work units. The harness and the chapters hold a Style and never ask which one it is.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import ClassVar

import pandas as pd

from ocbook import wait
from ocbook.clients import client
from ocbook.deploy import Deployment, Function, Queue

SERVICES = ("hotel", "flight", "car")


class Style:
    """One deployed travel saga; subclasses are the styles (orchestrated, choreographed, ...)."""

    name: ClassVar[str] = ""                       # the registry's key, e.g. "orchestrated"
    template_name: ClassVar[str] = ""              # its committed template under templates/, without .yaml
    units: ClassVar[tuple[str, ...]] = ()          # the work units one trip costs in this style (see work())
    retries_asynchronously: ClassVar[bool] = False  # its services recover through Lambda's asynchronous retries

    def __init__(self, deployment: Deployment | None, tables: dict[str, str], trips: str, trace: str,
                 alerts: Queue, functions: dict[str, Function] | None = None, stack: str = ""):
        self.deployment = deployment
        self.tables = tables          # service -> bookings table (in step order)
        self.trips = trips            # trip id -> final status
        self.trace = trace            # one record per handler run
        self.alerts = alerts          # compensations that need a human
        self.functions = functions if functions is not None else {}
        self.stack = stack            # the stack's name when deployed from the template, else ""

    def __repr__(self) -> str:
        return f"<{self.name} saga over {', '.join(self.tables)}{' (stack ' + self.stack + ')' if self.stack else ''}>"

    # ------------------------------------------------------------------ the template
    @classmethod
    def template(cls, steps: tuple[str, ...] = SERVICES) -> dict:
        """The style's SAM template for these steps (ocbook.templates)."""
        raise NotImplementedError

    @classmethod
    def companions(cls, steps: tuple[str, ...] = SERVICES) -> dict[str, str]:
        """Files the template refers to (file name -> text), written next to it; none by default."""
        return {}

    # ------------------------------------------------------------------ deploying
    @classmethod
    def deploy(cls, deployment: Deployment, steps: tuple[str, ...] = SERVICES, *, stack: bool = False,
               progress: bool = True, **options) -> Style:
        """Deploy the saga with boto3 calls (options are the style's own), or its template as a stack."""
        if stack:
            if options:
                raise ValueError(f"{cls.name}: {', '.join(options)} cannot be set on the template's stack; "
                                 "deploy without stack=True to use them")
            return cls.deploy_stack(deployment, steps, progress)
        saga = cls(deployment, {s: deployment.table(f"{s}-bookings") for s in steps}, deployment.table("trips"),
                   deployment.table("trace", key="pk", sort="sk"), deployment.queue("alerts"))
        saga.build(**options)
        return saga

    def build(self, **options) -> None:
        """Create the style's own resources with boto3, over the storage already made."""
        raise NotImplementedError

    @classmethod
    def deploy_stack(cls, deployment: Deployment, steps: tuple[str, ...] = SERVICES, progress: bool = True) -> Style:
        """Deploy the style's SAM template (generated for these steps) as a CloudFormation stack on the engine."""
        import yaml

        folder = Path(tempfile.mkdtemp(prefix=f"ocbook-{cls.name}-"))
        target = folder / f"{cls.template_name}.yaml"
        target.write_text(yaml.safe_dump(cls.template(steps), sort_keys=False))
        for filename, text in cls.companions(steps).items():
            (folder / filename).write_text(text)
        outputs = deployment.stack("saga", target, progress=progress)
        return cls.from_stack(deployment, outputs, steps, stack_name=list(deployment.stacks)[-1])

    @classmethod
    def from_stack(cls, deployment: Deployment | None, outputs: dict[str, str], steps: tuple[str, ...] = SERVICES,
                   stack_name: str = "") -> Style:
        """The saga a stack of the style's template deployed, from the stack's outputs."""
        from ocbook.clients import ACCOUNT, REGION

        alerts = Queue(outputs["AlertsQueueName"], outputs["AlertsQueueUrl"], outputs["AlertsQueueArn"])
        functions = {}
        for service in (*steps, "trip"):
            name = outputs.get(f"{service.capitalize()}FunctionName")
            if name:
                functions[service] = Function(name, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
        saga = cls(deployment, {s: outputs[f"{s.capitalize()}Table"] for s in steps}, outputs["TripsTable"],
                   outputs["TraceTable"], alerts, functions, stack=stack_name or "a stack")
        saga.adopt(outputs)
        return saga

    def adopt(self, outputs: dict[str, str]) -> None:
        """Take the style's own resources from a stack's outputs."""

    # ------------------------------------------------------------------ running trips
    def request(self, trip: dict) -> None:
        """Start a trip; requesting the same trip again is a duplicate the saga must absorb."""
        raise NotImplementedError

    def status(self, trip_id: str) -> str | None:
        """The trip's final status, or None while it runs (every style records it in the trips table)."""
        item = client("dynamodb").get_item(TableName=self.trips, Key={"pk": {"S": trip_id}},
                                           ConsistentRead=True).get("Item")
        return item["status"]["S"] if item else None

    def wait_final(self, trip_ids: list[str], timeout: float = 90) -> dict[str, str]:
        """Wait until every trip has a final status; return them."""
        def finals() -> dict[str, str]:
            return {i["pk"]: i["status"] for i in wait.items(self.trips) if i["pk"] in trip_ids}

        return wait.until(finals, lambda found: len(found) == len(trip_ids), timeout,
                          what=f"{len(trip_ids)} trip(s) to reach a final status")

    def work(self, trip_id: str, records: pd.DataFrame, requests: int) -> dict:
        """What one trip cost: {unit: count} for the style's units, and "finished" (epoch seconds, or None)
        when the saga itself recorded the trip's end. `records` are the trip's trace records."""
        raise NotImplementedError

    def function_runs(self, runs: pd.Series, invocations: int) -> pd.Series:
        """Invocations per function (keys of self.functions) of one trip, from its handler runs per service
        (`runs`) and its invocations counted by work(): one function per service, one invocation per run."""
        return runs

    def billed(self, trip_id: str, runs: pd.Series, requests: int) -> dict:
        """The style's own billed units of one trip beyond the services' (see ocbook.cost): the keys of
        cost.BILLED it adds to, e.g. state transitions or the writes of a coordinator. `runs` = handler runs
        per service of the trip, `requests` = how many times the trip was requested."""
        return {}

    def deliver_late(self, trip: dict, records: pd.DataFrame) -> str:
        """Send a closed trip one of its early messages again (a late, reordered delivery); say what happened."""
        raise NotImplementedError

    # ------------------------------------------------------------------ changing it
    def add_step(self, step: str) -> None:
        """Add a booking step after the last one, the way this style has to: for real, on the engine."""
        raise NotImplementedError

    def wiring(self) -> dict[str, str]:
        """What defines the saga's flow, read back from the engine: one entry per artefact, as JSON text."""
        raise NotImplementedError

    def refuse_on_stack(self, what: str) -> None:
        """A stack's resources belong to CloudFormation: changing them with boto3 would drift (and on the engine
        an updated stack keeps its rules' old patterns: README, known differences)."""
        if self.stack:
            raise RuntimeError(f"{self!r} was deployed from its template: {what} by deploying the template for the "
                               f"new steps (deploy(deployment, steps, stack=True)), not by editing its resources")
