"""The orchestrated saga: one function per service and a Step Functions state machine that drives them."""

from __future__ import annotations

import json
from typing import ClassVar

import pandas as pd

from ocbook import stepfunctions
from ocbook.clients import client
from ocbook.deploy import Function, Queue
from ocbook.styles.base import SERVICES, Style


class Orchestrated(Style):
    """A state machine books each step in turn and compensates in reverse order (chapter 4)."""

    name: ClassVar[str] = "orchestrated"
    template_name: ClassVar[str] = "saga-orchestrated"
    units: ClassVar[tuple[str, ...]] = ("transitions",)   # Standard workflows are billed per state transition
    stack_by_default: ClassVar[bool] = True  # checked on the engine: chapters 4-6, the harness, add_step

    state_machine: str = ""   # its ARN
    definition: dict          # the definition deployed (Amazon States Language)
    approvals: Queue | None = None  # where trips over the approval limit wait for a human (approvals=True)

    def build(self, approvals: bool = False, type: str = "STANDARD", jsonata: bool = False,
              pivot: str | None = None) -> None:
        """A function per service and the state machine (JSONata if asked; an approval step and its queue if
        asked; the steps after a pivot retried forward)."""
        self.options = {"approvals": approvals, "type": type, "jsonata": jsonata, "pivot": pivot}
        for service in self.tables:
            self.service_function(service)
        if approvals:
            self.approvals = self.deployment.queue("approvals")
        self.definition = self.definition_for()
        self.state_machine = self.deployment.state_machine("trip-saga", self.definition, type=type)

    def service_function(self, service: str) -> Function:
        """The Lambda function of one service."""
        self.functions[service] = self.deployment.function(
            f"{service}-svc", "booking.orchestrated.handler", packages=("booking",),
            env={"SERVICE": service, "TABLE": self.tables[service], "TRACE_TABLE": self.trace})
        return self.functions[service]

    def definition_for(self) -> dict:
        """The saga definition over the saga's steps (in the order of its tables), JSONPath or JSONata."""
        from booking.definition import saga as jsonpath_definition
        from booking.definition import saga_jsonata as jsonata_definition

        steps = tuple(self.tables)
        build = jsonata_definition if self.options.get("jsonata") else jsonpath_definition
        return build({s: self.functions[s].arn for s in steps}, self.trips, self.alerts.url,
                     self.approvals.url if self.approvals else None, steps=steps, pivot=self.options.get("pivot"))

    @classmethod
    def template(cls, steps: tuple[str, ...] = SERVICES, **options) -> dict:
        """templates/saga-orchestrated.yaml for these steps (options: approvals, type, jsonata, pivot)."""
        from ocbook import templates

        return templates.saga_orchestrated(steps, **options)

    @classmethod
    def companions(cls, steps: tuple[str, ...] = SERVICES, **options) -> dict[str, str]:
        """The state machine's definition file (DefinitionUri)."""
        from ocbook import templates

        definition = templates.saga_definition(steps, options.get("approvals", False), options.get("jsonata", False),
                                               options.get("pivot"))
        return {"saga-orchestrated.asl.json": json.dumps(definition, indent=2) + "\n"}

    def adopt(self, outputs: dict[str, str]) -> None:
        """The state machine (and the approval queue, if the template has one) from the stack's outputs."""
        self.state_machine = outputs["StateMachineArn"]
        if "ApprovalsQueueUrl" in outputs:
            self.approvals = Queue(outputs["ApprovalsQueueName"], outputs["ApprovalsQueueUrl"],
                                   outputs["ApprovalsQueueArn"])
        self.definition = json.loads(client("stepfunctions").describe_state_machine(
            stateMachineArn=self.state_machine)["definition"])

    def request(self, trip: dict) -> None:
        """Start an execution named after the trip: a Standard machine starts a name once, so a duplicate
        request is absorbed by Step Functions itself."""
        stepfunctions.start(self.state_machine, trip, name=trip["trip_id"])

    def execution_arn(self, trip_id: str) -> str:
        """The ARN of the execution named after a trip."""
        return f"{self.state_machine.replace(':stateMachine:', ':execution:')}:{trip_id}"

    def work(self, trip_id: str, records: pd.DataFrame, requests: int) -> dict:
        """State transitions of the trip's execution; it finished when its history ends."""
        history = stepfunctions.events(self.execution_arn(trip_id))
        return {"finished": history[-1]["timestamp"].timestamp(),
                "transitions": sum(e["type"].endswith("StateEntered") for e in history)}

    def billed(self, trip_id: str, runs: pd.Series, requests: int) -> dict:
        """Billed transitions (states entered plus retries) from the history, the same run priced as an Express
        workflow, and the state machine's own PutItem of the trip's status."""
        from ocbook import cost

        history = stepfunctions.events(self.execution_arn(trip_id))
        kinds = [e["type"] for e in history]
        tasks = sum(k == "TaskStateEntered" for k in kinds)
        scheduled = sum(k in ("LambdaFunctionScheduled", "TaskScheduled") for k in kinds)
        duration = (history[-1]["timestamp"] - history[0]["timestamp"]).total_seconds()
        return {"transitions_billed": sum(k.endswith("StateEntered") for k in kinds) + max(0, scheduled - tasks),
                **cost.express_units(duration, requests), "ddb_writes": 1}

    def trace_on(self) -> None:
        """Tracing on for the state machine: its executions send segments and pass the trace to their tasks."""
        client("stepfunctions").update_state_machine(stateMachineArn=self.state_machine,
                                                     tracingConfiguration={"enabled": True})

    def request_traced(self, trip: dict, header: str) -> tuple[dict, str]:
        """StartExecution with the trace header."""
        arn = client("stepfunctions").start_execution(stateMachineArn=self.state_machine, input=json.dumps(trip),
                                                      traceHeader=header)["executionArn"]
        return {"name": "StepFunctions", "aws": {"operation": "StartExecution"}}, arn

    def deliver_late(self, trip: dict, records: pd.DataFrame) -> str:
        """The trip's request again: an execution name starts once, so Step Functions refuses it."""
        sfn = client("stepfunctions")
        try:
            sfn.start_execution(stateMachineArn=self.state_machine, name=trip["trip_id"], input=json.dumps(trip))
        except sfn.exceptions.ExecutionAlreadyExists:
            return "request refused (ExecutionAlreadyExists)"
        return "request accepted"

    def add_step(self, step: str) -> None:
        """A table and a function for the step, then a new definition: the one artefact that knows the flow."""
        if self.stack:
            return self.restack(step)
        self.tables[step] = self.deployment.table(f"{step}-bookings")
        self.service_function(step)
        self.definition = self.definition_for()
        client("stepfunctions").update_state_machine(stateMachineArn=self.state_machine,
                                                     definition=json.dumps(self.definition))

    def wiring(self) -> dict[str, str]:
        """The deployed definition's states."""
        definition = json.loads(client("stepfunctions").describe_state_machine(
            stateMachineArn=self.state_machine)["definition"])
        return {f"state {name}": json.dumps(state, sort_keys=True) for name, state in definition["States"].items()}
