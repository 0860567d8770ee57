"""An order processor invoked asynchronously; it rejects invalid orders by raising."""

from fnlib.store import record_attempt


class InvalidOrder(Exception):
    """The order cannot be processed, however often it is retried."""


def process(event, context):
    """Accept an order with a positive amount; record every attempt."""
    record_attempt(event["order_id"], context.aws_request_id)
    if event.get("amount", 0) <= 0:
        raise InvalidOrder(f"order {event['order_id']} has no positive amount")
    return {"order_id": event["order_id"], "status": "ACCEPTED"}
