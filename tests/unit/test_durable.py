"""ocbook.durable's reading of a durable execution history (no engine: the events are made up in AWS's shape)."""

from __future__ import annotations

import datetime

from ocbook import durable

T0 = datetime.datetime(2026, 11, 28, 7, 0, tzinfo=datetime.UTC)


def event(ms: int, kind: str, name: str = "", **details) -> dict:
    """One history event as GetDurableExecutionHistory returns it."""
    found = {"EventType": kind, "EventTimestamp": T0 + datetime.timedelta(milliseconds=ms)}
    if name:
        found["Name"] = name
    if details:
        found[f"{kind}Details"] = details
    return found


HISTORY = [
    event(0, "ExecutionStarted", "trip-1"),
    event(10, "StepStarted", "book-hotel"),
    event(20, "StepFailed", "book-hotel",
          Error={"Payload": {"ErrorType": "ServiceUnavailable", "ErrorMessage": "down"}},
          RetryDetails={"CurrentAttempt": 1, "NextAttemptDelaySeconds": 2}),
    event(25, "InvocationCompleted"),
    event(2030, "StepStarted", "book-hotel"),
    event(2040, "StepSucceeded", "book-hotel", Result={"Payload": '{"t":"m"}'}),
    event(2050, "WaitStarted", "pause", Duration=1),
    event(3050, "WaitSucceeded", "pause"),
    event(3060, "InvocationCompleted"),
    event(3070, "ExecutionSucceeded", "trip-1", Result={"Payload": '{"status": "CONFIRMED"}'}),
]


def test_detail_names_the_error_and_the_retry_and_leaves_step_results_out():
    assert durable.detail(HISTORY[2]) == "ServiceUnavailable: down; attempt 1 failed, retry in 2 s"
    assert durable.detail(HISTORY[5]) == ""  # a step's result is in the SDK's envelope: not shown
    assert durable.detail(HISTORY[-1]) == '{"status": "CONFIRMED"}'  # the execution's result is


def test_history_and_work_from_the_events(monkeypatch):
    monkeypatch.setattr(durable, "events", lambda saga, trip_id: HISTORY)
    table = durable.history(None, "trip-1")
    assert list(table.index) == [0, 10, 20, 25, 2030, 2040, 2050, 3050, 3060, 3070]
    assert list(table["operation"])[:3] == ["", "book-hotel", "book-hotel"] and table["operation"].iloc[-1] == ""
    work = durable.work(None, "trip-1")
    # billed operations: the start, two step attempts, the wait; one replay after the retry delay
    assert work == {"finished": (T0 + datetime.timedelta(milliseconds=3070)).timestamp(), "durable_operations": 4,
                    "replays": 1}


def test_a_trip_still_running_has_not_finished(monkeypatch):
    monkeypatch.setattr(durable, "events", lambda saga, trip_id: HISTORY[:4])
    assert durable.work(None, "trip-1")["finished"] is None
