"""Consumes destination records from SQS and writes one row per outcome to the OUTCOMES_TABLE."""

import json

from fnlib.store import table


def summarise(record: dict) -> dict:
    """The parts of a Lambda destination record that say what happened."""
    context = record["requestContext"]
    request = record.get("requestPayload") or {}
    response = record.get("responsePayload") or {}
    return {"pk": context["requestId"], "order_id": request.get("order_id", "?"),
            "condition": context["condition"], "invoke_count": context["approximateInvokeCount"],
            "result": response.get("status") or response.get("errorType", ""), "raw": json.dumps(record)}


def record(event, context):
    """SQS handler: store the outcome carried by each destination record."""
    for message in event["Records"]:
        table("OUTCOMES_TABLE").put_item(Item=summarise(json.loads(message["body"])))
    return {"stored": len(event["Records"])}
