"""At engine start: the book's endpoints (clock, delivery faults) and Lambda's async retries on the one clock.

Endpoints, served on the gateway:
- ``GET /_ocbook/clock``: the time scale in force (``{"scale": 0.0166.., "setting": "OCBOOK_TIME_SCALE"}``);
  the book prints it, and its absence means "not the book's engine".
- ``GET /_ocbook/xray``: ``{"daemon_address": "127.0.0.1:port"}``, the UDP endpoint that takes segments the
  way the X-Ray daemon does (see ocbook_engine/xray.py).
- ``POST /_ocbook/events/faults`` with ``{"TargetArn", "ErrorCode", "StatusCode", "Count"}``: the next Count
  EventBridge deliveries to that target fail with that error, as a throttled or failing service would answer
  (used by the conformance tests; a stand-in for AWS Fault Injection Service).

Lambda: AWS waits about 1 minute before the first retry of a failed asynchronous invocation and 2 minutes
before the second (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html);
throttles and 5xx back off from 1 s to 5 min. LocalStack waits ``LAMBDA_RETRY_BASE_DELAY`` x attempt in
whole seconds through SQS ``DelaySeconds`` (and a queue worker that looks once a second), and the throttle
back-off at full length. The patch below makes both AWS's delays times the scale, to the millisecond, and
measures the event's age for ``MaximumEventAgeInSeconds`` in AWS seconds, so the engine makes the retries
AWS would make. It checks LocalStack's version and leaves LocalStack alone on any other.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from math import ceil

from localstack.runtime import hooks

from ocbook_engine import clock, guard

LOG = logging.getLogger("ocbook_engine.hooks")

AWS_ASYNC_RETRY_BASE = 60.0    # seconds: AWS waits ~1 min, then ~2 min
AWS_DEFAULT_EVENT_AGE = 6 * 60 * 60

_scaling = threading.local()


class ClockedQueue:
    """Lambda's internal event queue client, with every retry delay waited on the engine's clock."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    def send_message(self, QueueUrl, MessageBody, DelaySeconds=None, **kwargs):  # noqa: N803 (boto3 names)
        """Put the message back after the (scaled) delay, timed here rather than by the once-a-second worker."""
        delay = float(DelaySeconds or 0)
        if getattr(_scaling, "on", False):
            delay *= clock.scale()
        if delay <= 0:
            return self._client.send_message(QueueUrl=QueueUrl, MessageBody=MessageBody, **kwargs)
        timer = threading.Timer(delay, self._client.send_message,
                                kwargs={"QueueUrl": QueueUrl, "MessageBody": MessageBody, **kwargs})
        timer.daemon = True
        timer.start()
        return {}


def has_enough_time_for_retry(sqs_invocation, event_invoke_config) -> bool:
    """LocalStack's look-ahead, with the event's age and the next wait both in AWS seconds."""
    passed = (datetime.now() - sqs_invocation.invocation.invoke_time).total_seconds() / clock.scale()
    next_wait = (sqs_invocation.retries + 1) * AWS_ASYNC_RETRY_BASE
    max_age = AWS_DEFAULT_EVENT_AGE
    if event_invoke_config and event_invoke_config.maximum_event_age_in_seconds is not None:
        max_age = event_invoke_config.maximum_event_age_in_seconds
    return bool(max_age) and ceil(passed) + next_wait <= max_age


def patch_lambda_retry_clock() -> bool:
    """Put Lambda's async retry delays on the engine's clock; False (and a log line) on another LocalStack."""
    from localstack import config
    from localstack.services.lambda_.invocation import event_manager

    if not guard.applies("Lambda retry clock", "Lambda retry delays left at LAMBDA_RETRY_BASE_DELAY"):
        return False
    if getattr(event_manager, "_ocbook_clocked", False):
        return True
    config.LAMBDA_RETRY_BASE_DELAY_SECONDS = AWS_ASYNC_RETRY_BASE * clock.scale()
    original_client = event_manager.get_sqs_client
    event_manager.get_sqs_client = lambda version, client_config=None: ClockedQueue(
        original_client(version, client_config))
    event_manager.has_enough_time_for_retry = has_enough_time_for_retry
    throttled = event_manager.Poller.process_throttles_and_system_errors

    def process_throttles_and_system_errors(self, sqs_invocation, error):
        """LocalStack's throttle back-off (1 s doubling to 5 min), scaled."""
        _scaling.on = True
        try:
            return throttled(self, sqs_invocation, error)
        finally:
            _scaling.on = False

    event_manager.Poller.process_throttles_and_system_errors = process_throttles_and_system_errors
    event_manager._ocbook_clocked = True
    return True


class BookEndpoints:
    """The small HTTP surface the book reads from its own engine."""

    def clock(self, request):
        """The time scale in force."""
        from localstack.http import Response

        return Response(json.dumps({"scale": clock.scale(), "setting": clock.VARIABLE,
                                    "durable_scale": clock.durable_scale()}), 200,
                        mimetype="application/json")

    def faults(self, request):
        """Plan EventBridge delivery failures for one target."""
        from localstack.http import Response

        from ocbook_engine.events import FAULTS

        try:
            body = json.loads(request.get_data() or b"{}")
            FAULTS.plan(body["TargetArn"], str(body.get("ErrorCode", "ThrottlingException")),
                        int(body.get("StatusCode", 429)), int(body.get("Count", 1)), str(body.get("Message", "")))
        except (ValueError, KeyError, TypeError) as error:
            return Response(json.dumps({"error": f"expected TargetArn, ErrorCode, StatusCode, Count: {error}"}), 400,
                            mimetype="application/json")
        return Response(json.dumps({"planned": body["TargetArn"]}), 200, mimetype="application/json")

    def xray(self, request):
        """Where the engine's X-Ray daemon endpoint listens (UDP)."""
        from localstack.http import Response

        from ocbook_engine.xray import daemon_address

        return Response(json.dumps({"daemon_address": daemon_address()}), 200, mimetype="application/json")


@hooks.on_infra_start(priority=100)
def ocbook_lean_imports() -> None:
    """First of the hooks (the others import Step Functions and CloudFormation): leave out the EC2 code they load."""
    from ocbook_engine import lean

    lean.install()


@hooks.on_infra_start()
def ocbook_engine_start() -> None:
    """Serve the book's endpoints and put Lambda's retry delays on the clock."""
    from localstack.services.edge import ROUTER

    endpoints = BookEndpoints()
    ROUTER.add("/_ocbook/clock", endpoint=endpoints.clock, methods=["GET"])
    ROUTER.add("/_ocbook/events/faults", endpoint=endpoints.faults, methods=["POST"])
    ROUTER.add("/_ocbook/xray", endpoint=endpoints.xray, methods=["GET"])
    from ocbook_engine import durable

    # Lambda's durable execution APIs (botocore's /2025-12-01/... paths), served by AWS's local runner.
    ROUTER.add(f"{durable.API_PREFIX}<path:path>", endpoint=durable.serve, methods=["GET", "POST", "PUT"])
    durable.patch_cloudformation()
    from ocbook_engine import clientcache, lambda_events, xray, xray_messaging, xray_stepfunctions

    clientcache.patch_client_cache()
    lambda_events.patch_event_poller()

    xray.daemon_address()
    xray.patch_lambda_segments()
    xray_stepfunctions.patch_stepfunctions_tracing()
    xray_messaging.patch_message_tracing()
    if patch_lambda_retry_clock():
        LOG.info("engine clock: time scale %s (%s)", clock.scale(), clock.VARIABLE)
