"""Book and cancel one service's part of a trip, with conditional writes and injectable failures.

A trip asks for failures in its `fail` field, per service:
  "permanent"        booking is refused (e.g. no rooms): no retry can help
  "transient"        the first booking attempt fails as if the service were briefly down
  "cancel-transient" the first cancellation attempt fails that way
  "cancel-broken"    every cancellation fails: the compensation itself cannot complete
  "outage"           the first OUTAGE booking attempts fail as if the service were down: longer than the
                     normal retries (Step Functions' 4 attempts, Lambda's 3 asynchronous ones) last
"""

from __future__ import annotations

import time

OUTAGE = 5  # booking attempts an "outage" fails
WHAT = {"hotel": "room", "flight": "seat", "car": "car", "insurance": "policy"}


class BookingFailed(Exception):
    """Permanent: the service cannot book this trip."""


class ServiceUnavailable(Exception):
    """Transient: try again."""


class CancellationFailed(Exception):
    """The compensating action could not be carried out."""


class AlreadyCancelled(Exception):
    """A booking arrived after its cancellation (events out of order): it must not be made."""


def mode(trip: dict, service: str) -> str:
    """The failure the trip asks of this service ('' for none)."""
    return (trip.get("fail") or {}).get(service, "")


def attempt(table, trip_id: str, action: str) -> int:
    """Count one more attempt of an action for a trip; return how many there have been."""
    counted = table.update_item(Key={"pk": f"{trip_id}#{action}-attempts"}, UpdateExpression="ADD n :one",
                                ExpressionAttributeValues={":one": 1}, ReturnValues="UPDATED_NEW")
    return int(counted["Attributes"]["n"])


def first_attempt(table, trip_id: str, action: str) -> bool:
    """Count attempts of an action for a trip; True on the first one."""
    return attempt(table, trip_id, action) == 1


def book(table, service: str, trip: dict) -> dict:
    """Book the service for the trip; a repeated request returns the existing booking."""
    trip_id = trip["trip_id"]
    wanted = mode(trip, service)
    if wanted == "transient" and first_attempt(table, trip_id, "book"):
        raise ServiceUnavailable(f"{service} service briefly unavailable")
    if wanted == "outage" and attempt(table, trip_id, "book") <= OUTAGE:
        raise ServiceUnavailable(f"{service} service down (an outage of {OUTAGE} attempts)")
    if wanted == "permanent":
        raise BookingFailed(f"no {WHAT.get(service, 'booking')} available for trip {trip_id}")
    item = {"pk": trip_id, "status": "BOOKED", "booking_id": f"{service}-{trip_id}", "at": f"{time.time():.6f}"}
    client = table.meta.client
    try:
        table.put_item(Item=item, ConditionExpression="attribute_not_exists(pk)")
    except client.exceptions.ConditionalCheckFailedException:
        existing = table.get_item(Key={"pk": trip_id}, ConsistentRead=True)["Item"]
        if existing["status"] == "BOOKED":
            return existing  # a duplicate request: same booking, no second effect
        raise AlreadyCancelled(f"{service} booking for {trip_id} arrived after its cancellation") from None
    return item


def cancel(table, service: str, trip: dict) -> dict:
    """Cancel (and refund) a booking exactly once; with no booking yet, leave a CANCELLED marker
    so that a booking arriving late is refused. Repeated cancellations change nothing."""
    trip_id = trip["trip_id"]
    wanted = mode(trip, service)
    if wanted == "cancel-broken" or (wanted == "cancel-transient" and first_attempt(table, trip_id, "cancel")):
        raise CancellationFailed(f"{service} could not cancel {trip_id}")
    client = table.meta.client
    try:
        table.update_item(Key={"pk": trip_id}, UpdateExpression="SET #s = :cancelled, #at = :at ADD refunds :one",
                          ConditionExpression="#s = :booked", ExpressionAttributeNames={"#s": "status", "#at": "at"},
                          ExpressionAttributeValues={":cancelled": "CANCELLED", ":booked": "BOOKED", ":one": 1,
                                                     ":at": f"{time.time():.6f}"})
        return {"pk": trip_id, "status": "CANCELLED", "was": "BOOKED"}
    except client.exceptions.ConditionalCheckFailedException:
        pass
    try:
        table.put_item(Item={"pk": trip_id, "status": "CANCELLED", "at": f"{time.time():.6f}"},
                       ConditionExpression="attribute_not_exists(pk)")
        return {"pk": trip_id, "status": "CANCELLED", "was": "NONE"}
    except client.exceptions.ConditionalCheckFailedException:
        return {"pk": trip_id, "status": "CANCELLED", "was": "CANCELLED"}
