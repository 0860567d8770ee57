"""The event contract of the choreographed saga: who reacts to what, and what each reaction emits.

Every event's detail is the trip request itself (trip_id doubles as the
correlation id), so any service can act on any event without asking another.
"""

from __future__ import annotations

SOURCE = "book.trips"

# service -> {event it reacts to: action}
REACTIONS: dict[str, dict[str, str]] = {
    "hotel": {"TripRequested": "book", "FlightBookingFailed": "cancel", "FlightCancelled": "cancel"},
    "flight": {"HotelBooked": "book", "CarBookingFailed": "cancel"},
    "car": {"FlightBooked": "book"},
    "trip": {"CarBooked": "confirm", "HotelBookingFailed": "cancel", "HotelCancelled": "cancel"},
}

# (service, action, outcome) -> event emitted
EMITS: dict[tuple[str, str, str], str] = {
    ("hotel", "book", "ok"): "HotelBooked", ("hotel", "book", "failed"): "HotelBookingFailed",
    ("hotel", "cancel", "ok"): "HotelCancelled",
    ("flight", "book", "ok"): "FlightBooked", ("flight", "book", "failed"): "FlightBookingFailed",
    ("flight", "cancel", "ok"): "FlightCancelled",
    ("car", "book", "ok"): "CarBooked", ("car", "book", "failed"): "CarBookingFailed",
    ("trip", "confirm", "ok"): "TripConfirmed", ("trip", "cancel", "ok"): "TripCancelled",
}

EVENTS = sorted({"TripRequested", *EMITS.values()})


def pattern(service: str) -> dict:
    """The EventBridge pattern routing a service's events to it."""
    return {"source": [SOURCE], "detail-type": sorted(REACTIONS[service])}


def schema() -> dict:
    """A JSON schema of the detail every event carries."""
    return {"type": "object", "required": ["trip_id"], "properties": {
        "trip_id": {"type": "string", "description": "the trip, also the correlation id"},
        "amount": {"type": "number"},
        "fail": {"type": "object", "description": "failures to inject, per service (tests and chapters)"}}}
