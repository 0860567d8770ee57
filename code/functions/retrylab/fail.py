"""Fail on purpose, recording each attempt with the shape of the event that caused it."""

from __future__ import annotations

import base64
import json
import os

from fnlib.store import record_attempt


def event_shape(event: dict) -> dict:
    """What kind of event arrived, and how many records it carried."""
    records = event.get("Records") if isinstance(event, dict) else None
    if records:
        source = records[0].get("eventSource") or records[0].get("EventSource") or "?"
        return {"event_source": source, "records": len(records)}
    if isinstance(event, dict) and "httpMethod" in event:
        return {"event_source": "apigateway", "records": 1}
    if isinstance(event, dict) and "detail-type" in event:
        return {"event_source": "aws.events", "records": 1}
    return {"event_source": "direct", "records": 1}


def always(event, context):
    """Record the attempt, then fail."""
    record_attempt(os.environ["SOURCE"], context.aws_request_id, **event_shape(event))
    raise RuntimeError(f"{os.environ['SOURCE']}: failing on purpose")


def record_keys(event: dict) -> list[str]:
    """The keys carried by a Kinesis or DynamoDB Streams batch."""
    keys = []
    for record in event["Records"]:
        if "kinesis" in record:
            keys.append(json.loads(base64.b64decode(record["kinesis"]["data"]))["key"])
        else:
            keys.append(record["dynamodb"]["Keys"]["pk"]["S"])
    return keys


def poison_blocks(event, context):
    """Process a stream batch; fail the whole batch while it holds the key 'poison'."""
    keys = record_keys(event)
    record_attempt(os.environ["SOURCE"], context.aws_request_id, keys=",".join(keys))
    if "poison" in keys:
        raise RuntimeError("poison record in the batch")
    return {"processed": keys}
