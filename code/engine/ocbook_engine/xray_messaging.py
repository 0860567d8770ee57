"""X-Ray trace headers through SNS and SQS to Lambda, where AWS carries them and LocalStack does not.

What LocalStack already passes on (read in localstack-core 2026.3.0): SQS keeps the ``X-Amzn-Trace-Id`` of a
``SendMessage`` request as the message's ``AWSTraceHeader`` system attribute (sqs/provider.py
``_create_message_attributes``), and SNS does the same for its SQS subscriptions
(``create_sqs_system_attributes`` of the ``Publish`` request's headers). What it drops:

- SNS to a Lambda subscription: the function is invoked without the publisher's header, so it starts a new
  trace. AWS: "Amazon SNS passes the trace context from publisher to subscribers"
  (https://docs.aws.amazon.com/xray/latest/devguide/xray-services-sns.html).
- SQS to Lambda (event source mapping): the poller receives ``AWSTraceHeader`` with each record but invokes
  without it. AWS: "If you are using a Lambda downstream consumer, trace context propagation is automatic"
  (https://docs.aws.amazon.com/xray/latest/devguide/xray-services-sqs.html); for batches AWS links the
  producers' traces to the consumer's (https://docs.aws.amazon.com/xray/latest/devguide/xray-tracelinking.html).
  The engine continues the producer's trace when every record of the batch carries the same trace; a batch
  mixing traces starts a trace of its own (the engine draws no trace links).

Both are fixed the way ``xray_stepfunctions`` does it: the internal Lambda client gets the header on its
``Invoke`` request (``X-Amzn-Trace-Id``), which the Lambda provider reads like any caller's.
"""

from __future__ import annotations

import threading

from ocbook_engine import guard

HEADER = "X-Amzn-Trace-Id"
_current = threading.local()    # the trace header of the delivery this thread is making


def add_trace_header(params, **_) -> None:
    """botocore hook: put this thread's delivery trace header on the Lambda Invoke request."""
    header = getattr(_current, "header", None)
    if header:
        params["headers"][HEADER] = header


def traced_client(client):
    """Register the hook on a Lambda client once (botocore drops a second registration with the same id)."""
    client.meta.events.register("before-call.lambda.Invoke", add_trace_header, unique_id="ocbook-xray-delivery")
    return client


def batch_header(events) -> str | None:
    """The AWSTraceHeader an SQS batch continues: the one trace all its records carry, else None."""
    if isinstance(events, dict):
        events = events.get("Records") or []
    if not isinstance(events, list) or not events:
        return None
    headers = [(e.get("attributes") or {}).get("AWSTraceHeader") if isinstance(e, dict) else None for e in events]
    if not all(headers) or any(e.get("eventSource") != "aws:sqs" for e in events):
        return None
    roots = {root_of(h) for h in headers}
    return headers[0] if len(roots) == 1 and None not in roots else None


def root_of(header: str) -> str | None:
    """The Root= of a trace header."""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == "Root" and value:
            return value
    return None


def header_of(headers) -> str | None:
    """The X-Amzn-Trace-Id of a request's headers (any case)."""
    if not headers:
        return None
    for key in headers.keys():
        if key.lower() == HEADER.lower():
            return str(headers[key])
    return None


def delivering(header: str | None, call):
    """Run call() with header as this thread's delivery trace header."""
    previous = getattr(_current, "header", None)
    _current.header = header
    try:
        return call()
    finally:
        _current.header = previous


def patch_message_tracing() -> bool:
    """Carry trace headers from SNS publishes and SQS messages to the Lambda functions they invoke."""
    from localstack.aws.connect import connect_to
    from localstack.services.lambda_.event_source_mapping.senders.lambda_sender import LambdaSender
    from localstack.services.sns import publisher

    if not guard.applies("SNS/SQS X-Ray headers", "SNS- and SQS-triggered functions start new traces"):
        return False
    if getattr(LambdaSender, "_ocbook_traced", False):
        return True
    original_send = LambdaSender.send_events
    original_publish = publisher.LambdaTopicPublisher._publish

    def send_events(self, events):
        header = batch_header(events)
        if header is None:
            return original_send(self, events)
        traced_client(self.target_client)
        return delivering(header, lambda: original_send(self, events))

    def _publish(self, context, subscriber):
        header = header_of(getattr(context, "request_headers", None))
        if header is None:
            return original_publish(self, context, subscriber)
        region = subscriber["Endpoint"].split(":")[3]
        traced_client(connect_to(region_name=region).lambda_)
        return delivering(header, lambda: original_publish(self, context, subscriber))

    LambdaSender.send_events = send_events
    publisher.LambdaTopicPublisher._publish = _publish
    LambdaSender._ocbook_traced = True
    return True
