"""Forward recovery with a pivot (the flight: a non-refundable fare), in both saga styles.

A step after the pivot that fails for good must not undo the pivot: the saga stops, alerts a human on the alert
queue and marks the trip NEEDS_ATTENTION. A failure at the pivot (before it is booked) still compensates.
"""

from __future__ import annotations

import pytest

import ocbook as ob
from ocbook import saga_failures

TRIPS = {"fwd-gone": {"car": "permanent"},       # after the pivot: no car at any price
         "fwd-pivot": {"flight": "permanent"}}   # control: the pivot itself fails, the hotel is undone


@pytest.fixture(scope="module")
def pivoted(deployment):
    """Both styles deployed (as their stacks) with the flight as the pivot, plus the JSONata state machine."""
    sagas = {"orchestrated": ob.styles.Orchestrated.deploy(deployment, pivot="flight", progress=False),
             "jsonata": ob.styles.Orchestrated.deploy(deployment, pivot="flight", jsonata=True, stack=False),
             "choreographed": ob.styles.Choreographed.deploy(deployment, pivot="flight", progress=False)}
    for saga in sagas.values():
        for trip_id, fail in TRIPS.items():
            saga.request({"trip_id": trip_id, "amount": 10, "fail": fail})
    return sagas


@pytest.mark.parametrize("style", ["orchestrated", "jsonata", "choreographed"])
def test_a_failure_after_the_pivot_keeps_the_pivot_alerts_and_needs_attention(pivoted, style):
    saga = pivoted[style]
    alerts = saga_failures.alerts(saga, 1, timeout=60)
    final = saga.wait_final(list(TRIPS), timeout=90)
    table = ob.saga.bookings(saga, list(TRIPS))
    assert [(a["trip"], a["service"], a["error"]) for a in alerts] == [("fwd-gone", "car", "BookingFailed")]
    assert alerts[0]["condition"].startswith("booking failed after the pivot")
    assert final == {"fwd-gone": "NEEDS_ATTENTION", "fwd-pivot": "CANCELLED"}
    assert table.loc["fwd-gone", ["hotel", "flight"]].tolist() == ["BOOKED", "BOOKED"]  # nothing undone
    assert saga_failures.refunds(saga, "fwd-gone") == 0
    assert table.loc["fwd-pivot", "hotel"] == "CANCELLED" and saga_failures.refunds(saga, "fwd-pivot") == 1
    assert ob.wait.drain(saga.alerts.url, quiet_for=1.0) == []  # one alert, not one per retry
    assert ob.saga.violations(table, alerted={"fwd-gone"}) == []
    unalerted = ob.saga.violations(table)  # control: the same state with nobody told is a violation
    assert unalerted == ["fwd-gone: NEEDS_ATTENTION but no human was alerted (hotel, flight booked)"]


def test_the_state_machine_escalates_instead_of_cancelling(pivoted):
    saga = pivoted["orchestrated"]
    definition = saga.definition["States"]
    assert definition["BookCar"]["Catch"][0]["Next"] == "EscalateCar"
    assert definition["BookFlight"]["Catch"][0]["Next"] == "CancelFlight"  # the pivot still compensates
    assert definition["TripNeedsAttention"] == {"Type": "Fail", "Error": "TripNeedsAttention",
                                                "Cause": "a booking after the pivot failed; a human was alerted"}


def test_when_the_redrives_run_out_the_choreographed_step_is_stuck_not_undone(deployment):
    saga = ob.styles.Choreographed.deploy(deployment, pivot="flight", stack=False)
    lam = ob.clients.client("lambda")
    config = lam.get_function_event_invoke_config(FunctionName=saga.functions["car"].name)
    redrive = config["DestinationConfig"]["OnFailure"]["Destination"]  # no rounds left: it gives up at once
    env = lam.get_function_configuration(FunctionName=redrive)["Environment"]["Variables"]
    lam.update_function_configuration(FunctionName=redrive, Environment={"Variables": {**env, "MAX_REDRIVES": "0"}})
    lam.get_waiter("function_updated_v2").wait(FunctionName=redrive)
    saga.request({"trip_id": "fwd-down", "amount": 10, "fail": {"car": "outage"}})
    alerts = saga_failures.alerts(saga, 1, timeout=90)
    assert saga.wait_final(["fwd-down"]) == {"fwd-down": "NEEDS_ATTENTION"}
    assert [(a["trip"], a["service"], a["error"]) for a in alerts] == [
        ("fwd-down", "car", "ServiceUnavailable after 0 redrive rounds")]
    table = ob.saga.bookings(saga, ["fwd-down"])
    assert table.loc["fwd-down", ["hotel", "flight", "car"]].tolist() == ["BOOKED", "BOOKED", "-"]
    assert saga_failures.attempts(saga, "fwd-down")["car"] == 3  # Lambda's own attempts, no redrive round
