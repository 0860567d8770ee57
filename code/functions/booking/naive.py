"""How not to write the services: no state checks, so duplicates and reordering do damage.

book() adds a booking whenever asked; cancel() refunds whenever asked and
does nothing when there is nothing to cancel yet. Used only to show the harm.
"""

from __future__ import annotations


def book(table, service: str, trip: dict) -> dict:
    """Book; a second request books (and charges) again."""
    return table.update_item(Key={"pk": trip["trip_id"]}, UpdateExpression="SET #s = :booked ADD bookings :one",
                             ExpressionAttributeNames={"#s": "status"},
                             ExpressionAttributeValues={":booked": "BOOKED", ":one": 1},
                             ReturnValues="ALL_NEW")["Attributes"]


def cancel(table, service: str, trip: dict) -> dict:
    """Cancel and refund if there is a booking; a repeated request refunds again; an early one is lost."""
    existing = table.get_item(Key={"pk": trip["trip_id"]}, ConsistentRead=True).get("Item")
    if not existing:
        return {"status": "NOTHING_TO_CANCEL"}
    return table.update_item(Key={"pk": trip["trip_id"]}, UpdateExpression="SET #s = :c ADD refunds :one",
                             ExpressionAttributeNames={"#s": "status"},
                             ExpressionAttributeValues={":c": "CANCELLED", ":one": 1},
                             ReturnValues="ALL_NEW")["Attributes"]
