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


def test_the_last_event_is_the_last_caused_even_when_its_cause_ended_later():
    data = frame()
    data.loc[2, "ended"] = 0.9  # the car's run still writing its record after the flight's cancel was out
    assert trace.state_of(data, "t1")["last event"] == "FlightCancelled"


def test_service_map_counts_calls_per_edge():
    source = trace.service_map(frame()).source
    assert "client -> hotel" in source and "TripRequested ×2" in source
    assert "car -> flight" in source and "CarBookingFailed ×1" in source
    assert "2 runs" in source  # hotel and flight ran twice each


def test_timeline_draws_one_lane_per_service():
    figure = trace.timeline(frame(), "t1")
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["hotel", "flight", "car"]


def report_event(request_id: str, ended_ms: int, duration: float, init: float | None = None) -> dict:
    init_part = f"Init Duration: {init:.2f} ms\t" if init is not None else ""
    return {"timestamp": ended_ms, "message": f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\t"
                                              f"Billed Duration: {int(duration) + 1} ms\tMemory Size: 128 MB\t"
                                              f"Max Memory Used: 40 MB\t{init_part}"}


def test_report_lines_give_duration_and_init_duration_only_for_a_cold_start():
    found = trace.reports([report_event("a", 1000, 12.5, 80.25), {"timestamp": 1, "message": "START RequestId: b"},
                           report_event("b", 2000, 3.0)])
    assert list(found["request_id"]) == ["a", "b"] and list(found["ended"]) == [1.0, 2.0]
    assert found.loc[0, "init_ms"] == 80.25 and pd.isna(found.loc[1, "init_ms"])
    assert list(found["duration_ms"]) == [12.5, 3.0]


def test_each_step_gets_the_invocation_nearest_in_time_cold_or_warm():
    # the same function called by two runs at once: run t1's call waited for a new environment (init 300 ms)
    steps = pd.DataFrame({"trip": ["t1", "t2", "t1"], "service": ["hotel", "hotel", "car"],
                          "started": [10.0, 10.01, 11.0], "ended": [10.42, 10.06, 11.05]})
    invocations = {"hotel": trace.reports([report_event("cold", 10_415, 100.0, 300.0),
                                           report_event("warm", 10_055, 40.0)]),
                   "car": trace.reports([report_event("car-warm", 11_045, 40.0)])}
    marked = trace.mark_cold_starts(steps, invocations)
    assert list(marked["cold"]) == [True, False, False]  # positive and negative in one: only t1's hotel step
    assert marked.loc[0, "init_ms"] == 300.0 and pd.isna(marked.loc[1, "init_ms"])
    unmatched = trace.mark_cold_starts(steps, {})  # no REPORT lines: nothing is claimed cold
    assert not unmatched["cold"].any()
