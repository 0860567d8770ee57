"""Execution history as a table, from the raw events (no engine)."""

from __future__ import annotations

import datetime as dt

from ocbook import stepfunctions

T0 = dt.datetime(2026, 11, 28, 12, 0, 0, tzinfo=dt.timezone.utc)


def event(id_: int, ms: int, type_: str, previous: int = 0, **details) -> dict:
    found = {"id": id_, "previousEventId": previous, "timestamp": T0 + dt.timedelta(milliseconds=ms), "type": type_}
    if details:
        key = {"TaskStateEntered": "stateEnteredEventDetails", "TaskStateExited": "stateExitedEventDetails",
               "TaskFailed": "taskFailedEventDetails"}[type_]
        found[key] = details
    return found


RAW = [
    event(1, 0, "ExecutionStarted"),
    event(2, 5, "TaskStateEntered", 1, name="BookHotel"),
    event(3, 7, "TaskScheduled", 2),
    event(4, 40, "TaskFailed", 3, error="ServiceUnavailable", cause="try again"),
    event(5, 41, "TaskStateExited", 4, name="BookHotel"),
    event(6, 60, "ExecutionFailed", 5),
]


def test_history_names_every_event_by_its_state_and_keeps_errors(monkeypatch):
    monkeypatch.setattr(stepfunctions, "events", lambda arn: RAW)
    table = stepfunctions.history("arn:x")
    assert list(table.columns) == ["id", "ms", "type", "state", "error"]
    assert list(table["ms"]) == [0, 5, 7, 40, 41, 60]
    assert list(table["state"]) == ["", "BookHotel", "BookHotel", "BookHotel", "BookHotel", "BookHotel"]
    assert list(table["error"]) == ["", "", "", "ServiceUnavailable", "", ""]


def test_path_lists_entered_states_in_order(monkeypatch):
    monkeypatch.setattr(stepfunctions, "events", lambda arn: RAW + [event(7, 70, "TaskStateEntered", 6, name="Undo")])
    assert stepfunctions.path("arn:x") == ["BookHotel", "Undo"]


def test_empty_history_is_an_empty_table(monkeypatch):
    monkeypatch.setattr(stepfunctions, "events", lambda arn: [])
    assert stepfunctions.history("arn:x").empty
