"""Traces: linking runs to their callers, reconstructing a trip, drawing maps and timelines."""

from __future__ import annotations

import pandas as pd

from ocbook import trace


def frame() -> pd.DataFrame:
    rows = [("t1", "hotel", "TripRequested", ["HotelBooked"], 0.0, 0.1, "ok"),
            ("t1", "flight", "HotelBooked", ["FlightBooked"], 0.2, 0.3, "ok"),
            ("t1", "car", "FlightBooked", ["CarBookingFailed"], 0.4, 0.5, "refused"),
            ("t1", "flight", "CarBookingFailed", ["FlightCancelled"], 0.6, 0.7, "ok"),
            ("t2", "hotel", "TripRequested", [], 0.0, 0.1, "ServiceUnavailable")]
    data = pd.DataFrame(rows, columns=["trip", "service", "event_in", "events_out", "started", "ended", "outcome"])
    data["caller"] = [trace.caller(data, row) for row in data.itertuples()]
    return data[trace.COLUMNS]


def test_callers_are_linked_by_event_within_a_trip():
    assert list(frame()["caller"]) == ["client", "hotel", "flight", "car", "client"]


def test_state_is_reconstructed_from_events():
    assert trace.state_of(frame(), "t1") == {"trip": "t1", "state": "IN PROGRESS", "last event": "FlightCancelled",
                                             "services involved": 3}
    assert trace.state_of(frame(), "nope")["state"] == "UNKNOWN"


def test_service_map_counts_calls_per_edge():
    source = trace.service_map(frame()).source
    assert "client -> hotel" in source and "TripRequested ×2" in source
    assert "car -> flight" in source and "CarBookingFailed ×1" in source
    assert "2 runs" in source  # hotel and flight ran twice each


def test_timeline_draws_one_lane_per_service():
    figure = trace.timeline(frame(), "t1")
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["hotel", "flight", "car"]
