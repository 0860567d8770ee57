"""Forward recovery for a choreographed service after the saga's pivot: its on-failure destination.

Lambda retries a failed asynchronous invocation twice, then hands this function the failure record (the
original event under requestPayload). A step after the pivot must not give up, so the event goes back to the
same function as a new asynchronous invocation (three more attempts), counted in the event's `redriven` field.
After MAX_REDRIVES rounds a human is told instead, on the alert queue.
"""

from __future__ import annotations

import json
import os

import boto3

MAX_REDRIVES = int(os.environ.get("MAX_REDRIVES", "10"))


def handler(record, context):
    """Invoke the failed function again with its event, or alert once MAX_REDRIVES rounds have failed."""
    event = dict(record["requestPayload"])
    function_arn = record["requestContext"]["functionArn"]
    rounds = int(event.get("redriven", 0))
    if rounds >= MAX_REDRIVES:
        boto3.client("sqs").send_message(QueueUrl=os.environ["ALERTS_URL"], MessageBody=json.dumps(record))
        return {"redriven": rounds, "gave_up": True}
    event["redriven"] = rounds + 1
    boto3.client("lambda").invoke(FunctionName=function_arn, InvocationType="Event", Payload=json.dumps(event))
    return {"redriven": rounds + 1, "gave_up": False}
