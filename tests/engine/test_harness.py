"""The comparison harness: it measures real runs and it does find a planted inconsistency."""

from __future__ import annotations

import ocbook as ob
from ocbook import harness


def test_plan_is_seeded_and_the_same_for_both_styles():
    settings = harness.Settings(trips=20, permanent=0.5, transient=0.3, duplicates=0.2, seed=3)
    first, second = harness.plan(settings, "a"), harness.plan(settings, "b")
    assert [t["fail"] for t in first] == [t["fail"] for t in second]
    assert any(t["duplicate"] for t in first) and any(t["fail"] for t in first)
    assert all(list(t["fail"].values()).count("permanent") <= 1 for t in first)


def test_a_small_run_is_measured_and_consistent(engine):
    result = harness.run_style("choreographed", harness.Settings(trips=4, concurrency=2, permanent=0.5, seed=5),
                               progress=False)
    assert result.violations == []
    assert result.summary["trips"] == 4 and result.summary["confirmed"] + result.summary["cancelled"] == 4
    assert (result.trips["latency_s"] > 0).all() and (result.trips["invocations"] >= 2).all()


def test_a_planted_violation_is_found(engine):
    with ob.Deployment("t-harness") as deployment:
        saga = harness.deploy("orchestrated", deployment)
        ob.stepfunctions.run(saga.state_machine, {"trip_id": "x-1", "amount": 1, "fail": {"car": "permanent"}})
        clean = ob.saga.violations(ob.saga.bookings(saga, ["x-1"]))
        ob.client("dynamodb").put_item(TableName=saga.tables["flight"],  # plant: a seat left booked
                                       Item={"pk": {"S": "x-1"}, "status": {"S": "BOOKED"}})
        planted = ob.saga.violations(ob.saga.bookings(saga, ["x-1"]))
    assert clean == []
    assert planted == ["x-1: CANCELLED but flight still booked"]
