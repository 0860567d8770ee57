"""Deployment bookkeeping: names and teardown order (no engine needed)."""

import pytest

from ocbook.deploy import Deployment


@pytest.fixture
def deployment():
    d = Deployment("unit")
    yield d
    d.teardown()


def test_names_are_unique_per_call_and_end_with_the_uid(deployment):
    first, second = deployment.name("rule"), deployment.name("rule")
    assert first != second and first.endswith(deployment.uid) and second.endswith(deployment.uid)
    assert len(deployment.name("x" * 100, limit=64)) == 64


def test_two_deployments_never_share_names():
    assert Deployment("same").name("queue") != Deployment("same").name("queue")


def test_teardown_runs_in_reverse_and_collects_failures(deployment):
    done = []

    class NotFoundError(Exception):
        pass

    def missing():
        raise NotFoundError("already gone")

    def broken():
        raise RuntimeError("boom")

    deployment.record("a", "first", lambda: done.append("first"))
    deployment.record("b", "second", broken)
    deployment.record("c", "third", missing)
    deployment.record("d", "fourth", lambda: done.append("fourth"))
    failures = deployment.teardown()
    assert done == ["fourth", "first"]
    assert failures == ["b second: boom"]  # a NotFound during cleanup is not a failure
    assert deployment.teardown() == [] and deployment.created == []


def test_a_stack_is_shown_by_its_templates_name_not_its_unique_name(tmp_path):
    assert Deployment.template_label(tmp_path / "saga-orchestrated.yaml", "saga") == "saga-orchestrated"
    assert Deployment.template_label("saga-durable", "saga") == "saga-durable"
    assert Deployment.template_label({"Resources": {}}, "saga") == "saga"  # a dict has no name: the kind
