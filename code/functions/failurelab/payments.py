"""Taking payments from an SQS queue, naively and idempotently.

Both handlers "crash" after charging on a message's first delivery
(ApproximateReceiveCount == 1) when the message asks for it, the way a
timeout or a failing later step would: the work is done, success is not
recorded, and SQS delivers the message again after its visibility timeout.
"""

from __future__ import annotations

import json
import os
import time
import uuid

from fnlib.store import table


class CrashAfterCharge(Exception):
    """The charge went through but the handler failed before reporting success."""


def charge(payment: dict) -> dict:
    """Book a charge: one new row per call (this is the side effect that must not repeat)."""
    charge_id = uuid.uuid4().hex[:12]
    table("CHARGES_TABLE").put_item(Item={"pk": charge_id, "payment_id": payment["payment_id"],
                                          "amount": payment["amount"], "at": f"{time.time():.6f}"})
    return {"charge_id": charge_id, "payment_id": payment["payment_id"]}


def after_charge(message: dict, payment: dict) -> None:
    """The step after the charge; fails on the first delivery of a message that asks for it."""
    if payment.get("crash_after_charge") and message["attributes"]["ApproximateReceiveCount"] == "1":
        raise CrashAfterCharge(f"crashed after charging {payment['payment_id']}")


def naive(event, context):
    """Charge every delivered payment: a redelivery charges again."""
    for message in event["Records"]:
        payment = json.loads(message["body"])
        charge(payment)
        after_charge(message, payment)
    return {}


def idempotent(event, context):
    """Charge each payment once, whatever the number of deliveries (Powertools idempotency)."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"])
    config = IdempotencyConfig(event_key_jmespath="payment_id", expires_after_seconds=3600,
                               lambda_context=context)

    @idempotent_function(data_keyword_argument="payment", persistence_store=persistence, config=config)
    def charge_once(payment: dict) -> dict:
        return charge(payment)

    results = []
    for message in event["Records"]:
        payment = json.loads(message["body"])
        results.append(charge_once(payment=payment))
        after_charge(message, payment)
    return {"charges": results}
