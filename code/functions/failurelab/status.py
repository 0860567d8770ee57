"""An order-status projection fed by events that may arrive out of order."""

from __future__ import annotations

import json

from fnlib.store import table

STATUS_OF = {"OrderPlaced": "PLACED", "OrderPaid": "PAID", "OrderShipped": "SHIPPED", "OrderCancelled": "CANCELLED"}


def naive(event, context):
    """Last write wins: whatever event arrives last sets the status."""
    for message in event["Records"]:
        update = json.loads(message["body"])
        table("STATUS_TABLE").put_item(Item={"pk": update["order_id"], "status": STATUS_OF[update["type"]],
                                             "version": update["version"]})
    return {}


def versioned(event, context):
    """Apply an event only if it is newer than what is stored (a conditional write on the version)."""
    ddb = table("STATUS_TABLE")
    skipped = 0
    for message in event["Records"]:
        update = json.loads(message["body"])
        try:
            ddb.put_item(Item={"pk": update["order_id"], "status": STATUS_OF[update["type"]],
                               "version": update["version"]},
                         ConditionExpression="attribute_not_exists(pk) OR version < :v",
                         ExpressionAttributeValues={":v": update["version"]})
        except ddb.meta.client.exceptions.ConditionalCheckFailedException:
            skipped += 1  # an older event arriving late: ignore it
    return {"skipped": skipped}
