"""The SAM templates under templates/ deploy on the engine as CloudFormation stacks, work, and leave nothing.

Each test prints how long its stack took to create and to delete (`pytest -s` shows them).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

import ocbook as ob
from ocbook import saga, stacks, templates

BROKEN_TABLE = {"Resources": {
    "Fine": {"Type": "AWS::SQS::Queue", "Properties": {}},
    "Broken": {"Type": "AWS::DynamoDB::Table", "Properties": {
        "BillingMode": "PAY_PER_REQUEST", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "other", "AttributeType": "S"}]}}}}


class Timed:
    """A deployment holding one stack, timing its creation and its deletion."""

    def __init__(self, prefix: str):
        self.deployment = ob.Deployment(prefix)
        self.created = self.deleted = 0.0
        self.name = ""

    def stack(self, template) -> dict[str, str]:
        began = time.monotonic()
        outputs = self.deployment.stack("stack", template, progress=False)
        self.created = time.monotonic() - began
        (self.name,) = self.deployment.stacks
        return outputs

    def teardown(self, label: str) -> list[str]:
        """Delete everything; print the timings; return what the stack left behind."""
        began = time.monotonic()
        assert self.deployment.teardown() == []
        self.deleted = time.monotonic() - began
        print(f"\n{label}: stack created in {self.created:.1f} s, deleted in {self.deleted:.1f} s")
        return stacks.remains(self.name)


TRIPS = [{"trip_id": "ok", "amount": 100},
         {"trip_id": "no-car", "amount": 100, "fail": {"car": "permanent"}},           # compensates
         {"trip_id": "flaky-hotel", "amount": 100, "fail": {"hotel": "transient"}},     # a retry books it
         {"trip_id": "stuck", "amount": 100, "fail": {"car": "permanent", "hotel": "cancel-broken"}}]  # alert


@pytest.mark.parametrize("style", ["orchestrated", "choreographed"])
def test_saga_template_runs_trips_compensates_alerts_and_deletes_cleanly(engine, style):
    timed = Timed(f"t-tmpl-{style[:5]}")
    try:
        kind = ob.styles.get(style)
        deployed = kind.from_stack(timed.deployment, timed.stack(kind.template_name), stack_name=timed.name)
        assert timed.deployment.created and stacks.remains(timed.name)  # positive control for the check below
        ids = [trip["trip_id"] for trip in TRIPS]
        for trip in TRIPS:
            deployed.request(trip)
        finals = deployed.wait_final(ids[:3], timeout=60)
        alerts = ob.wait.messages(deployed.alerts.url, 1, timeout=60)
        table = saga.bookings(deployed, ids)
    finally:
        left = timed.teardown(f"saga-{style}")
    assert finals == {"ok": "CONFIRMED", "no-car": "CANCELLED", "flaky-hotel": "CONFIRMED"}
    assert table.loc["no-car", "hotel"] == table.loc["no-car", "flight"] == "CANCELLED"
    assert "stuck" in json.dumps(alerts)  # the compensation that failed reached a human's queue
    # The state machine goes on and closes the trip; in the choreography the hotel never says HotelCancelled,
    # so nobody closes it (chapter 5).
    closed = "CANCELLED" if style == "orchestrated" else "-"
    assert saga.violations(table, alerted={"stuck"}) == [
        f"stuck: {closed} but hotel still booked (alerted: waiting for a human)"]
    assert left == []


@pytest.mark.parametrize("style", ["orchestrated", "choreographed"])
def test_a_stack_deployed_saga_adds_a_step_by_updating_its_stack(engine, style):
    """add_step on a saga deployed from its template updates the stack to the template for four steps; the
    choreography's existing rules must then route the new step's events, and deleting the stack deletes what
    the update added (both mended in ocbook_engine.cloudformation)."""
    trips = [{"trip_id": "ins-ok", "amount": 100},
             {"trip_id": "ins-fails", "amount": 100, "fail": {"insurance": "permanent"}}]  # undoes the other three
    with ob.Deployment(f"t-tmpl-add-{style[:5]}") as deployment:
        deployed = ob.styles.get(style).deploy(deployment, progress=False)
        before = deployed.wiring()
        began = time.monotonic()
        deployed.add_step("insurance")
        took = time.monotonic() - began
        change = saga.changes(before, deployed.wiring())
        for trip in trips:
            deployed.request(trip)
        finals = deployed.wait_final([t["trip_id"] for t in trips], timeout=60)
        table = saga.bookings(deployed, [t["trip_id"] for t in trips])
        added = [r for r in stacks.remains(deployed.stack) if "Insurance" in r]  # control for `left` below
    left = stacks.remains(deployed.stack)  # the teardown deleted the stack: what the update added went too
    print(f"\n{style}: add_step as a stack update in {took:.1f} s")
    assert len(added) >= 3 and left == []
    assert deployed.stack and list(deployed.tables) == ["hotel", "flight", "car", "insurance"]
    assert finals == {"ins-ok": "CONFIRMED", "ins-fails": "CANCELLED"}
    assert table.loc["ins-ok"].tolist() == ["BOOKED"] * 4 + ["CONFIRMED"]
    assert table.loc["ins-fails", ["hotel", "flight", "car"]].tolist() == ["CANCELLED"] * 3
    if style == "choreographed":  # the car (and the trip service) learnt the insurance's events
        assert {"rule car", "function car", "rule trip"} <= set(change["modified"])
        assert {"rule insurance", "function insurance"} <= set(change["added"])
    else:  # only the definition changed
        assert "state BookInsurance" in change["added"] and not any(k.startswith("function") for k in change["added"])


def test_orders_orchestrated_template_ships_and_fails(engine):
    timed = Timed("t-tmpl-ordo")
    try:
        machine = timed.stack("orders-orchestrated")["StateMachineArn"]
        shipped = ob.stepfunctions.run(machine, {"order_id": "o-1", "items": [{"sku": "book"}], "amount": 30})
        declined = ob.stepfunctions.run(machine, {"order_id": "o-2", "items": [{"sku": "book"}], "amount": 5000})
    finally:
        left = timed.teardown("orders-orchestrated")
    assert shipped["status"] == "SUCCEEDED" and shipped["output"]["shipment"]["tracking_id"] == "trk-o-1"
    assert declined["status"] == "FAILED"
    assert left == []


def test_orders_choreographed_template_passes_the_order_along(engine):
    timed = Timed("t-tmpl-ordc")
    try:
        outputs = timed.stack("orders-choreographed")
        order = {"order_id": "o-3", "items": [{"sku": "book"}], "amount": 30}
        ob.client("events").put_events(Entries=[{"EventBusName": outputs["EventBusName"], "Source": "book.orders",
                                                 "DetailType": "OrderPlaced", "Detail": json.dumps(order)}])
        seen = ob.wait.messages(outputs["TrailQueueUrl"], 4, timeout=60)
    finally:
        left = timed.teardown("orders-choreographed")
    assert {m["Body"]["detail-type"] for m in seen} == {"OrderPlaced", "StockReserved", "PaymentTaken", "OrderShipped"}
    assert left == []


def test_a_failing_stack_names_the_resource_and_its_reason(engine):
    with ob.Deployment("t-tmpl-bad") as deployment:
        with pytest.raises(stacks.StackFailed) as failed:
            deployment.stack("broken", BROKEN_TABLE, progress=False)
        (name,) = [n for kind, n in deployment.created if kind == "stack"]
    message = str(failed.value)
    assert "Broken (AWS::DynamoDB::Table)" in message and "AttributeDefinitions" in message
    assert "Fine" not in message
    assert stacks.describe(name) is None  # teardown deleted the failed stack too


def test_a_stack_left_by_an_interrupted_run_is_deleted_by_the_next_run(engine):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    dead_pid = gone.stdout.strip()  # a process that has ended: the "interrupted run"
    queue_only = {"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {}}}}
    left = {}  # kind -> a stack of that kind left by the dead process
    for kind in ("stack", "other"):
        left[kind] = f"t-tmpl-left-{kind}-{time.time_ns() % 10**6}"
        tags = [t if t["Key"] != stacks.TAG_PID else {**t, "Value": dead_pid} for t in stacks.tags("t-tmpl-left", kind)]
        stacks.create(left[kind], queue_only, None, tags)
    old, other = left["stack"], left["other"]
    try:
        for name in left.values():
            stacks.wait_created(name, progress=False)
        assert (old, False) in stacks.leftovers("t-tmpl-left", "stack")  # positive control
        with ob.Deployment("t-tmpl-left") as deployment:
            deployment.stack("stack", queue_only, progress=False)
            assert stacks.describe(old) is None  # the same kind: deleted before ours is created
            assert [live for _, live in stacks.leftovers("t-tmpl-left", "stack")] == [True]  # ours: left alone
            assert stacks.describe(other) is not None  # another kind: still there until the teardown
        assert stacks.describe(other) is None  # the teardown of the same deployment name deleted it
    finally:
        for name in left.values():
            if stacks.describe(name):
                stacks.delete(name)
    assert templates.FOLDER.is_dir()


def rule_template(types: list[str], queue: str = "Q", name: str | None = None) -> dict:
    """A bus, two queues, and a rule on the bus sending the given detail types to one of the queues."""
    rule = {"EventBusName": {"Ref": "Bus"}, "EventPattern": {"detail-type": types},
            "Targets": [{"Id": queue.lower(), "Arn": {"Fn::GetAtt": [queue, "Arn"]}}]}
    if name:
        rule["Name"] = name
    return {"Resources": {
        "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": {"Fn::Sub": "${AWS::StackName}-bus"}}},
        "Q": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "Q2": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "R": {"Type": "AWS::Events::Rule", "Properties": rule}},
        "Outputs": {"Rule": {"Value": {"Ref": "R"}}, "RuleArn": {"Value": {"Fn::GetAtt": ["R", "Arn"]}},
                    "Bus": {"Value": {"Ref": "Bus"}},
                    "Q": {"Value": {"Ref": "Q"}}, "Q2": {"Value": {"Ref": "Q2"}}}}


def test_an_updated_rule_routes_by_its_new_pattern_to_its_new_targets(engine):
    """AWS updates a rule's EventPattern and Targets in place and replaces it when its Name changes
    ("Update requires: No interruption" / "Replacement"); the engine's plugin (ocbook_engine.cloudformation) gives
    LocalStack's AWS::Events::Rule provider that update (without it the stack said UPDATE_COMPLETE and the rule
    kept its old pattern)."""
    events = ob.client("events")

    def send(bus: str, *types: str) -> None:
        events.put_events(Entries=[{"EventBusName": bus, "Source": "t", "DetailType": kind, "Detail": "{}"}
                                   for kind in types])

    def kinds(queue_url: str, count: int) -> list[str]:
        return sorted(m["Body"]["detail-type"] for m in ob.wait.messages(queue_url, count, timeout=30))

    with ob.Deployment("t-tmpl-upd") as deployment:
        first = deployment.stack("rule", rule_template(["A"]), progress=False)
        (name,) = deployment.stack_names()
        rule = first["Rule"].split("|")[-1]
        send(first["Bus"], "B", "A")
        before = kinds(first["Q"], 1)  # positive control: A arrives ...
        stray = ob.wait.drain(first["Q"], quiet_for=1.5)  # ... and B, not in the pattern yet, does not
        updated = deployment.update_stack(name, rule_template(["A", "B"], queue="Q2"), progress=False)
        targets = events.list_targets_by_rule(Rule=rule, EventBusName=first["Bus"])["Targets"]
        send(first["Bus"], "B")
        after = kinds(first["Q2"], 1)
        renamed = deployment.update_stack(name, rule_template(["A", "B"], queue="Q2", name=f"{name}-renamed"),
                                          progress=False)
        names = [r["Name"] for r in events.list_rules(EventBusName=first["Bus"])["Rules"]]
    assert before == ["A"] and stray == []
    assert updated["RuleArn"] == first["RuleArn"]  # in place: the same rule
    assert [t["Id"] for t in targets] == ["q2"]  # the old target removed, the new one put
    assert after == ["B"]
    assert renamed["RuleArn"] != first["RuleArn"] and names == [f"{name}-renamed"]  # replaced: the old one gone
