"""A handler traced with Powertools' Tracer (needs a layer with aws-lambda-powertools and aws-xray-sdk).

The code a reader would deploy: Tracer patches boto3, so each AWS call becomes a subsegment and carries the
trace header on to the service it calls; the engine's Lambda and X-Ray do the rest.
"""

from __future__ import annotations

import json
import os

import boto3
from aws_lambda_powertools import Tracer

tracer = Tracer(service="orders")


@tracer.capture_lambda_handler
def publish(event, context):
    """Write an order to TABLE and announce it on BUS (no trace code of its own)."""
    boto3.client("dynamodb").put_item(TableName=os.environ["TABLE"],
                                      Item={"pk": {"S": "orders"}, "sk": {"S": context.aws_request_id}})
    boto3.client("events").put_events(Entries=[{"EventBusName": os.environ["BUS"], "Source": "book.xray",
                                                "DetailType": "OrderPlaced",
                                                "Detail": json.dumps({"order": context.aws_request_id})}])
    return {"trace": os.environ.get("_X_AMZN_TRACE_ID")}
