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
    # deploy() makes its template's stack unless told otherwise; a style whose stack path (add_step included)
    # has not been checked on the engine keeps boto3 by default
    stack_by_default: ClassVar[bool] = False

    def __init__(self, deployment: Deployment | None, tables: dict[str, str], trips: str, trace: str,
                 alerts: Queue, functions: dict[str, Function] | None = None, stack: str = ""):
        self.deployment = deployment
        self.tables = tables          # service -> bookings table (in step order)
        self.trips = trips            # trip id -> final status
        self.trace = trace            # one record per handler run
        self.alerts = alerts          # compensations that need a human
        self.functions = functions if functions is not None else {}
        self.stack = stack            # the stack's name when deployed from the template, else ""
        self.options: dict = {}       # the style's options the template was generated with

    def __repr__(self) -> str:
        return f"<{self.name} saga over {', '.join(self.tables)}{' (stack ' + self.stack + ')' if self.stack else ''}>"

    # ------------------------------------------------------------------ the template
    @classmethod
    def template(cls, steps: tuple[str, ...] = SERVICES, **options) -> dict:
        """The style's SAM template for these steps and the style's options (ocbook.templates)."""
        raise NotImplementedError

    @classmethod
    def companions(cls, steps: tuple[str, ...] = SERVICES, **options) -> dict[str, str]:
        """Files the template refers to (file name -> text), written next to it; none by default."""
        return {}

    @classmethod
    def files(cls, steps: tuple[str, ...] = SERVICES, **options) -> Path:
        """The template and its companions written to a new folder, as `sam deploy` would read them; the
        template's path."""
        import yaml

        folder = Path(tempfile.mkdtemp(prefix=f"ocbook-{cls.name}-"))
        target = folder / f"{cls.template_name}.yaml"
        target.write_text(yaml.safe_dump(cls.template(steps, **options), sort_keys=False))
        for filename, text in cls.companions(steps, **options).items():
            (folder / filename).write_text(text)
        return target

    # ------------------------------------------------------------------ deploying
    @classmethod
    def deploy(cls, deployment: Deployment, steps: tuple[str, ...] = SERVICES, *, stack: bool | None = None,
               progress: bool = True, **options) -> Style:
        """Deploy the saga: its SAM template (for these steps and options) as a CloudFormation stack, the
        artefact one would deploy on AWS; or, with stack=False, the same resources one boto3 call at a time
        (stack=None: the style's stack_by_default)."""
        if cls.stack_by_default if stack is None else stack:
            return cls.deploy_stack(deployment, steps, progress, **options)
        saga = cls(deployment, {s: deployment.table(f"{s}-bookings") for s in steps}, deployment.table("trips"),
                   deployment.table("trace", key="pk", sort="sk"), deployment.queue("alerts"))
        saga.build(**options)
        return saga

    def build(self, **options) -> None:
        """Create the style's own resources with boto3, over the storage already made."""
        raise NotImplementedError

    @classmethod
    def deploy_stack(cls, deployment: Deployment, steps: tuple[str, ...] = SERVICES, progress: bool = True,
                     **options) -> Style:
        """Deploy the style's SAM template (generated for these steps) as a CloudFormation stack on the engine."""
        variant = ", ".join(f"{key}={value}" for key, value in options.items())
        label = cls.template_name + (f" ({variant})" if variant else "")  # the name the reader knows it by
        outputs = deployment.stack("saga", cls.files(steps, **options), progress=progress, label=label)
        saga = cls.from_stack(deployment, outputs, steps, stack_name=list(deployment.stacks)[-1])
        saga.options = options
        return saga

    @classmethod
    def from_stack(cls, deployment: Deployment | None, outputs: dict[str, str], steps: tuple[str, ...] = SERVICES,
                   stack_name: str = "") -> Style:
        """The saga a stack of the style's template deployed, from the stack's outputs."""
        alerts = Queue(outputs["AlertsQueueName"], outputs["AlertsQueueUrl"], outputs["AlertsQueueArn"])
        saga = cls(deployment, {}, outputs["TripsTable"], outputs["TraceTable"], alerts, stack=stack_name or "a stack")
        saga.take(outputs, steps)
        return saga

    def take(self, outputs: dict[str, str], steps: tuple[str, ...]) -> None:
        """Read the saga's tables, functions and own resources from its stack's outputs."""
        from ocbook.clients import ACCOUNT, REGION

        self.tables = {s: outputs[f"{s.capitalize()}Table"] for s in steps}
        for service in (*steps, "trip"):
            name = outputs.get(f"{service.capitalize()}FunctionName")
            if name:
                self.functions[service] = Function(name, f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
        self.adopt(outputs)

    def adopt(self, outputs: dict[str, str]) -> None:
        """Take the style's own resources from a stack's outputs."""

    def restack(self, step: str) -> None:
        """Add a step to a stack-deployed saga: update its stack to the template for one more step (what
        `sam deploy` of the changed template does on AWS)."""
        steps = (*self.tables, step)
        outputs = self.deployment.update_stack(self.stack, self.files(steps, **self.options), progress=False)
        self.take(outputs, steps)

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

    def trace_on(self) -> None:
        """Turn on X-Ray tracing of what the style runs besides its functions (ocbook.xray sets the functions')."""

    def request_traced(self, trip: dict, header: str) -> tuple[dict, str]:
        """Start a trip carrying an X-Ray trace header: (the client's subsegment for the call, an execution ARN
        or "")."""
        raise NotImplementedError(f"a traced request is not built for the {self.name} style")

    def deliver_late(self, trip: dict, records: pd.DataFrame) -> str:
        """Send a closed trip one of its early messages again (a late, reordered delivery); say what happened."""
        raise NotImplementedError

    # ------------------------------------------------------------------ changing it
    def add_step(self, step: str) -> None:
        """Add a booking step after the last one, the way this style has to: for real, on the engine (a stack
        update when the saga was deployed from its template, restack())."""
        raise NotImplementedError

    def wiring(self) -> dict[str, str]:
        """What defines the saga's flow, read back from the engine: one entry per artefact, as JSON text."""
        raise NotImplementedError

    def refuse_on_stack(self, what: str) -> None:
        """For a style without restack support: a stack's resources belong to CloudFormation, and changing them
        with boto3 would drift."""
        if self.stack:
            raise RuntimeError(f"{self!r} was deployed from its template: {what} by deploying the template for the "
                               f"new steps (deploy(deployment, steps, stack=True)), not by editing its resources")
