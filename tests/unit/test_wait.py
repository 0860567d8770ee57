"""Waiting and reading: poll/until, and readers that return every page."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.stub import Stubber

from ocbook import wait


def test_poll_returns_the_first_truthy_value():
    answers = iter([None, 0, "", "ready"])
    assert wait.poll(lambda: next(answers), timeout=5, interval=0) == "ready"


def test_poll_times_out_with_what_it_waited_for():
    began = time.monotonic()
    with pytest.raises(wait.WaitTimeout, match=r"timed out after 0.2 s waiting for the moon"):
        wait.poll(lambda: False, timeout=0.2, interval=0.05, what="the moon")
    assert time.monotonic() - began >= 0.2


def test_until_returns_the_value_that_satisfied_the_check():
    values = iter([1, 2, 3, 4])
    assert wait.until(lambda: next(values), lambda v: v >= 3, timeout=5, interval=0) == 3


def stubbed(service: str, monkeypatch) -> tuple:
    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t",
                          endpoint_url="http://127.0.0.1:4566")
    monkeypatch.setattr(wait, "client", lambda name: client)
    return client, Stubber(client)


def test_items_reads_every_page_of_a_scan(monkeypatch):
    ddb, stub = stubbed("dynamodb", monkeypatch)
    first = {"TableName": "t", "ConsistentRead": True}
    stub.add_response("scan", {"Items": [{"pk": {"S": "a"}, "n": {"N": "1"}}], "LastEvaluatedKey": {"pk": {"S": "a"}}},
                      first)
    stub.add_response("scan", {"Items": [{"pk": {"S": "b"}, "n": {"N": "2"}}]},
                      {**first, "ExclusiveStartKey": {"pk": {"S": "a"}}})
    with stub:
        assert wait.items("t") == [{"pk": "a", "n": 1}, {"pk": "b", "n": 2}]
        stub.assert_no_pending_responses()


def test_items_with_a_count_waits_for_enough(monkeypatch):
    ddb, stub = stubbed("dynamodb", monkeypatch)
    stub.add_response("scan", {"Items": [{"pk": {"S": "a"}}]}, {"TableName": "t", "ConsistentRead": True})
    stub.add_response("scan", {"Items": [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}]},
                      {"TableName": "t", "ConsistentRead": True})
    with stub:
        assert [i["pk"] for i in wait.items("t", count=2, timeout=5)] == ["a", "b"]


def test_log_lines_read_every_stream_and_every_page(monkeypatch):
    logs, stub = stubbed("logs", monkeypatch)
    group = "/aws/lambda/f"
    stub.add_response("describe_log_streams", {"logStreams": [{"logStreamName": "s1"}], "nextToken": "n"},
                      {"logGroupName": group})
    stub.add_response("describe_log_streams", {"logStreams": [{"logStreamName": "s2"}]},
                      {"logGroupName": group, "nextToken": "n"})
    head = {"logGroupName": group, "logStreamName": "s1", "startFromHead": True}
    stub.add_response("get_log_events", {"events": [{"message": "one\n"}], "nextForwardToken": "f1"}, head)
    stub.add_response("get_log_events", {"events": [{"message": "two\n"}], "nextForwardToken": "f2"},
                      {**head, "nextToken": "f1"})
    stub.add_response("get_log_events", {"events": [], "nextForwardToken": "f2"}, {**head, "nextToken": "f2"})
    stub.add_response("get_log_events", {"events": [{"message": "three"}], "nextForwardToken": "g1"},
                      {**head, "logStreamName": "s2"})
    stub.add_response("get_log_events", {"events": [], "nextForwardToken": "g1"},
                      {**head, "logStreamName": "s2", "nextToken": "g1"})
    with stub:
        assert wait.log_lines("f") == ["one", "two", "three"]
        stub.assert_no_pending_responses()


def test_parse_keeps_non_json_as_text():
    assert wait.parse('{"a": 1}') == {"a": 1} and wait.parse("plain") == "plain"


def fake_clock(monkeypatch) -> list[float]:
    """time.monotonic() reads the list's value; time.sleep() advances it."""
    now = [0.0]
    monkeypatch.setattr(wait.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(wait.time, "sleep", lambda seconds: now.__setitem__(0, now[0] + seconds))
    return now


def test_steady_needs_the_condition_to_hold_for_the_whole_quiet_period(monkeypatch):
    now = fake_clock(monkeypatch)
    readings = iter([True, True, False] + [True] * 20)  # one reading a second
    wait.steady(lambda: next(readings), quiet_for=3, timeout=50, interval=1)
    assert now[0] == 6  # the False at t=2 restarted the period: True from t=3, held until t=6


def test_steady_times_out_when_the_condition_keeps_flickering(monkeypatch):
    fake_clock(monkeypatch)
    flicker = iter([True, False] * 100)
    with pytest.raises(wait.WaitTimeout, match="for 3 s in a row"):
        wait.steady(lambda: next(flicker), quiet_for=3, timeout=20, interval=1)
