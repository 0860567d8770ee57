"""The booking services and the saga definition, without an engine."""

from __future__ import annotations

import json

import pytest

from booking import contract, core, definition, naive


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
        return {"Item": self.items[Key["pk"]]} if Key["pk"] in self.items else {}

    def update_item(self, Key, UpdateExpression, ExpressionAttributeValues, ReturnValues="NONE",
                    ExpressionAttributeNames=None, ConditionExpression=None):
        item = self.items.get(Key["pk"])
        if UpdateExpression.startswith("ADD n"):  # attempt counter
            item = self.items.setdefault(Key["pk"], dict(Key))
            item["n"] = item.get("n", 0) + 1
            return {"Attributes": {"n": item["n"]}}
        if ConditionExpression == "#s = :booked" and (not item or item["status"] != "BOOKED"):
            raise ConditionFailed()
        item = self.items.setdefault(Key["pk"], dict(Key))
        item["status"] = ExpressionAttributeValues.get(":cancelled") or ExpressionAttributeValues.get(":c") \
            or ExpressionAttributeValues[":booked"]
        for counter in ("refunds", "bookings"):
            if f"ADD {counter}" in UpdateExpression:
                item[counter] = item.get(counter, 0) + 1
        return {"Attributes": dict(item)}


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
    assert table.items["t"]["refunds"] == 1  # refunded once, however often cancelled
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


def test_booking_tasks_retry_lambda_service_errors_in_both_query_languages(asl):
    jsonata = definition.saga_jsonata({s: s for s in definition.STEPS}, "trips", "q")
    for machine in (asl, jsonata):
        for step in definition.STEPS:
            retried = [e for r in machine["States"][f"Book{step.capitalize()}"]["Retry"] for e in r["ErrorEquals"]]
            assert {"Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"} <= set(retried)
            assert "BookingFailed" not in retried and "States.ALL" not in retried  # control: business errors compensate


def test_without_approvals_there_is_no_callback_state():
    plain = definition.saga({s: s for s in definition.STEPS}, "trips", "q")
    assert "ApprovePayment" not in plain["States"] and plain["States"]["BookCar"]["Next"] == "RecordConfirmed"


def test_naive_services_double_book_double_refund_and_lose_early_cancels(table):
    naive.book(table, "flight", {"trip_id": "t"})
    naive.book(table, "flight", {"trip_id": "t"})
    assert table.items["t"]["bookings"] == 2
    naive.cancel(table, "flight", {"trip_id": "t"})
    naive.cancel(table, "flight", {"trip_id": "t"})
    assert table.items["t"]["refunds"] == 2
    assert naive.cancel(table, "flight", {"trip_id": "early"}) == {"status": "NOTHING_TO_CANCEL"}
    naive.book(table, "flight", {"trip_id": "early"})
    assert table.items["early"]["status"] == "BOOKED"


def test_contract_is_consistent():
    emitted = set(contract.EMITS.values())
    for service, reactions in contract.REACTIONS.items():
        for event in reactions:
            assert event == "TripRequested" or event in emitted, f"{service} waits for {event}, which nobody emits"
    consumed = {event for reactions in contract.REACTIONS.values() for event in reactions}
    assert emitted - consumed == {"TripConfirmed", "TripCancelled"}  # only the final events end the flow


def test_choreographed_handler_emits_per_contract(monkeypatch):
    from booking import choreographed

    tables = {"TABLE": FakeTable(), "TRIPS_TABLE": FakeTable()}
    published = []
    monkeypatch.setattr(choreographed, "table", lambda variable: tables[variable])
    monkeypatch.setattr(choreographed, "publish", lambda kind, detail, source: published.append(kind))
    monkeypatch.setattr(choreographed.trace, "record", lambda *args, **kwargs: None)
    monkeypatch.setenv("SERVICE", "flight")
    event = {"detail-type": "HotelBooked", "detail": {"trip_id": "t"}}
    choreographed.handler(event, None)
    refused = {"trip_id": "u", "fail": {"flight": "permanent"}}
    choreographed.handler({"detail-type": "HotelBooked", "detail": refused}, None)
    choreographed.handler({"detail-type": "CarBookingFailed", "detail": {"trip_id": "t"}}, None)
    assert published == ["FlightBooked", "FlightBookingFailed", "FlightCancelled"]
    with pytest.raises(core.ServiceUnavailable):
        flaky = {"trip_id": "v", "fail": {"flight": "transient"}}
        choreographed.handler({"detail-type": "HotelBooked", "detail": flaky}, None)
    monkeypatch.setenv("SERVICE", "trip")
    choreographed.handler({"detail-type": "CarBooked", "detail": {"trip_id": "t"}}, None)
    assert tables["TRIPS_TABLE"].items["t"]["status"] == "CONFIRMED" and published[-1] == "TripConfirmed"


def test_adding_a_step_changes_only_its_neighbours_and_the_trip_service():
    before, after = contract.reactions(), contract.reactions(("hotel", "flight", "car", "insurance"))
    changed = {s for s in before if before[s] != after[s]}
    assert changed == {"flight", "car", "trip"} and set(after) - set(before) == {"insurance"}
    assert after["trip"]["InsuranceBooked"] == "confirm" and after["car"]["InsuranceBookingFailed"] == "cancel"


def test_definition_over_four_steps_compensates_all_in_reverse():
    steps = ("hotel", "flight", "car", "insurance")
    asl = definition.saga({s: s for s in steps}, "trips", "q", steps=steps)
    assert asl["States"]["BookCar"]["Next"] == "BookInsurance"
    assert asl["States"]["BookInsurance"]["Catch"][0]["Next"] == "CancelInsurance"
    assert asl["States"]["CancelInsurance"]["Next"] == "CancelCar"


def transitions(asl: dict) -> dict:
    """Every state's type and where it can go next (what both query languages must share)."""
    return {name: (state["Type"], state.get("Next"), state.get("Default"), state.get("Retry"),
                   [(c["ErrorEquals"], c["Next"]) for c in state.get("Catch", [])],
                   [c["Next"] for c in state.get("Choices", [])])
            for name, state in asl["States"].items()}


def test_jsonata_definition_has_the_same_states_and_transitions(asl):
    jsonata = definition.saga_jsonata({s: f"arn:aws:lambda:us-east-1:000000000000:function:{s}"
                                       for s in definition.STEPS}, "trips", "http://q/alerts", "http://q/approvals")
    assert jsonata["QueryLanguage"] == "JSONata" and "QueryLanguage" not in asl
    assert transitions(jsonata) == transitions(asl) and jsonata["StartAt"] == asl["StartAt"]
    text = json.dumps(jsonata)
    assert "Parameters" not in text and "ResultPath" not in text and "$$" not in text  # JSONata fields only


def test_after_the_pivot_a_failure_escalates_and_never_reaches_the_cancellations():
    arns = {s: s for s in definition.STEPS}
    pivoted = definition.saga(arns, "trips", "q", pivot="flight")
    jsonata = definition.saga_jsonata(arns, "trips", "q", pivot="flight")
    for machine in (pivoted, jsonata):
        states = machine["States"]
        assert states["BookCar"]["Catch"][0]["Next"] == "EscalateCar"
        assert [states["EscalateCar"]["Next"], states["RecordNeedsAttention"]["Next"]] == [
            "RecordNeedsAttention", "TripNeedsAttention"]
        assert states["TripNeedsAttention"]["Type"] == "Fail"
        assert states["BookFlight"]["Catch"][0]["Next"] == "CancelFlight"  # control: the pivot compensates
    assert pivoted["States"]["RecordNeedsAttention"]["Parameters"]["Item"]["status"] == {"S": "NEEDS_ATTENTION"}
    assert transitions(jsonata) == transitions(pivoted)
    plain = definition.saga(arns, "trips", "q")
    assert not {"EscalateCar", "RecordNeedsAttention", "TripNeedsAttention"} & set(plain["States"])


def test_after_the_pivot_a_refusal_goes_to_the_trip_service_only(monkeypatch):
    from booking import choreographed

    forward = definition.forward_steps(definition.STEPS, "flight")
    reactions = contract.reactions(definition.STEPS, forward)
    assert reactions["trip"]["CarBookingStuck"] == "attention"
    assert not [s for s, reacts in reactions.items() if s != "trip" and "CarBookingStuck" in reacts]
    assert reactions == {**contract.REACTIONS, "trip": {**contract.REACTIONS["trip"], "CarBookingStuck": "attention"}}
    tables = {"TABLE": FakeTable(), "TRIPS_TABLE": FakeTable()}
    published, alerts = [], []
    monkeypatch.setattr(choreographed, "table", lambda variable: tables[variable])
    monkeypatch.setattr(choreographed, "publish", lambda kind, detail, source: published.append((kind, detail)))
    monkeypatch.setattr(choreographed, "alert", lambda *args: alerts.append(args))
    monkeypatch.setattr(choreographed.trace, "record", lambda *args, **kwargs: None)
    monkeypatch.setenv("SERVICE", "car")
    monkeypatch.setenv("REACTS_TO", json.dumps(reactions["car"]))
    gone = {"trip_id": "g", "fail": {"car": "permanent"}}
    choreographed.handler({"detail-type": "FlightBooked", "detail": gone}, None)
    monkeypatch.setenv("AFTER_PIVOT", "true")
    choreographed.handler({"detail-type": "FlightBooked", "detail": gone}, None)
    assert [kind for kind, _ in published] == ["CarBookingFailed", "CarBookingStuck"]  # control: without the pivot
    monkeypatch.setenv("SERVICE", "trip")
    monkeypatch.setenv("REACTS_TO", json.dumps(reactions["trip"]))
    choreographed.handler({"detail-type": "CarBookingStuck", "detail": published[-1][1]}, None)
    assert alerts == [("g", "car", "BookingFailed")] and published[-1][0] == "TripNeedsAttention"
    assert tables["TRIPS_TABLE"].items["g"]["status"] == "NEEDS_ATTENTION"


def test_redrive_tries_again_then_declares_the_step_stuck(monkeypatch):
    from booking import redrive

    invoked, published = [], []
    fake = type("Lambda", (), {"invoke": lambda self, **kwargs: invoked.append(json.loads(kwargs["Payload"]))})()
    monkeypatch.setattr(redrive.boto3, "client", lambda name: fake)
    monkeypatch.setattr(redrive, "publish", lambda kind, detail, source: published.append((kind, detail)))
    monkeypatch.setenv("STEPS", json.dumps(definition.STEPS))
    monkeypatch.setenv("PIVOT", "flight")
    trip = {"trip_id": "o", "fail": {"car": "outage"}}
    record = {"requestPayload": {"detail-type": "FlightBooked", "detail": trip},
              "requestContext": {"functionArn": "arn:car"}, "responsePayload": {"errorType": "ServiceUnavailable"}}
    assert redrive.handler(record, None) == {"redriven": 1, "gave_up": False} and invoked[0]["redriven"] == 1
    spent = {**record, "requestPayload": {**record["requestPayload"], "redriven": redrive.MAX_REDRIVES}}
    assert redrive.handler(spent, None)["gave_up"] and len(invoked) == 1
    assert published == [("CarBookingStuck", {**trip, "stuck": {
        "step": "car", "error": f"ServiceUnavailable after {redrive.MAX_REDRIVES} redrive rounds"}})]
