"""BisectBatchOnFunctionError on Kinesis and DynamoDB Streams mappings, as AWS documents it.

AWS: a failing batch is split in two and each half retried, down to the bad record; "Splitting batches
doesn't consume the retry quota" (Lambda developer guide, kinesis-on-failure-destination). Each
bisect test has a control without bisect, where the whole batch fails and reaches the destination.
"""

from __future__ import annotations

import base64
import json

import ocbook as ob
from tests.engine.conftest import items, wait_items

KEYS = [f"r{n}" for n in range(8)]
KEYS[5] = "poison"  # one poison record among 8
GOOD = [key for key in KEYS if key != "poison"]


def record_key(record: dict) -> str:
    """The key of one Kinesis or DynamoDB Streams record as the probe handler saw it."""
    if "kinesis" in record:
        return base64.b64decode(record["kinesis"]["data"]).decode()
    return record["dynamodb"]["Keys"]["pk"]["S"]


def invocations(table: str, pk: str) -> list[list[str]]:
    """The keys of every batch the function was invoked with, in order."""
    return [[record_key(r) for r in json.loads(item["records"])] for item in items(table, pk)]


def processed(batches: list[list[str]]) -> list[str]:
    """Keys of the batches that succeeded (the probe fails every batch that holds the poison)."""
    return sorted(key for batch in batches if "poison" not in batch for key in batch)


def wait_processed(table: str, pk: str, count: int) -> list[list[str]]:
    """Wait until `count` records were processed successfully; return every batch."""
    return ob.wait.until(lambda: invocations(table, pk), lambda b: len(processed(b)) >= count, 60,
                         what=f"{count} records processed under {pk!r}")


def kinesis_source(deployment, kind: str) -> tuple[str, dict[str, str]]:
    """A stream holding the 8 records (one shard); returns its ARN and each key's sequence number."""
    stream = deployment.stream(kind)
    put = ob.client("kinesis").put_records(StreamARN=stream, Records=[
        {"Data": key.encode(), "PartitionKey": "same-shard"} for key in KEYS])
    return stream, {key: entry["SequenceNumber"] for key, entry in zip(KEYS, put["Records"], strict=True)}


def dynamodb_source(deployment, kind: str) -> str:
    """A table whose stream holds 8 INSERT records; returns the stream ARN."""
    table = deployment.table(kind, stream="KEYS_ONLY")
    ddb = ob.client("dynamodb")
    for key in KEYS:
        ddb.put_item(TableName=table, Item={"pk": {"S": key}})
    return deployment.stream_arn(table)


def test_kinesis_bisect_sends_only_the_poison_record_to_the_destination(deployment, records):
    stream, sequence = kinesis_source(deployment, "bisectkin")
    failures = deployment.queue("bisectkinfail")
    fn = deployment.function("bisectkin", "probe.handlers.stream_batch", env={"TABLE": records, "KEY": "kin-bisect"})
    deployment.mapping(fn, stream, BatchSize=10, MaximumRetryAttempts=1, BisectBatchOnFunctionError=True,
                       DestinationConfig={"OnFailure": {"Destination": failures.arn}})
    record = ob.wait.messages(failures.url, 1, timeout=60)[0]["Body"]
    batches = wait_processed(records, "kin-bisect", len(GOOD))
    print(f"\nKinesis bisect: {len(batches)} invocations, batches {batches}")
    info = record["KinesisBatchInfo"]
    assert info["batchSize"] == 1 and info["startSequenceNumber"] == info["endSequenceNumber"] == sequence["poison"]
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert processed(batches) == sorted(GOOD)  # each good record processed exactly once
    # 8 -> 4 (ok) + 4 -> 2 (ok) + 2 -> 1 (ok) + 1, then the single poison record's one retry.
    assert [len(b) for b in batches] == [8, 4, 4, 2, 1, 1, 1, 2]
    assert batches[-3:-1] == [["poison"], ["poison"]]


def test_kinesis_without_bisect_sends_the_whole_batch(deployment, records):
    stream, sequence = kinesis_source(deployment, "wholekin")
    failures = deployment.queue("wholekinfail")
    fn = deployment.function("wholekin", "probe.handlers.stream_batch", env={"TABLE": records, "KEY": "kin-whole"})
    deployment.mapping(fn, stream, BatchSize=10, MaximumRetryAttempts=1,
                       DestinationConfig={"OnFailure": {"Destination": failures.arn}})
    record = ob.wait.messages(failures.url, 1, timeout=60)[0]["Body"]
    batches = wait_items(records, "kin-whole", 2)
    print(f"\nKinesis without bisect: {len(batches)} invocations")
    info = record["KinesisBatchInfo"]
    assert (info["batchSize"], info["startSequenceNumber"], info["endSequenceNumber"]) == (
        8, sequence["r0"], sequence["r7"])
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert [b["size"] for b in batches] == [8, 8]  # the first try and one retry, both whole


def test_dynamodb_bisect_with_no_retries_still_isolates_the_poison_record(deployment, records):
    stream = dynamodb_source(deployment, "bisectddb")
    failures = deployment.queue("bisectddbfail")
    fn = deployment.function("bisectddb", "probe.handlers.stream_batch", env={"TABLE": records, "KEY": "ddb-bisect"})
    # MaximumRetryAttempts=0: if a split counted as a retry, the halves would be discarded unsent.
    deployment.mapping(fn, stream, BatchSize=10, MaximumRetryAttempts=0, BisectBatchOnFunctionError=True,
                       DestinationConfig={"OnFailure": {"Destination": failures.arn}})
    record = ob.wait.messages(failures.url, 1, timeout=60)[0]["Body"]
    batches = wait_processed(records, "ddb-bisect", len(GOOD))
    print(f"\nDynamoDB Streams bisect: {len(batches)} invocations, batches {batches}")
    poison_number = next(r["dynamodb"]["SequenceNumber"] for item in items(records, "ddb-bisect")
                         for r in json.loads(item["records"]) if record_key(r) == "poison")
    info = record["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and info["startSequenceNumber"] == info["endSequenceNumber"] == poison_number
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 4  # the batches of 8, 4, 2 and 1 that held it
    assert processed(batches) == sorted(GOOD)
    assert [len(b) for b in batches] == [8, 4, 4, 2, 1, 1, 2]
    assert ["poison"] in batches


def test_dynamodb_without_bisect_sends_the_whole_batch(deployment, records):
    stream = dynamodb_source(deployment, "wholeddb")
    failures = deployment.queue("wholeddbfail")
    fn = deployment.function("wholeddb", "probe.handlers.stream_batch", env={"TABLE": records, "KEY": "ddb-whole"})
    deployment.mapping(fn, stream, BatchSize=10, MaximumRetryAttempts=0,
                       DestinationConfig={"OnFailure": {"Destination": failures.arn}})
    record = ob.wait.messages(failures.url, 1, timeout=60)[0]["Body"]
    print(f"\nDynamoDB Streams without bisect: {len(invocations(records, 'ddb-whole'))} invocation(s)")
    assert record["DDBStreamBatchInfo"]["batchSize"] == 8
    assert [len(b) for b in invocations(records, "ddb-whole")] == [8]
