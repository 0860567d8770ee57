"""Traced probe handlers: what a handler instrumented for X-Ray sends, built by hand (no X-Ray SDK needed).

Inside Lambda the X-Ray SDK does not open a segment of its own: Lambda's function segment is the parent
(``Parent=`` of ``_X_AMZN_TRACE_ID``), and the SDK sends each subsegment as its own document
(``"type": "subsegment"``) over UDP to ``AWS_XRAY_DAEMON_ADDRESS``. Calls to AWS services are subsegments with
``namespace: aws`` named after the service; the trace header they pass on names the subsegment as parent.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time

import boto3

DAEMON_HEADER = b'{"format": "json", "version": 1}\n'


def trace_context() -> dict[str, str]:
    """Root, Parent and Sampled of this invocation's tracing header."""
    fields = dict(part.split("=", 1) for part in os.environ.get("_X_AMZN_TRACE_ID", "").split(";") if "=" in part)
    return fields


def send(document: dict) -> None:
    """Send one document to the X-Ray daemon address, as the SDK's emitter does."""
    host, port = os.environ["AWS_XRAY_DAEMON_ADDRESS"].split(":")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(DAEMON_HEADER + json.dumps(document).encode(), (host, int(port)))


def aws_call(service: str, operation: str, call, **aws) -> object:
    """Run call(trace_header) inside an AWS subsegment and send the subsegment."""
    context = trace_context()
    sub_id = secrets.token_hex(8)
    doc = {"type": "subsegment", "id": sub_id, "trace_id": context["Root"], "parent_id": context["Parent"],
           "name": service, "namespace": "aws", "start_time": time.time(), "aws": {"operation": operation, **aws}}
    try:
        result = call(f"Root={context['Root']};Parent={sub_id};Sampled=1")
        doc["http"] = {"response": {"status": 200}}
        return result
    except Exception:
        doc["fault"] = True
        raise
    finally:
        doc["end_time"] = time.time()
        send(doc)


def publish(event, context):
    """Write an item to TABLE, then publish an event to BUS carrying the trace header (as Tracer would trace it)."""
    table = os.environ["TABLE"]
    item = {"pk": {"S": "orders"}, "sk": {"S": context.aws_request_id}}
    aws_call("DynamoDB", "PutItem", lambda _: boto3.client("dynamodb").put_item(TableName=table, Item=item),
             table_name=table)
    entry = {"EventBusName": os.environ["BUS"], "Source": "book.xray", "DetailType": "OrderPlaced",
             "Detail": json.dumps({"order": context.aws_request_id})}
    aws_call("EventBridge", "PutEvents",
             lambda header: boto3.client("events").put_events(Entries=[{**entry, "TraceHeader": header}]))
    return {"trace": os.environ.get("_X_AMZN_TRACE_ID")}


def seen(event, context):
    """Record the tracing header and daemon address this invocation saw in TABLE (pk 'seen')."""
    boto3.client("dynamodb").put_item(TableName=os.environ["TABLE"], Item={
        "pk": {"S": "seen"}, "sk": {"S": f"{time.time():.6f}-{context.aws_request_id}"},
        "trace": {"S": os.environ.get("_X_AMZN_TRACE_ID") or "-"},
        "daemon": {"S": os.environ.get("AWS_XRAY_DAEMON_ADDRESS") or "-"},
        "detail": {"S": json.dumps(event.get("detail", event) if isinstance(event, dict) else event)}})
    return {"trace": os.environ.get("_X_AMZN_TRACE_ID"), "daemon": os.environ.get("AWS_XRAY_DAEMON_ADDRESS")}
