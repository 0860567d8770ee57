"""Task handlers for the state machine: each does one step and returns the order with its result added."""

from orderflow import logic


def reserve(event, context):
    """Step Functions task: reserve stock."""
    return {**event, "reservation": logic.reserve_stock(event)}


def pay(event, context):
    """Step Functions task: take payment."""
    return {**event, "payment": logic.take_payment(event)}


def ship(event, context):
    """Step Functions task: ship."""
    return {**event, "shipment": logic.ship(event)}
