"""Lambda durable functions on the engine, assembled from AWS's own local runner.

AWS publishes ``aws-durable-execution-sdk-python-testing`` (Apache-2.0): a local runner whose ``Executor``
keeps durable executions (store, checkpoint processor, timers on a ``Scheduler``, callbacks, history) and
drives each one by calling Lambda ``Invoke`` on an endpoint with the ``X-Dex-Handler-Invoke`` marker, and
whose web layer maps the durable execution APIs (``/2025-12-01/...``, as in botocore's Lambda model) to it.
We reuse all of that inside the engine process:

- the runner's ``Executor``, ``CheckpointProcessor``, in-memory store, ``Scheduler`` and ``LambdaInvoker``
  (pointed at the engine's own gateway), built as its ``WebRunner.start`` builds them;
- its routes and endpoint handlers, served from the engine's gateway (``serve``), so the function's SDK
  (``CheckpointDurableExecution``, ``GetDurableExecutionState``) and the book (``GetDurableExecution``,
  ``...History``, callbacks, ``StopDurableExecution``, ``ListDurableExecutionsByFunction``) reach it at
  the ordinary Lambda endpoint.

What we add: timers on the engine's time scale (``put_timers_on_the_clock``), the functions' ``DurableConfig``
(LocalStack ignores it), and ``Invoke`` of a durable function starting an execution (``start``), both in
``lambda_provider.py``.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import threading
from types import SimpleNamespace

from localstack.runtime import hooks

from ocbook_engine import clock

LOG = logging.getLogger(__name__)
API_PREFIX = "/2025-12-01/"
# AWS's limits and default (DurableConfig in the CreateFunction API reference and SAM's DurableConfig page).
DEFAULT_EXECUTION_TIMEOUT = 86400
MAX_EXECUTION_TIMEOUT = 31_622_400  # 366 days
DEFAULT_RETENTION_DAYS = 14
MAX_RETENTION_DAYS = 90
# Durable functions are offered on these managed runtimes (of the ones the engine runs).
DURABLE_RUNTIMES = ("python3.13",)
CONFIGS: dict[str, dict] = {}  # unqualified function ARN -> its DurableConfig
_LOCK = threading.Lock()
_SERVICE = None


def put_timers_on_the_clock(scale: float) -> None:
    """Waits and step retry delays last their length x the time scale: the runner's checkpoint processors
    compute a wait's scheduled end and a retry's next attempt as now + timedelta(seconds=N); here that
    timedelta is N x scale. The history keeps the length the function asked for (WaitStarted's Duration,
    RetryDetails' NextAttemptDelaySeconds) and real timestamps, so the scheduled end shows what the engine
    waited. (A virtual clock like the runner's SkipClock would keep AWS's timestamps instead, but it drifts
    ahead of real time by every wait skipped, which breaks latencies measured against the wall clock.)
    """
    from aws_durable_execution_sdk_python_testing.checkpoint.processors import base, step, wait

    def scaled(*args, **kwargs) -> datetime.timedelta:
        return datetime.timedelta(*args, **kwargs) * scale

    for module in (base, step, wait):
        module.timedelta = scaled


def config_problem(config: dict) -> str | None:
    """What is wrong with a DurableConfig, as CreateFunction checks it (None if nothing)."""
    timeout, retention = config.get("ExecutionTimeout"), config.get("RetentionPeriodInDays", DEFAULT_RETENTION_DAYS)
    if not isinstance(timeout, int) or not 1 <= timeout <= MAX_EXECUTION_TIMEOUT:
        return f"DurableConfig.ExecutionTimeout must be 1 to {MAX_EXECUTION_TIMEOUT} seconds, got {timeout}"
    if not isinstance(retention, int) or not 1 <= retention <= MAX_RETENTION_DAYS:
        return f"DurableConfig.RetentionPeriodInDays must be 1 to {MAX_RETENTION_DAYS} days, got {retention}"
    return None


class DurableService:
    """AWS's local runner, wired as its WebRunner wires it, invoking functions through the engine's gateway."""

    def __init__(self, endpoint: str, region: str):
        from aws_durable_execution_sdk_python_testing.checkpoint.processor import CheckpointProcessor
        from aws_durable_execution_sdk_python_testing.clock import RealClock
        from aws_durable_execution_sdk_python_testing.executor import Executor
        from aws_durable_execution_sdk_python_testing.invoker import LambdaInvoker
        from aws_durable_execution_sdk_python_testing.scheduler import Scheduler
        from aws_durable_execution_sdk_python_testing.stores.memory import InMemoryExecutionStore
        from aws_durable_execution_sdk_python_testing.web.routes import Router
        from aws_durable_execution_sdk_python_testing.web.server import WebServer
        from aws_durable_execution_sdk_python_testing.worker.registry import ExecutionRegistry

        self.clock = RealClock()
        put_timers_on_the_clock(clock.durable_scale())
        self.names: dict[tuple[str, str], tuple[str | None, str]] = {}  # (function, name) -> (execution, payload)
        self.store = InMemoryExecutionStore()
        self.scheduler = Scheduler()
        invoker = LambdaInvoker(lambda_client(endpoint, region), endpoint_url=endpoint, region_name=region)
        registry = ExecutionRegistry(self.store, self.scheduler)
        processor = CheckpointProcessor(self.store, self.scheduler, clock=self.clock)
        self.executor = Executor(store=self.store, scheduler=self.scheduler, invoker=invoker,
                                 checkpoint_processor=processor, registry=registry, clock=self.clock,
                                 region=region)
        processor.add_execution_observer(self.executor)
        processor.set_chained_invoke_preflight(self.executor.preflight_chained_invoke)
        self.scheduler.start()
        self.router = Router()
        # The runner's own table of route -> handler (it reads only `.executor` from the server).
        self.handlers = WebServer._create_endpoint_handlers(SimpleNamespace(executor=self.executor))

    def handle(self, method: str, path: str, query: dict, headers: dict, body: bytes):
        """One durable execution API request through the runner's router and handlers: (status, headers, body)."""
        from aws_durable_execution_sdk_python_testing.exceptions import (
            AwsApiException,
            ServiceException,
            UnknownRouteError,
        )
        from aws_durable_execution_sdk_python_testing.web.models import HTTPRequest, HTTPResponse
        from aws_durable_execution_sdk_python_testing.web.routes import BytesPayloadRoute

        try:
            route = self.router.find_route(path, method)
            handler = self.handlers.get(type(route))
            if handler is None:
                raise UnknownRouteError(method, path)
            if isinstance(route, BytesPayloadRoute):
                request = HTTPRequest.from_raw_bytes(body_bytes=body, method=method, path=route, headers=headers,
                                                    query_params=query)
            else:
                request = HTTPRequest.from_bytes(body_bytes=body, operation_name=None, method=method, path=route,
                                                headers=headers, query_params=query)
            response = handler.handle(route, request)
        except Exception as error:  # noqa: BLE001 (the runner's server answers every failure this way)
            if not isinstance(error, AwsApiException):
                LOG.exception("durable execution API %s %s failed", method, path)
            response = HTTPResponse.create_error_from_exception(
                error if isinstance(error, AwsApiException) else ServiceException(str(error)))
        return response.status_code, response.headers, response.body_to_bytes() if response.body else b""

    def start(self, function_arn: str, qualifier: str, payload: str, name: str | None, tenant_id: str | None) -> str:
        """Start a durable execution of a function (what Invoke of a durable function does); its ARN."""
        from aws_durable_execution_sdk_python_testing.model import StartDurableExecutionInput

        config = CONFIGS.get(function_arn, {})
        if name:  # the execution name is an idempotency key (AWS: "Idempotency" of durable functions)
            with _LOCK:
                known = self.names.get((function_arn, name))
                if known is None:
                    self.names[(function_arn, name)] = (None, payload)
            if known is not None:
                return self.already_started(function_arn, name, payload, known)
        parts = function_arn.split(":")
        start = StartDurableExecutionInput(
            account_id=parts[4], function_name=parts[6], function_qualifier=qualifier,
            execution_name=name or os.urandom(16).hex(),
            execution_timeout_seconds=int(config.get("ExecutionTimeout", DEFAULT_EXECUTION_TIMEOUT)),
            execution_retention_period_days=int(config.get("RetentionPeriodInDays", DEFAULT_RETENTION_DAYS)),
            tenant_id=tenant_id, input=payload)
        arn = self.executor.start_execution(start).execution_arn
        if name:
            self.names[(function_arn, name)] = (arn, payload)
        return arn

    def already_started(self, function_arn: str, name: str, payload: str, known: tuple) -> str:
        """A start under a known name: the running execution if the payload is the same, else refused."""
        from localstack.aws.api.lambda_ import DurableExecutionAlreadyStartedException

        arn, first_payload = known
        running = arn is not None and self.executor.get_execution_details(arn).status == "RUNNING"
        if running and payload == first_payload:
            return arn
        why = "is running with another payload" if running else "has already run"
        raise DurableExecutionAlreadyStartedException(
            f"the durable execution named {name} of {function_arn} {why}", Type="User")

    def outcome(self, arn: str, timeout: float) -> dict | None:
        """Wait up to ``timeout`` s for an execution to end; GetDurableExecution's answer, None if still running."""
        if not self.executor.wait_until_complete(arn, timeout):
            return None
        details = self.executor.get_execution_details(arn)
        error = details.error.to_dict() if details.error else None
        return {"Status": details.status, "Result": details.result, "Error": error}

    def stop(self) -> None:
        """End the runner's threads (engine shutdown)."""
        self.executor.shutdown()
        self.scheduler.stop()


@hooks.on_infra_shutdown()
def stop_durable_service() -> None:
    """End the runner's scheduler and pools with the engine (else its threads hold the exit up)."""
    with _LOCK:
        if _SERVICE is not None:
            _SERVICE.stop()


def lambda_client(endpoint: str, region: str):
    """The runner's Lambda client (its read timeout, no retries, the handler marker), with the engine's keys."""
    import boto3
    from aws_durable_execution_sdk_python_testing.invoker import (
        DEFAULT_LAMBDA_READ_TIMEOUT_SECONDS,
        _add_invocation_marker,
    )
    from botocore.config import Config

    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=region)
    client = session.client("lambda", endpoint_url=endpoint, config=Config(
        read_timeout=DEFAULT_LAMBDA_READ_TIMEOUT_SECONDS, retries={"max_attempts": 0}))
    client.meta.events.register("before-call.lambda.Invoke", _add_invocation_marker)
    return client


def service() -> DurableService:
    """The engine's one durable execution service, made on first use."""
    global _SERVICE
    with _LOCK:
        if _SERVICE is None:
            from localstack import config

            endpoint = f"http://{config.GATEWAY_LISTEN[0].host}:{config.GATEWAY_LISTEN[0].port}"
            _SERVICE = DurableService(endpoint, os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
            LOG.info("durable executions: AWS's local runner, invoking through %s, time scale %s",
                     endpoint, clock.durable_scale())
        return _SERVICE


def serve(request, path: str = ""):
    """The gateway's route for ``/2025-12-01/...``: the durable execution APIs of Lambda."""
    from localstack.http import Response
    from rolo.request import get_raw_path

    query = {key: request.args.getlist(key) for key in request.args}
    # The raw path: an execution ARN holds "/", which a client sends as %2F inside one path segment.
    status, headers, body = service().handle(request.method, get_raw_path(request), query, dict(request.headers),
                                             request.get_data())
    headers = {k: v for k, v in headers.items() if k.lower() != "content-length"}
    headers.setdefault("Content-Type", "application/json")
    return Response(body, status, headers=headers)


class _UtilWithDurableConfig:
    """LocalStack's CloudFormation utilities, as its AWS::Lambda::Function resource sees them, except that the
    properties it passes on to CreateFunction include DurableConfig (it drops it: the function would not be
    durable, and SAM's DurableConfig would have no effect)."""

    def __init__(self, util):
        self._util = util

    def __getattr__(self, name):
        return getattr(self._util, name)

    def select_attributes(self, obj, attributes):
        """The CreateFunction arguments (the list with Handler and Runtime) gain DurableConfig."""
        if "Handler" in attributes and "Runtime" in attributes:
            attributes = [*attributes, "DurableConfig"]
        return self._util.select_attributes(obj, attributes)


def patch_cloudformation() -> None:
    """Let a stack's AWS::Lambda::Function (and SAM's AWS::Serverless::Function) create a durable function."""
    from localstack.services.lambda_.resource_providers import aws_lambda_function

    if not isinstance(aws_lambda_function.util, _UtilWithDurableConfig):
        aws_lambda_function.util = _UtilWithDurableConfig(aws_lambda_function.util)


def error_payload(error: dict | None) -> bytes:
    """A failed execution's error as Lambda's invoke error payload."""
    error = error or {}
    return json.dumps({"errorType": error.get("ErrorType", "Error"),
                       "errorMessage": error.get("ErrorMessage", ""),
                       "stackTrace": error.get("StackTrace") or []}).encode()
