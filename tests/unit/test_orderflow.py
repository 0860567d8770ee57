"""Chapter 1's handlers, tested directly."""

import pytest

from orderflow import choreographed, definition, logic, orchestrated

ORDER = {"order_id": "o1", "items": [{"sku": "book", "qty": 1}], "amount": 30}


def test_logic_steps_and_failures():
    assert logic.reserve_stock(ORDER)["reservation_id"] == "res-o1"
    assert logic.take_payment(ORDER)["charged"] == 30
    with pytest.raises(logic.OutOfStock):
        logic.reserve_stock({**ORDER, "items": [{"sku": "sold-out-lamp", "qty": 1}]})
    with pytest.raises(logic.PaymentDeclined):
        logic.take_payment({**ORDER, "amount": 5000})


def test_orchestrated_handlers_add_their_result():
    out = orchestrated.ship(orchestrated.pay(orchestrated.reserve(ORDER, None), None), None)
    assert set(out) >= {"reservation", "payment", "shipment"}


def test_choreographed_services_publish_success_or_failure(monkeypatch):
    published = []
    monkeypatch.setattr(choreographed, "publish", lambda kind, detail, source: published.append((kind, detail)))
    choreographed.stock({"detail": ORDER}, None)
    choreographed.payment({"detail": {**ORDER, "amount": 5000}}, None)
    assert [kind for kind, _ in published] == ["StockReserved", "PaymentDeclined"]
    assert published[0][1]["reservation"]["reservation_id"] == "res-o1"
    assert "over the limit" in published[1][1]["reason"]


def test_definition_is_closed():
    asl = definition.order_flow("a", "b", "c")
    names = set(asl["States"])
    targets = {s.get("Next") for s in asl["States"].values()} | {
        c["Next"] for s in asl["States"].values() for c in s.get("Catch", [])}
    assert asl["StartAt"] in names and targets - {None} <= names
