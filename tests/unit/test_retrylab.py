"""The retry-lab handlers."""

import base64
import json

import pytest

from retrylab import fail


@pytest.fixture
def attempts(monkeypatch):
    rows = []
    monkeypatch.setattr(fail, "record_attempt", lambda key, request_id, **extra: rows.append((key, extra)))
    monkeypatch.setenv("SOURCE", "unit")
    return rows


class Context:
    aws_request_id = "r"


def kinesis_event(*keys):
    return {"Records": [{"eventSource": "aws:kinesis",
                         "kinesis": {"data": base64.b64encode(json.dumps({"key": k}).encode()).decode()}}
                        for k in keys]}


def test_always_records_then_fails(attempts):
    with pytest.raises(RuntimeError, match="failing on purpose"):
        fail.always({"Records": [{"eventSource": "aws:sqs"}]}, Context())
    assert attempts == [("unit", {"event_source": "aws:sqs", "records": 1})]


@pytest.mark.parametrize("event, source", [
    ({"httpMethod": "POST"}, "apigateway"), ({"detail-type": "Ping"}, "aws.events"), ({}, "direct"),
    ({"Records": [{"EventSource": "aws:sns"}]}, "aws:sns")])
def test_event_shape_names_the_source(event, source):
    assert fail.event_shape(event)["event_source"] == source


def test_poison_blocks_only_batches_with_poison(attempts):
    assert fail.poison_blocks(kinesis_event("a", "b"), Context()) == {"processed": ["a", "b"]}
    with pytest.raises(RuntimeError):
        fail.poison_blocks(kinesis_event("a", "poison"), Context())
    ddb = {"Records": [{"eventSource": "aws:dynamodb", "dynamodb": {"Keys": {"pk": {"S": "row"}}}}]}
    assert fail.record_keys(ddb) == ["row"]
    assert [extra["keys"] for _, extra in attempts] == ["a,b", "a,poison"]
