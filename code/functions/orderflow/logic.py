"""The business steps of an order, free of any AWS wiring so both styles share them."""

from __future__ import annotations

PAYMENT_LIMIT = 1000


class OutOfStock(Exception):
    """A requested item is not available."""


class PaymentDeclined(Exception):
    """The payment provider refused the charge."""


def reserve_stock(order: dict) -> dict:
    """Reserve every item of the order."""
    missing = [item["sku"] for item in order["items"] if item["sku"].startswith("sold-out")]
    if missing:
        raise OutOfStock(f"no stock for {', '.join(missing)}")
    return {"reservation_id": f"res-{order['order_id']}", "skus": [item["sku"] for item in order["items"]]}


def take_payment(order: dict) -> dict:
    """Charge the order's amount."""
    if order["amount"] > PAYMENT_LIMIT:
        raise PaymentDeclined(f"amount {order['amount']} is over the limit of {PAYMENT_LIMIT}")
    return {"payment_id": f"pay-{order['order_id']}", "charged": order["amount"]}


def ship(order: dict) -> dict:
    """Book the shipment."""
    return {"tracking_id": f"trk-{order['order_id']}"}
