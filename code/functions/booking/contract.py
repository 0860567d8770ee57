"""The event contract of the choreographed saga, generated from the ordered list of steps.

For steps S1..Sn: S1 books on TripRequested and every later step on the
previous step's <S>Booked; a step cancels when the step after it failed to
book or was cancelled; the trip service confirms on the last step's
<Sn>Booked and closes the trip as cancelled when the first step failed or
was cancelled. Every event's detail is the trip request itself; trip_id
doubles as the correlation id.

With a pivot (a step that cannot be undone), a step after it that fails for
good emits <S>BookingStuck instead of <S>BookingFailed: no service cancels
on it (the pivot stays booked); the trip service alerts a human and marks
the trip NEEDS_ATTENTION.
"""

from __future__ import annotations

SOURCE = "book.trips"
STEPS = ("hotel", "flight", "car")
TRIP = "trip"


def event(service: str, what: str) -> str:
    """An event name: event('hotel', 'Booked') -> 'HotelBooked'."""
    return f"{service.capitalize()}{what}"


def reactions(steps: tuple[str, ...] = STEPS, forward: tuple[str, ...] = ()) -> dict[str, dict[str, str]]:
    """service -> {event it reacts to: action}; `forward`: the steps after the pivot (their BookingStuck goes to
    the trip service only)."""
    found: dict[str, dict[str, str]] = {step: {} for step in steps}
    found[TRIP] = {}
    for index, step in enumerate(steps):
        found[step][event(steps[index - 1], "Booked") if index else "TripRequested"] = "book"
        if index + 1 < len(steps):
            after = steps[index + 1]
            found[step][event(after, "BookingFailed")] = "cancel"
            if index + 2 < len(steps):  # the step after can itself be cancelled
                found[step][event(after, "Cancelled")] = "cancel"
    found[TRIP][event(steps[-1], "Booked")] = "confirm"
    found[TRIP][event(steps[0], "BookingFailed")] = "cancel"
    if len(steps) > 1:
        found[TRIP][event(steps[0], "Cancelled")] = "cancel"
    for step in forward:
        found[TRIP][event(step, "BookingStuck")] = "attention"
    return found


def emits(service: str, action: str, outcome: str, forward: bool = False) -> str | None:
    """The event a service emits after an action ends with an outcome ('ok' or why it failed); `forward`: the
    service is after the pivot."""
    if service == TRIP:
        return {"confirm": "TripConfirmed", "attention": "TripNeedsAttention"}.get(action, "TripCancelled")
    if action == "book":
        return event(service, "Booked" if outcome == "ok" else "BookingStuck" if forward else "BookingFailed")
    return event(service, "Cancelled") if outcome == "ok" else None


REACTIONS = reactions()
EMITS = {(service, action, outcome): emits(service, action, outcome)
         for service, table in REACTIONS.items() for action in set(table.values()) for outcome in ("ok", "failed")
         if emits(service, action, outcome) and not (action != "book" and outcome == "failed")}
EVENTS = sorted({"TripRequested", *EMITS.values()})


def pattern(reacts_to: dict[str, str]) -> dict:
    """The EventBridge pattern routing a service's events to it."""
    return {"source": [SOURCE], "detail-type": sorted(reacts_to)}


def schema() -> dict:
    """A JSON schema of the detail every event carries."""
    return {"type": "object", "required": ["trip_id"], "properties": {
        "trip_id": {"type": "string", "description": "the trip, also the correlation id"},
        "amount": {"type": "number"},
        "fail": {"type": "object", "description": "failures to inject, per service (tests and chapters)"}}}
