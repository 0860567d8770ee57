"""The booking services and the saga definition, without an engine."""

from __future__ import annotations

import pytest

from booking import core, definition


class ConditionFailed(Exception):
    pass


class FakeTable:
    """put_item (attribute_not_exists), get_item and update_item (ADD counter / SET status), in memory."""

    def __init__(self):
        self.items: dict[str, dict] = {}
        self.meta = type("M", (), {"client": type("C", (), {"exceptions": type("E", (), {
            "ConditionalCheckFailedException": ConditionFailed})})})

    def put_item(self, Item, ConditionExpression=None):
        if ConditionExpression and Item["pk"] in self.items:
            raise ConditionFailed()
        self.items[Item["pk"]] = dict(Item)

    def get_item(self, Key, ConsistentRead=False):
        return {"Item": self.items[Key["pk"]]}

    def update_item(self, Key, UpdateExpression, ExpressionAttributeValues, ReturnValues,
                    ExpressionAttributeNames=None):
        old = dict(self.items.get(Key["pk"], {}))
        item = self.items.setdefault(Key["pk"], dict(Key))
        if UpdateExpression.startswith("ADD"):
            item["n"] = item.get("n", 0) + 1
            return {"Attributes": {"n": item["n"]}}
        item.update(status=ExpressionAttributeValues[":cancelled"], at=ExpressionAttributeValues[":at"])
        return {"Attributes": old} if old else {}


@pytest.fixture
def table():
    return FakeTable()


def test_booking_is_idempotent(table):
    first = core.book(table, "hotel", {"trip_id": "t"})
    assert core.book(table, "hotel", {"trip_id": "t"})["booking_id"] == first["booking_id"]
    assert table.items["t"]["status"] == "BOOKED"


def test_permanent_and_transient_failures(table):
    with pytest.raises(core.BookingFailed):
        core.book(table, "car", {"trip_id": "t", "fail": {"car": "permanent"}})
    trip = {"trip_id": "u", "fail": {"car": "transient"}}
    with pytest.raises(core.ServiceUnavailable):
        core.book(table, "car", trip)
    assert core.book(table, "car", trip)["status"] == "BOOKED"  # the retry succeeds


def test_cancel_before_book_refuses_the_late_booking(table):
    assert core.cancel(table, "flight", {"trip_id": "t"}) == {"pk": "t", "status": "CANCELLED", "was": "NONE"}
    with pytest.raises(core.AlreadyCancelled):
        core.book(table, "flight", {"trip_id": "t"})


def test_cancel_is_repeatable_and_can_be_made_to_fail(table):
    core.book(table, "hotel", {"trip_id": "t"})
    assert core.cancel(table, "hotel", {"trip_id": "t"})["was"] == "BOOKED"
    assert core.cancel(table, "hotel", {"trip_id": "t"})["was"] == "CANCELLED"
    with pytest.raises(core.CancellationFailed):
        core.cancel(table, "hotel", {"trip_id": "x", "fail": {"hotel": "cancel-broken"}})
    flaky = {"trip_id": "y", "fail": {"hotel": "cancel-transient"}}
    with pytest.raises(core.CancellationFailed):
        core.cancel(table, "hotel", flaky)
    assert core.cancel(table, "hotel", flaky)["status"] == "CANCELLED"


@pytest.fixture
def asl():
    return definition.saga({s: f"arn:aws:lambda:us-east-1:000000000000:function:{s}" for s in definition.STEPS},
                           "trips", "http://q/alerts", "http://q/approvals")


def test_definition_is_closed_and_every_state_reachable(asl):
    states = asl["States"]
    targets = {asl["StartAt"]}
    for state in states.values():
        targets |= {state.get("Next"), state.get("Default")} - {None}
        targets |= {c["Next"] for c in state.get("Catch", []) + state.get("Choices", [])}
    assert targets == set(states)


def test_compensations_run_in_reverse_from_the_failed_step(asl):
    states = asl["States"]

    def chain(start):
        order, current = [], start
        while current.startswith("Cancel"):
            order.append(current)
            current = states[current]["Next"]
        return order

    assert [states[f"Book{s.capitalize()}"]["Catch"][0]["Next"] for s in definition.STEPS] == [
        "CancelHotel", "CancelFlight", "CancelCar"]
    assert chain("CancelCar") == ["CancelCar", "CancelFlight", "CancelHotel"]


def test_retriers_follow_the_asl_rules(asl):
    for state in asl["States"].values():
        for retrier in state.get("Retry", []):
            assert "States.ALL" not in retrier["ErrorEquals"] or retrier["ErrorEquals"] == ["States.ALL"]
            assert retrier.get("JitterStrategy", "NONE") in ("FULL", "NONE")
            assert retrier["MaxAttempts"] >= 0 and retrier["BackoffRate"] >= 1.0
        for catcher in state.get("Catch", []):
            assert "ResultPath" in catcher  # keep the trip, add the error
    book_hotel = asl["States"]["BookHotel"]["Retry"][0]
    assert (book_hotel["IntervalSeconds"], book_hotel["MaxAttempts"], book_hotel["BackoffRate"],
            book_hotel["MaxDelaySeconds"], book_hotel["JitterStrategy"]) == (1, 3, 2.0, 4, "FULL")


def test_without_approvals_there_is_no_callback_state():
    plain = definition.saga({s: s for s in definition.STEPS}, "trips", "q")
    assert "ApprovePayment" not in plain["States"] and plain["States"]["BookCar"]["Next"] == "RecordConfirmed"
