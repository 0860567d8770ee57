"""EventBridge target delivery with AWS's RetryPolicy and DeadLetterConfig (LocalStack only logs a failure).

Selected with ``PROVIDER_OVERRIDE_EVENTS=ocbook``. LocalStack's events provider calls each target once and
logs an error; this subclass wraps every target sender so that a failed delivery follows AWS's rules:

- errors that retrying cannot fix (the target no longer exists, EventBridge may not call it, a 4xx other than
  429) go straight to the target's dead-letter queue, without retries;
- retriable errors (429 throttling, 5xx service errors, connection failures, timeouts) are retried with
  exponential back-off and jitter until ``MaximumRetryAttempts`` (default 185) or ``MaximumEventAgeInSeconds``
  (default 86 400) runs out, then go to the dead-letter queue;
- the DLQ message is the original event, with the attributes RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE,
  EXHAUSTED_RETRY_CONDITION (when a limit ended the retries) and RETRY_ATTEMPTS.

Sources: AWS EventBridge User Guide, "Using dead-letter queues to process undelivered events"
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html) and "How EventBridge retries
delivering events" (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html);
RetryPolicy ranges from the API reference (https://docs.aws.amazon.com/eventbridge/latest/APIReference/
API_RetryPolicy.html). Only 429 and 5xx answers are retried (AWS re:Post, "eventbridge-resolve-failedinvocation-
errors"). An error raised inside a Lambda target is not a delivery failure: EventBridge invokes asynchronously
and Lambda's own async retries handle it.

X-Ray: an entry's ``TraceHeader`` (an X-Ray tracing header) is passed to its targets and overrides the
request's ``X-Amzn-Trace-Id`` (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-related-service-xray.html);
LocalStack passes only the request's header and reads the field as its own cross-account note.

Time runs on the engine's one clock (``ocbook_engine.clock``): back-off waits are AWS's delays times the scale,
and an event's age is measured in AWS seconds (real seconds / scale), so the number of attempts that fit in
``MaximumEventAgeInSeconds`` is the one AWS would make. Scheduled rules with a ``rate(...)`` expression fire
every period times the scale (LocalStack's own loop looks once a minute); ``cron(...)`` rules keep real time.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from localstack.services.plugins import Service, aws_provider

from ocbook_engine import clock

LOG = logging.getLogger("ocbook_engine.events")

DEFAULT_MAX_ATTEMPTS = 185          # AWS's default MaximumRetryAttempts
DEFAULT_MAX_AGE = 24 * 60 * 60      # AWS's default MaximumEventAgeInSeconds
RETRY_RANGES = {"MaximumRetryAttempts": (0, 185), "MaximumEventAgeInSeconds": (60, 86_400)}
# AWS does not publish its back-off constants. The engine doubles from 1 minute up to 10 minutes with equal
# jitter (a wait of d/2..d), so the default 185 attempts span about the documented 24 hours.
BACKOFF_BASE = 60.0
BACKOFF_CAP = 600.0

# Error codes from the DLQ guide's list, by the target service's error code (botocore ClientError).
NO_RESOURCE_CODES = {"ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist",
                     "NotFound", "NotFoundException", "StateMachineDoesNotExist", "FunctionNotFound"}
NO_PERMISSION_CODES = {"AccessDenied", "AccessDeniedException", "AuthorizationError", "AuthorizationErrorException",
                       "NotAuthorized", "KMSAccessDeniedException"}
THROTTLING_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
                    "ThrottledException"}


@dataclass(frozen=True)
class Failure:
    """One failed delivery attempt, classified as AWS's DLQ guide names it."""

    code: str
    message: str
    retriable: bool


def classify(error: Exception) -> Failure:
    """AWS's ERROR_CODE for a delivery error, and whether EventBridge would retry it."""
    from botocore.exceptions import ClientError, ReadTimeoutError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        code, message = str(info.get("Code", "")), str(info.get("Message", "")) or str(error)
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in THROTTLING_CODES or status == 429:
            return Failure("THROTTLING", message, True)
        if status >= 500:
            return Failure("INTERNAL_ERROR", message, True)
        if code in NO_RESOURCE_CODES or code.endswith(("NotFound", "NotFoundException", "DoesNotExist")):
            return Failure("NO_RESOURCE", message, False)
        if code in NO_PERMISSION_CODES or "AccessDenied" in code:
            return Failure("NO_PERMISSIONS", message, False)
        if code.startswith("InvalidParameter") or code in ("ValidationException", "InvalidParameterValue"):
            return Failure("INVALID_PARAMETER", message, False)
        return Failure("UNKNOWN", f"{code}: {message}" if code else message, False)
    if isinstance(error, ReadTimeoutError | TimeoutError):
        return Failure("TIMEOUT", str(error), True)
    if isinstance(error, BotoConnectionError | ConnectionError):
        return Failure("CONNECTION_FAILURE", str(error), True)
    return Failure("INTERNAL_ERROR", f"{type(error).__name__}: {error}", True)


def backoff(retry: int) -> float:
    """AWS seconds to wait before retry number `retry` (1, 2, ...): exponential, capped, equal jitter."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (retry - 1))
    return random.uniform(ceiling / 2, ceiling)


def validation_error(index: int, name: str, value, low: int, high: int) -> str | None:
    """AWS's PutTargets validation message for a RetryPolicy field out of range, or None."""
    if not isinstance(value, int) or isinstance(value, bool):
        return None  # botocore already refuses a non-integer
    member = name[0].lower() + name[1:]
    where = f"Value '{value}' at 'targets.{index}.member.retryPolicy.{member}' failed to satisfy constraint"
    if value < low:
        return f"1 validation error detected: {where}: Member must have value greater than or equal to {low}"
    if value > high:
        return f"1 validation error detected: {where}: Member must have value less than or equal to {high}"
    return None


def check_target(index: int, target: dict, region: str) -> str | None:
    """Why AWS would refuse this target's RetryPolicy or DeadLetterConfig, or None."""
    for name, (low, high) in RETRY_RANGES.items():
        if name in (target.get("RetryPolicy") or {}):
            if message := validation_error(index, name, target["RetryPolicy"][name], low, high):
                return message
    arn = (target.get("DeadLetterConfig") or {}).get("Arn")
    if arn is None:
        return None
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or parts[2] != "sqs":
        return f"Dead letter queue ARN '{arn}' is not valid: EventBridge dead-letter queues are Amazon SQS queues."
    if parts[5].endswith(".fifo"):
        return f"Dead letter queue ARN '{arn}' is a FIFO queue: EventBridge dead-letter queues are standard queues."
    if parts[3] != region:
        return (f"Dead letter queue ARN '{arn}' is in region {parts[3]}: the dead-letter queue must be in the "
                f"rule's region ({region}).")
    return None


@dataclass(order=True)
class Attempt:
    """A delivery waiting for its next try (ordered by due time)."""

    due: float
    seq: int
    sender: object = field(compare=False)
    event: dict = field(compare=False)
    trace_header: object = field(compare=False)
    first_try: float = field(compare=False)
    retries: int = field(compare=False, default=0)


class Faults:
    """Errors the engine makes a target answer on its next deliveries (a stand-in for a target outage)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._plans: dict[str, list] = {}

    def plan(self, target_arn: str, code: str, status: int, count: int, message: str = "") -> None:
        """The next `count` deliveries to target_arn fail with this error code and HTTP status."""
        with self._lock:
            self._plans[target_arn] = [code, status, count, message or f"Injected {code} for {target_arn}"]

    def take(self, target_arn: str) -> Exception | None:
        """The error for this delivery, if one is planned."""
        from botocore.exceptions import ClientError

        with self._lock:
            plan = self._plans.get(target_arn)
            if not plan or plan[2] <= 0:
                return None
            plan[2] -= 1
            code, status, _, message = plan
        return ClientError({"Error": {"Code": code, "Message": message},
                            "ResponseMetadata": {"HTTPStatusCode": status}}, "Deliver")


FAULTS = Faults()


class Redelivery:
    """Retries failed deliveries on the engine's clock and writes exhausted ones to the target's DLQ."""

    def __init__(self, workers: int = 4):
        self._heap: list[Attempt] = []
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="events-redelivery")
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="events-redelivery-timer", daemon=True)
        self._thread.start()

    def deliver(self, sender, event: dict, trace_header, attempt: Attempt | None = None) -> None:
        """Try one delivery now; on failure retry later or dead-letter, as AWS does. Never raises."""
        attempt = attempt or Attempt(0.0, next(self._seq), sender, event, trace_header, time.monotonic())
        try:
            if fault := FAULTS.take(sender.target["Arn"]):
                raise fault
            sender.process_event(dict(event), trace_header)
            return
        except Exception as error:  # every delivery error is the target's answer, handled below
            failure = classify(error)
        policy = sender.target.get("RetryPolicy") or {}
        max_attempts = policy.get("MaximumRetryAttempts", DEFAULT_MAX_ATTEMPTS)
        max_age = policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE)
        LOG.info("EventBridge could not deliver event %s to %s (attempt %d): %s %s", event.get("id"),
                 sender.target["Arn"], attempt.retries + 1, failure.code, failure.message)
        if not failure.retriable:
            return self.dead_letter(attempt, failure, None)
        if attempt.retries >= max_attempts:
            return self.dead_letter(attempt, failure, "MaximumRetryAttempts")
        wait = backoff(attempt.retries + 1)
        age = (time.monotonic() - attempt.first_try) / clock.scale()  # AWS seconds
        if age + wait > max_age:
            return self.dead_letter(attempt, failure, "MaximumEventAgeInSeconds")
        attempt.retries += 1
        attempt.due = time.monotonic() + wait * clock.scale()
        attempt.seq = next(self._seq)
        with self._wake:
            heapq.heappush(self._heap, attempt)
            self._wake.notify()

    def dead_letter(self, attempt: Attempt, failure: Failure, exhausted: str | None) -> None:
        """Send the original event to the target's DLQ with AWS's attributes; log (never raise) if that fails."""
        sender = attempt.sender
        dlq = (sender.target.get("DeadLetterConfig") or {}).get("Arn")
        if not dlq:
            LOG.warning("EventBridge dropped event %s for %s after %d retries (%s): no dead-letter queue",
                        attempt.event.get("id"), sender.target["Arn"], attempt.retries, failure.code)
            return
        attributes = {"RULE_ARN": sender.rule_arn, "TARGET_ARN": sender.target["Arn"],
                      "ERROR_CODE": failure.code, "ERROR_MESSAGE": failure.message[:1024] or failure.code,
                      "RETRY_ATTEMPTS": str(attempt.retries)}
        if exhausted:
            attributes["EXHAUSTED_RETRY_CONDITION"] = exhausted
        try:
            from localstack.aws.connect import connect_to
            from localstack.utils.aws.arns import (
                extract_account_id_from_arn,
                extract_region_from_arn,
                sqs_queue_url_for_arn,
            )

            sqs = connect_to(aws_access_key_id=extract_account_id_from_arn(dlq),
                             region_name=extract_region_from_arn(dlq)).sqs
            sqs.send_message(QueueUrl=sqs_queue_url_for_arn(dlq), MessageBody=json.dumps(attempt.event),
                             MessageAttributes={k: {"DataType": "String", "StringValue": v}
                                                for k, v in attributes.items()})
        except Exception as error:  # a vanished DLQ loses this event only; the engine carries on
            LOG.warning("EventBridge could not write event %s to dead-letter queue %s (%s); event lost",
                        attempt.event.get("id"), dlq, error)

    def stop(self) -> None:
        """Stop the timer and the workers (pending retries are dropped with the engine)."""
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        """Hand each due attempt to a worker."""
        while True:
            with self._wake:
                while not self._stopped and (not self._heap or self._heap[0].due > time.monotonic()):
                    self._wake.wait(timeout=self._heap[0].due - time.monotonic() if self._heap else None)
                if self._stopped:
                    return
                attempt = heapq.heappop(self._heap)
            self._pool.submit(self.deliver, attempt.sender, attempt.event, attempt.trace_header, attempt)


RATE = re.compile(r"^\s*rate\(\s*(\d+)\s+(minute|minutes|hour|hours|day|days)\s*\)\s*$")
UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str | None) -> int | None:
    """The period of a rate(...) schedule in AWS seconds, or None for a cron(...) or no schedule."""
    match = RATE.match(expression or "")
    return int(match.group(1)) * UNIT_SECONDS[match.group(2).rstrip("s")] if match else None


class Ticker:
    """Fires scheduled rules with a rate(...) expression every period x the time scale (one thread per rule)."""

    def __init__(self):
        self._stops: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, key: str, period: float, fire, enabled) -> None:
        """(Re)start the rule's ticks: every `period` AWS seconds, fire() if enabled()."""
        stop = threading.Event()
        with self._lock:
            if previous := self._stops.pop(key, None):
                previous.set()
            self._stops[key] = stop

        def tick():
            while not stop.wait(period * clock.scale()):
                if enabled():
                    fire()

        threading.Thread(target=tick, name="events-rate-schedule", daemon=True).start()

    def stop(self, key: str | None = None) -> None:
        """Stop one rule's ticks (or all of them)."""
        with self._lock:
            for name in [key] if key else list(self._stops):
                if stop := self._stops.pop(name, None):
                    stop.set()


class DeliveringSender:
    """A LocalStack target sender whose process_event goes through Redelivery (never raises)."""

    def __init__(self, sender, redelivery: Redelivery):
        self._sender = sender
        self._redelivery = redelivery

    def __getattr__(self, name):
        return getattr(self._sender, name)

    def process_event(self, event, trace_header):
        """Deliver with AWS's retry policy and dead-letter queue."""
        self._redelivery.deliver(self._sender, event, trace_header)


XRAY_ROOT = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")


def xray_header(value):
    """A PutEvents entry's TraceHeader as LocalStack's TraceHeader, if it is a valid X-Ray header (else None)."""
    from localstack.utils.xray.trace_header import TraceHeader

    if not isinstance(value, str) or "Root=" not in value:
        return None
    header = TraceHeader.from_header_str(value)
    return header if header.root and XRAY_ROOT.match(header.root) else None


def archived_time(value: str):
    """An archived event's time ('2026-01-01T10:00:00Z') as a datetime; now if it does not parse."""
    from datetime import datetime, timezone

    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
    except ValueError:
        return datetime.now(tz=timezone.utc)


def patch_archive_times() -> None:
    """Archived events keep their time as text; LocalStack's replay compared it as a datetime and failed, and
    rounded the replay window to whole minutes (AWS replays the events between EventStartTime and EventEndTime:
    https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_StartReplay.html)."""
    from datetime import timezone

    from localstack.services.events.archive import ArchiveService

    if getattr(ArchiveService, "_ocbook_times", False):
        return

    def normalize(self, dt):
        dt = archived_time(dt) if isinstance(dt, str) else dt
        return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).replace(microsecond=0)

    ArchiveService._normalize_datetime = normalize
    ArchiveService._ocbook_times = True


@aws_provider(api="events", name="ocbook")
def events_ocbook():
    """The events:ocbook provider plugin."""
    from localstack.services.events.models import ValidationException
    from localstack.services.events.provider import EventsProvider
    from localstack.services.events.scheduler import JobScheduler

    patch_archive_times()

    class DeliveryEventsProvider(EventsProvider):
        """LocalStack's events provider with AWS's target retry policy and dead-letter queues."""

        def __init__(self):
            super().__init__()
            self._redelivery = Redelivery()
            self._ticker = Ticker()

        def on_before_stop(self):
            self._redelivery.stop()
            self._ticker.stop()
            super().on_before_stop()

        def put_targets(self, context, rule, targets, event_bus_name=None, **kwargs):
            for index, target in enumerate(targets, start=1):
                if message := check_target(index, target, context.region):
                    raise ValidationException(message)
            response = super().put_targets(context, rule, targets, event_bus_name, **kwargs)
            self._schedule_on_the_clock(self.get_rule_service(context.region, context.account_id, rule,
                                                              event_bus_name), context)
            return response

        def _schedule_on_the_clock(self, service, context) -> None:
            """A rate(...) rule ticks every period x the time scale instead of LocalStack's minute loop."""
            period = rate_seconds(service.rule.schedule_expression)
            if period is None or not getattr(service, "job_id", None):
                return  # cron(...) schedules stay on LocalStack's scheduler, in real time
            JobScheduler.instance().cancel_job(service.job_id)
            rule = service.rule
            fire = self._get_scheduled_rule_job_function(context.account_id, context.region, rule)
            self._ticker.start(rule.arn, period, fire, lambda: rule.state != "DISABLED" and rule.targets)

        def _delete_rule_services(self, rules):
            for rule in [rules] if hasattr(rules, "arn") else list(rules.values()):
                self._ticker.stop(rule.arn)
            super()._delete_rule_services(rules)

        def _process_rules(self, rule, *args, **kwargs):
            """A disabled rule matches nothing (LocalStack delivered to it anyway)."""
            if str(getattr(rule.state, "value", rule.state)) == "DISABLED":
                return None
            return super()._process_rules(rule, *args, **kwargs)

        def _process_entry(self, entry, processed_entries, failed_entry_count, context):
            """An entry's own X-Ray TraceHeader is the one its targets get (it overrides the HTTP header)."""
            if isinstance(entry.get("Time"), str):  # a replayed event's time, as the archive keeps it
                entry = {**entry, "Time": archived_time(entry["Time"])}
            header = xray_header(entry.get("TraceHeader"))
            if header is None:
                return super()._process_entry(entry, processed_entries, failed_entry_count, context)
            entry = {k: v for k, v in entry.items() if k != "TraceHeader"}  # LocalStack reads it as its own JSON
            saved = context.trace_context.get("aws_trace_header")
            context.trace_context["aws_trace_header"] = header
            try:
                return super()._process_entry(entry, processed_entries, failed_entry_count, context)
            finally:
                context.trace_context["aws_trace_header"] = saved

        def create_target_sender(self, target, rule_arn, rule_name, region, account_id):
            sender = super().create_target_sender(target, rule_arn, rule_name, region, account_id)
            wrapped = DeliveringSender(sender, self._redelivery)
            self._target_sender_store[sender.unique_id] = wrapped
            return wrapped

    return Service.for_provider(DeliveryEventsProvider())
