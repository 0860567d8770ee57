"""The design-for-failure handlers, with an in-memory table in place of DynamoDB."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.utilities import idempotency
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from failurelab import batch, orders, outcomes, payments, status
from fnlib import store


class ConditionalCheckFailed(Exception):
    pass


class FakeTable:
    """Just enough of a boto3 Table: put_item with the one condition the handlers use."""

    def __init__(self):
        self.items: dict = {}
        self.meta = type("Meta", (), {"client": type("Client", (), {
            "exceptions": type("Exceptions", (), {"ConditionalCheckFailedException": ConditionalCheckFailed})})})

    def put_item(self, Item, ConditionExpression=None, ExpressionAttributeValues=None):
        current = self.items.get(Item["pk"])
        if ConditionExpression and current and not current["version"] < ExpressionAttributeValues[":v"]:
            raise ConditionalCheckFailed()
        self.items[Item["pk"]] = Item


@pytest.fixture
def tables(monkeypatch):
    found: dict[str, FakeTable] = {}
    monkeypatch.setattr(store, "table", lambda variable: found.setdefault(variable, FakeTable()))
    for module in (orders, outcomes, payments, status, batch):
        if hasattr(module, "table"):
            monkeypatch.setattr(module, "table", store.table)
    return found


class Context:
    aws_request_id = "req-1"


def sqs_event(*bodies: dict, receive_count: int = 1) -> dict:
    return {"Records": [{"messageId": f"m{n}", "body": json.dumps(body),
                         "attributes": {"ApproximateReceiveCount": str(receive_count)}}
                        for n, body in enumerate(bodies)]}


def test_orders_rejects_non_positive_amounts_and_records_attempts(tables):
    assert orders.process({"order_id": "a", "amount": 3}, Context())["status"] == "ACCEPTED"
    with pytest.raises(orders.InvalidOrder):
        orders.process({"order_id": "b", "amount": 0}, Context())
    assert len(tables["ATTEMPTS_TABLE"].items) == 2


def test_outcome_summary_reads_the_destination_record():
    record = {"requestContext": {"requestId": "r", "condition": "RetriesExhausted", "approximateInvokeCount": 3},
              "requestPayload": {"order_id": "o"}, "responsePayload": {"errorType": "InvalidOrder"}}
    row = outcomes.summarise(record)
    assert (row["order_id"], row["condition"], row["invoke_count"], row["result"]) == \
        ("o", "RetriesExhausted", 3, "InvalidOrder")


def test_naive_payment_charges_before_crashing_and_again_on_redelivery(tables):
    payment = {"payment_id": "p", "amount": 1, "crash_after_charge": True}
    with pytest.raises(payments.CrashAfterCharge):
        payments.naive(sqs_event(payment, receive_count=1), Context())
    payments.naive(sqs_event(payment, receive_count=2), Context())
    assert len(tables["CHARGES_TABLE"].items) == 2


def test_versioned_status_ignores_older_events(tables):
    newer = {"order_id": "o", "type": "OrderPaid", "version": 2}
    older = {"order_id": "o", "type": "OrderPlaced", "version": 1}
    status.naive(sqs_event(newer), Context())
    status.naive(sqs_event(older), Context())
    assert tables["STATUS_TABLE"].items["o"]["status"] == "PLACED"
    tables["STATUS_TABLE"].items.clear()
    status.versioned(sqs_event(newer), Context())
    assert status.versioned(sqs_event(older), Context()) == {"skipped": 1}
    assert tables["STATUS_TABLE"].items["o"]["status"] == "PAID"


def test_batch_reports_only_the_poisoned_message(tables, monkeypatch):
    event = sqs_event({"item": "a"}, {"item": "b", "poison": True})
    with pytest.raises(RuntimeError):
        batch.handle(event, Context())
    monkeypatch.setenv("PARTIAL", "1")
    assert batch.handle(event, Context()) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    monkeypatch.setenv("ACCEPT_POISON", "1")
    assert batch.handle(event, Context()) == {"batchItemFailures": []}


class MemoryPersistence(BasePersistenceLayer):
    """Powertools' persistence layer contract, kept in a dict instead of a DynamoDB table."""

    def __init__(self, records: dict):
        super().__init__()
        self.records = records

    def _get_record(self, idempotency_key):
        if idempotency_key not in self.records:
            raise IdempotencyItemNotFoundError
        return self.records[idempotency_key]

    def _put_record(self, data_record):
        if data_record.idempotency_key in self.records:
            raise IdempotencyItemAlreadyExistsError
        self.records[data_record.idempotency_key] = data_record

    def _update_record(self, data_record):
        self.records[data_record.idempotency_key] = data_record

    def _delete_record(self, data_record):
        self.records.pop(data_record.idempotency_key, None)


class LambdaContext(Context):
    function_name = "pay-idempotent"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:pay-idempotent"

    def get_remaining_time_in_millis(self):
        return 10_000


def test_idempotent_payment_charges_once_across_redeliveries(tables, monkeypatch):
    records: dict = {}
    monkeypatch.setattr(idempotency, "DynamoDBPersistenceLayer", lambda table_name: MemoryPersistence(records))
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "unused")
    payment = {"payment_id": "p", "amount": 1, "crash_after_charge": True}
    with pytest.raises(payments.CrashAfterCharge):  # charged, then failed before reporting success
        payments.idempotent(sqs_event(payment, receive_count=1), LambdaContext())
    again = payments.idempotent(sqs_event(payment, receive_count=2), LambdaContext())
    charges = tables["CHARGES_TABLE"].items
    assert len(charges) == 1 and again["charges"] == [{"charge_id": next(iter(charges)), "payment_id": "p"}]
    assert [r.status for r in records.values()] == ["COMPLETED"]
    other = payments.idempotent(sqs_event({"payment_id": "q", "amount": 2}), LambdaContext())  # positive control
    assert len(charges) == 2 and other["charges"][0]["payment_id"] == "q"
