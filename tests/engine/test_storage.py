"""S3, DynamoDB (conditions, transactions, GSI), DynamoDB Streams and Kinesis on the engine."""

from __future__ import annotations

import json
import os

import pytest

import ocbook as ob
from ocbook.paths import REPO


def test_s3_round_trip_and_store_location(deployment):
    s3 = ob.client("s3")
    bucket = deployment.bucket()
    s3.put_object(Bucket=bucket, Key="a/b.json", Body=b'{"x": 1}')
    assert s3.get_object(Bucket=bucket, Key="a/b.json")["Body"].read() == b'{"x": 1}'
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["a/b.json"]
    if not os.environ.get("AWS_ENDPOINT_URL"):  # the embedded engine keeps objects in its own folder
        run = REPO / ".engine" / "run" / os.environ.get("OCBOOK_ENGINE_PORT", "4566")
        assert (run / "tmp" / "localstack-s3-storage" / bucket).exists()


def test_dynamodb_conditional_write_refuses_second_insert(deployment):
    ddb = ob.client("dynamodb")
    table = deployment.table("cond")
    item = {"pk": {"S": "booking-1"}, "status": {"S": "BOOKED"}}
    ddb.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(TableName=table, Item={**item, "status": {"S": "OTHER"}},
                     ConditionExpression="attribute_not_exists(pk)")
    assert ob.wait.items(table) == [{"pk": "booking-1", "status": "BOOKED"}]


def test_dynamodb_transaction_is_all_or_nothing(deployment):
    ddb = ob.client("dynamodb")
    table = deployment.table("tx")
    ddb.put_item(TableName=table, Item={"pk": {"S": "taken"}})
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "new"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "taken"}},
                     "ConditionExpression": "attribute_not_exists(pk)"}},
        ])
    assert [i["pk"] for i in ob.wait.items(table)] == ["taken"]
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": {"pk": {"S": "a"}}}},
        {"Put": {"TableName": table, "Item": {"pk": {"S": "b"}}}},
    ])
    assert sorted(i["pk"] for i in ob.wait.items(table)) == ["a", "b", "taken"]


def test_dynamodb_gsi_query(deployment):
    ddb = ob.client("dynamodb")
    table = deployment.table("gsi", indexes={"by_trip": "trip"})
    for pk, trip in (("h1", "t1"), ("f1", "t1"), ("h2", "t2")):
        ddb.put_item(TableName=table, Item={"pk": {"S": pk}, "trip": {"S": trip}})
    found = ddb.query(TableName=table, IndexName="by_trip", KeyConditionExpression="trip = :t",
                      ExpressionAttributeValues={":t": {"S": "t1"}})["Items"]
    assert sorted(i["pk"]["S"] for i in found) == ["f1", "h1"]


def stream_records(stream_arn: str) -> list[dict]:
    """Every record of a (single-shard) DynamoDB stream from the start."""
    streams = ob.client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    return streams.get_records(ShardIterator=iterator)["Records"]


def test_dynamodb_streams_insert_modify_remove(deployment):
    ddb = ob.client("dynamodb")
    table = deployment.table("streamed", stream="NEW_AND_OLD_IMAGES")
    key = {"pk": {"S": "k"}}
    ddb.put_item(TableName=table, Item={**key, "v": {"N": "1"}})
    ddb.put_item(TableName=table, Item={**key, "v": {"N": "1"}})  # identical: DynamoDB writes no record
    ddb.put_item(TableName=table, Item={**key, "v": {"N": "2"}})
    ddb.delete_item(TableName=table, Key=key)
    records = ob.wait.until(lambda: stream_records(deployment.stream_arn(table)), lambda r: len(r) >= 3, 10,
                            what="3 stream records")
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    insert, modify, remove = (r["dynamodb"] for r in records)
    assert "OldImage" not in insert and insert["NewImage"]["v"] == {"N": "1"}
    assert modify["OldImage"]["v"] == {"N": "1"} and modify["NewImage"]["v"] == {"N": "2"}
    assert "NewImage" not in remove and remove["OldImage"]["v"] == {"N": "2"}


def test_dynamodb_writes_work_after_stream_disabled(deployment):
    """moto used to answer HTTP 500 to every write after a stream was switched off; the plugin mends it."""
    ddb = ob.client("dynamodb")
    table = deployment.table("unstreamed", stream="NEW_IMAGE")
    ddb.put_item(TableName=table, Item={"pk": {"S": "before"}})
    ddb.update_table(TableName=table, StreamSpecification={"StreamEnabled": False})
    ddb.put_item(TableName=table, Item={"pk": {"S": "after"}})
    assert sorted(i["pk"] for i in ob.wait.items(table)) == ["after", "before"]
    stream = ddb.describe_table(TableName=table)["Table"].get("StreamSpecification", {})
    assert not stream.get("StreamEnabled", False)  # the table no longer reports an enabled stream


def test_kinesis_put_and_get_in_order(deployment):
    kinesis = ob.client("kinesis")
    arn = deployment.stream("kin")
    for n in range(5):
        kinesis.put_record(StreamARN=arn, Data=json.dumps({"n": n}).encode(), PartitionKey="one")
    shard = kinesis.list_shards(StreamARN=arn)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamARN=arn, ShardId=shard,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]

    def read():
        return kinesis.get_records(ShardIterator=iterator, Limit=100)["Records"]

    records = ob.wait.until(read, lambda r: len(r) >= 5, 15, what="5 kinesis records")
    assert [json.loads(r["Data"])["n"] for r in records] == [0, 1, 2, 3, 4]


def test_difference_bad_dynamodb_shard_iterator_is_a_server_error(deployment):
    """Known difference, pinned: moto answers HTTP 500 to a malformed shard iterator; DynamoDB Streams answers 400
    (ValidationException). A valid iterator of the same stream is the positive control."""
    from botocore.exceptions import ClientError

    table = deployment.table("iterated", stream="NEW_IMAGE")
    streams = ob.client("dynamodbstreams")
    arn = deployment.stream_arn(table)
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    good = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert "Records" in streams.get_records(ShardIterator=good)
    with pytest.raises(ClientError) as caught:
        streams.get_records(ShardIterator="not-an-iterator")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
