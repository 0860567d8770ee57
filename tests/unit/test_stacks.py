"""Stack failures and leftovers, without an engine: which event is the cause, which stacks are whose."""

from __future__ import annotations

import os

import pytest

from ocbook import stacks


def event(resource: str, status: str, reason: str = "", kind: str = "AWS::SQS::Queue") -> dict:
    return {"LogicalResourceId": resource, "ResourceStatus": status, "ResourceStatusReason": reason,
            "ResourceType": kind}


class Cfn:
    """describe_stack_events (newest first, in pages) and describe_stacks of one stack."""

    def __init__(self, events: list[dict], status: dict | None = None):
        self.events, self.status = events, status

    def get_paginator(self, operation):
        return self

    def paginate(self, StackName):
        return [{"StackEvents": self.events[:2]}, {"StackEvents": self.events[2:]}]


def test_the_failure_is_the_oldest_failed_resource_not_the_cancellations_after_it(monkeypatch):
    newest_first = [event("s-1", "ROLLBACK_COMPLETE", kind="AWS::CloudFormation::Stack"),
                    event("Fine", "CREATE_FAILED", "Resource creation cancelled"),
                    event("Table", "CREATE_FAILED", "attribute pk is not defined", "AWS::DynamoDB::Table"),
                    event("Fine", "CREATE_IN_PROGRESS")]
    monkeypatch.setattr(stacks, "client", lambda service: Cfn(newest_first))
    assert stacks.failure("s-1") == "Table (AWS::DynamoDB::Table): attribute pk is not defined"


def test_without_a_failed_resource_the_stack_status_and_its_reason_are_given(monkeypatch):
    monkeypatch.setattr(stacks, "client", lambda service: Cfn([event("Fine", "CREATE_COMPLETE")]))
    monkeypatch.setattr(stacks, "describe", lambda name: {"StackStatus": "ROLLBACK_COMPLETE",
                                                          "StackStatusReason": "Transform failed"})
    assert stacks.failure("s-1") == "ROLLBACK_COMPLETE: Transform failed"


def listed(*entries: tuple[str, str, str, int, str]) -> list[dict]:
    """Stacks as describe_stacks lists them: (name, deployment, kind, pid, status)."""
    return [{"StackName": name, "StackStatus": status,
             "Tags": [{"Key": stacks.TAG_DEPLOYMENT, "Value": prefix}, {"Key": stacks.TAG_KIND, "Value": kind},
                      {"Key": stacks.TAG_PID, "Value": str(pid)}]} for name, prefix, kind, pid, status in entries]


DEAD = 2**22 + 12345  # above the kernel's default pid_max: no process has it


def test_leftovers_are_this_deployments_stacks_with_whether_their_process_runs(monkeypatch):
    assert not stacks.alive(DEAD) and stacks.alive(os.getpid())  # positive control for the pids below
    monkeypatch.setattr(stacks, "listed", lambda: listed(
        ("old", "ch04", "saga", DEAD, "CREATE_COMPLETE"), ("mine", "ch04", "saga", os.getpid(), "CREATE_COMPLETE"),
        ("other-kind", "ch04", "orders", DEAD, "ROLLBACK_COMPLETE"), ("other", "ch05", "saga", DEAD, "CREATE_COMPLETE"),
        ("gone", "ch04", "saga", DEAD, "DELETE_COMPLETE")))
    assert stacks.leftovers("ch04", "saga") == [("old", False), ("mine", True)]
    assert stacks.leftovers("ch04") == [("old", False), ("mine", True), ("other-kind", False)]


def test_clearing_deletes_dead_runs_stacks_reports_live_ones_and_goes_on_past_one_that_stays(monkeypatch, capsys):
    monkeypatch.setattr(stacks, "listed", lambda: listed(
        ("old", "ch04", "saga", DEAD, "CREATE_COMPLETE"), ("stays", "ch04", "saga", DEAD, "DELETE_FAILED"),
        ("live", "ch04", "saga", os.getpid(), "CREATE_COMPLETE"), ("own", "ch04", "saga", DEAD, "CREATE_COMPLETE")))
    deleted = []

    def delete(name):
        if name == "stays":
            raise stacks.StackFailed("stack stays could not be deleted: Bucket (AWS::S3::Bucket): not empty")
        deleted.append(name)

    monkeypatch.setattr(stacks, "delete", delete)
    assert stacks.clear_leftovers("ch04", exclude=("own",)) == ["old"]
    out = capsys.readouterr().out
    assert "stack stays could not be deleted: Bucket (AWS::S3::Bucket): not empty; retry with " \
           "`aws cloudformation delete-stack --stack-name stays`" in out
    assert "stack live of deployment 'ch04' belongs to a running process; left alone" in out
    assert deleted == ["old"]


def test_no_cloudformation_on_the_engine_is_one_line_saying_what_to_do(monkeypatch):
    class Off:
        class exceptions:
            ClientError = RuntimeError

        def get_paginator(self, operation):
            return self

        def paginate(self):
            raise RuntimeError("Service 'cloudformation' is not enabled")

    monkeypatch.setattr(stacks, "client", lambda service: Off())
    with pytest.raises(stacks.StackFailed, match="add cloudformation to its SERVICES"):
        stacks.listed()
