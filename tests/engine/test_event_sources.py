"""What invokes Lambda: SQS, Kinesis and DynamoDB Streams mappings, S3, SNS and API Gateway."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import ocbook as ob
from tests.engine.conftest import items, wait_items


def test_sqs_mapping_partial_batch_failure_and_dlq(deployment, records):
    dlq = deployment.queue("esmdlq")
    source = deployment.queue("esmsrc", dlq=dlq, max_receive=2, visibility_timeout=2)
    fn = deployment.function("sqsbatch", "probe.handlers.sqs_batch", env={"TABLE": records, "PARTIAL": "1"})
    sqs = ob.client("sqs")
    sqs.send_message_batch(QueueUrl=source.url, Entries=[
        {"Id": str(n), "MessageBody": body} for n, body in enumerate(["good-1", "poison", "good-2"])])
    deployment.mapping(fn, source.arn, BatchSize=10, MaximumBatchingWindowInSeconds=1,
                       FunctionResponseTypes=["ReportBatchItemFailures"])
    moved = ob.wait.messages(dlq.url, 1, timeout=30)
    assert moved[0]["Body"] == "poison"
    seen = [item["body"] for item in items(records, "messages")]
    assert seen.count("good-1") == 1 and seen.count("good-2") == 1  # never redelivered
    assert seen.count("poison") == 2  # maxReceiveCount deliveries, then the DLQ


def test_kinesis_mapping_bisects_retries_then_on_failure_destination(deployment, records):
    stream = deployment.stream("esmkin")
    failures = deployment.queue("kinfail")
    fn = deployment.function("kinbatch", "probe.handlers.stream_batch", env={"TABLE": records, "KEY": "kinesis"})
    ob.client("kinesis").put_records(StreamARN=stream, Records=[  # written first: one batch of 3
        {"Data": body.encode(), "PartitionKey": "same-shard"} for body in ("a", "poison", "b")])
    deployment.mapping(fn, stream, BatchSize=10, MaximumRetryAttempts=1, BisectBatchOnFunctionError=True,
                       DestinationConfig={"OnFailure": {"Destination": failures.arn}})
    record = ob.wait.messages(failures.url, 1, timeout=45)[0]["Body"]
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["KinesisBatchInfo"]["batchSize"] == 1  # only the poison record is discarded
    batches = wait_items(records, "kinesis", 6)
    # As on AWS: the batch is split in halves (a,poison | b), then (a | poison); splits cost no retry, so the
    # single poison record gets its one retry; a and b are processed once each.
    assert [b["size"] for b in batches] == [3, 2, 1, 1, 1, 1]


def test_dynamodb_stream_mapping_and_on_failure_destination(deployment, records):
    table = deployment.table("streamsrc", stream="NEW_IMAGE")
    failures = deployment.queue("ddbfail")
    fn = deployment.function("ddbbatch", "probe.handlers.stream_batch", env={"TABLE": records, "KEY": "ddb"})
    deployment.mapping(fn, deployment.stream_arn(table), BatchSize=10, MaximumRetryAttempts=0,
                       DestinationConfig={"OnFailure": {"Destination": failures.arn}})
    ddb = ob.client("dynamodb")
    ddb.put_item(TableName=table, Item={"pk": {"S": "ok"}})
    first = wait_items(records, "ddb", 1)
    assert json.loads(first[0]["records"])[0]["eventName"] == "INSERT"
    ddb.put_item(TableName=table, Item={"pk": {"S": "poison"}})
    record = ob.wait.messages(failures.url, 1, timeout=30)[0]["Body"]
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["DDBStreamBatchInfo"]["batchSize"] == 1


def test_s3_notification_invokes_lambda(deployment, records):
    bucket = deployment.bucket("notify")
    fn = deployment.function("s3fn", "probe.handlers.record", env={"TABLE": records, "KEY": "s3"})
    deployment.allow(fn, "s3.amazonaws.com")
    deployment.notify(bucket, fn)
    ob.client("s3").put_object(Bucket=bucket, Key="in/one.txt", Body=b"1")
    event = json.loads(wait_items(records, "s3", 1)[0]["event"])
    assert event["Records"][0]["s3"]["object"]["key"] == "in/one.txt"
    assert event["Records"][0]["eventName"].startswith("ObjectCreated")


def test_sns_invokes_lambda(deployment, records):
    topic = deployment.topic("snsfn")
    fn = deployment.function("snsfn", "probe.handlers.record", env={"TABLE": records, "KEY": "sns"})
    deployment.subscribe(topic, "lambda", fn.arn)
    ob.client("sns").publish(TopicArn=topic, Message="hello")
    event = json.loads(wait_items(records, "sns", 1)[0]["event"])
    assert event["Records"][0]["Sns"]["Message"] == "hello"


def call(url: str, body: dict) -> tuple[int, dict]:
    """POST JSON; return (status, parsed body) also for error statuses."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_api_gateway_is_synchronous_and_returns_the_error(deployment, records):
    fn = deployment.function("apifn", "probe.handlers.api")
    url = deployment.rest_api("api", fn)
    assert call(url, {"hello": "world"}) == (200, {"echo": {"hello": "world"}})
    status, body = call(url, {"fail": True})
    assert status == 502 and body["message"] == "Internal server error"
