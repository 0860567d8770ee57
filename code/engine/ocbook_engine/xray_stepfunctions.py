"""X-Ray for Step Functions executions whose state machine has tracing enabled, as AWS records them.

AWS (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-xray-tracing.html): an execution of a
state machine with ``tracingConfiguration.enabled`` sends a segment (origin
``AWS::StepFunctions::StateMachine``), continuing the trace of the ``StartExecution`` request's header if it
has one; a Lambda task is a subsegment, and the Lambda invocation carries the trace on with that subsegment
as parent. LocalStack keeps the request's header on the execution (``DescribeExecution.traceHeader``) but its
tasks invoke Lambda without one. Here: the execution's trace is registered when it starts, each Lambda task
(``arn:aws:states:::lambda:invoke`` or a function ARN as resource) invokes with ``X-Amzn-Trace-Id`` naming its
subsegment, and the execution's segment, with those subsegments, is stored when it ends. Other task types are
not recorded. ``UpdateStateMachine`` with ``tracingConfiguration`` turns tracing on or off (LocalStack ignored
it, and refused an update that changed only that).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from datetime import datetime, timezone

from ocbook_engine import guard
from ocbook_engine.xray import store

LOG = logging.getLogger(__name__)

_traces: dict[str, dict] = {}       # execution ARN -> its trace: root, segment id, parent, start, subsegments
_current = threading.local()        # the trace header of the Lambda task this thread is invoking


def tracing_enabled(execution) -> bool:
    """Whether the execution's state machine has X-Ray tracing enabled."""
    config = getattr(execution.state_machine, "tracing_config", None) or {}
    return bool(config.get("enabled"))


def begin(execution) -> None:
    """Register a traced execution's trace when it starts."""
    from localstack.utils.xray.trace_header import TraceHeader

    header = execution.trace_header or TraceHeader()
    if isinstance(header, str):  # StartExecution's traceHeader parameter arrives as text
        header = TraceHeader.from_header_str(header)
    if str(header.sampled) == "0":
        return
    header.ensure_root_exists()
    _traces[execution.exec_arn] = {"root": header.root, "id": secrets.token_hex(8), "parent": header.parent,
                                   "start": time.time(), "subsegments": [], "lock": threading.Lock()}


def finish(execution) -> None:
    """Store the execution's segment (with its Lambda task subsegments) when it ends."""
    trace = _traces.pop(execution.exec_arn, None)
    if trace is None:
        return
    status = str(getattr(execution.exec_status, "value", execution.exec_status))
    doc = {"name": execution.state_machine.name, "id": trace["id"], "trace_id": trace["root"],
           "start_time": trace["start"], "end_time": time.time(), "origin": "AWS::StepFunctions::StateMachine",
           "aws": {"execution_arn": execution.exec_arn}, "subsegments": trace["subsegments"]}
    if trace["parent"]:
        doc["parent_id"] = trace["parent"]
    if status in ("FAILED", "TIMED_OUT", "ABORTED"):
        doc["fault"] = True
    account, region = execution.exec_arn.split(":")[4], execution.exec_arn.split(":")[3]
    problem = store(account, region, json.dumps(doc))
    if problem:
        LOG.warning("Step Functions segment of %s not stored: %s", execution.exec_arn, problem)


def execution_arn(env) -> str | None:
    """The ARN of the execution an evaluation environment belongs to."""
    try:
        return env.states.context_object.context_object_data["Execution"]["Id"]
    except (AttributeError, KeyError, TypeError):
        return None


def add_trace_header(params, **_) -> None:
    """botocore hook: put this thread's task trace header on the Lambda invoke request."""
    header = getattr(_current, "header", None)
    if header:
        params["headers"]["X-Amzn-Trace-Id"] = header


def patch_stepfunctions_tracing() -> bool:
    """Trace executions of state machines with tracing enabled, and carry the trace to their Lambda tasks."""
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_task import lambda_eval_utils
    from localstack.services.stepfunctions.backend import execution as execution_module
    from localstack.services.stepfunctions.provider import StepFunctionsProvider

    if not guard.applies("Step Functions X-Ray", "executions send no segments, Lambda tasks start new traces"):
        return False
    if getattr(lambda_eval_utils, "_ocbook_traced", False):
        return True
    original_start = execution_module.Execution.start
    original_terminated = execution_module.BaseExecutionWorkerCommunication.terminated
    original_execute = lambda_eval_utils.execute_lambda_function_integration
    original_client = lambda_eval_utils.boto_client_for

    def start(self):
        if tracing_enabled(self):
            begin(self)
        return original_start(self)

    def terminated(self):
        try:
            return original_terminated(self)
        finally:
            finish(self.execution)

    def execute_lambda_function_integration(env, parameters, region, state_credentials):
        trace = _traces.get(execution_arn(env) or "")
        if trace is None:
            return original_execute(env, parameters, region, state_credentials)
        sub = {"id": secrets.token_hex(8), "name": "Lambda", "namespace": "aws", "start_time": time.time(),
               "aws": {"operation": "Invoke", "function_name": str(parameters.get("FunctionName"))}}
        _current.header = f"Root={trace['root']};Parent={sub['id']};Sampled=1"
        try:
            return original_execute(env, parameters, region, state_credentials)
        except Exception:
            sub["fault"] = True
            raise
        finally:
            _current.header = None
            sub["end_time"] = time.time()
            with trace["lock"]:
                trace["subsegments"].append(sub)

    def boto_client_for(service, region, state_credentials):
        client = original_client(service=service, region=region, state_credentials=state_credentials)
        if service == "lambda" and not getattr(client, "_ocbook_traced", False):
            client.meta.events.register("before-call.lambda.Invoke", add_trace_header)
            client._ocbook_traced = True
        return client

    original_update = StepFunctionsProvider.update_state_machine

    def update_state_machine(self, context, state_machine_arn, *args, tracing_configuration=None, **kwargs):
        # LocalStack refuses an update that only turns tracing on and ignores tracingConfiguration otherwise.
        machine = self.get_store(context).state_machines.get(state_machine_arn)
        if tracing_configuration is None or machine is None:
            return original_update(self, context, state_machine_arn, *args, **kwargs)
        machine.tracing_config = tracing_configuration
        if any(args) or any(kwargs.get(k) for k in ("definition", "role_arn", "logging_configuration")):
            return original_update(self, context, state_machine_arn, *args, **kwargs)
        return {"updateDate": datetime.now(tz=timezone.utc)}

    StepFunctionsProvider.update_state_machine = update_state_machine
    execution_module.Execution.start = start
    execution_module.BaseExecutionWorkerCommunication.terminated = terminated
    lambda_eval_utils.execute_lambda_function_integration = execute_lambda_function_integration
    lambda_eval_utils.boto_client_for = boto_client_for
    lambda_eval_utils._ocbook_traced = True
    return True
