"""Event handlers: each service reacts to the event before it and announces what it did.

No service knows the others; each knows only the event it waits for and the one it emits.
"""

from fnlib.bus import publish
from orderflow import logic

SOURCE = "book.orders"


def react(event: dict, step, done: str, failed: str, key: str) -> dict:
    """Run one step on an event's order; publish `done` with the result added, or `failed` with the reason."""
    order = event["detail"]
    try:
        result = step(order)
    except (logic.OutOfStock, logic.PaymentDeclined) as exc:
        publish(failed, {**order, "reason": str(exc)}, SOURCE)
        return {"published": failed}
    publish(done, {**order, key: result}, SOURCE)
    return {"published": done}


def stock(event, context):
    """Stock service: on OrderPlaced, reserve."""
    return react(event, logic.reserve_stock, "StockReserved", "StockUnavailable", "reservation")


def payment(event, context):
    """Payment service: on StockReserved, charge."""
    return react(event, logic.take_payment, "PaymentTaken", "PaymentDeclined", "payment")


def shipping(event, context):
    """Shipping service: on PaymentTaken, ship."""
    return react(event, logic.ship, "OrderShipped", "ShippingFailed", "shipment")
