"""The harness without an engine: measuring from traces and histories, its command line, Ctrl-C."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time

import pandas as pd
import pytest

from ocbook import harness, styles
from ocbook.styles import orchestrated

T0 = 1_800_000_000.0


@pytest.fixture(autouse=True)
def no_endpoint_lookup(request, monkeypatch):
    """The CLI names the LocalStack it used; unit tests never look one up (nor start the embedded engine)."""
    if "engine_used" not in request.node.name:
        monkeypatch.setattr(harness, "engine_used", lambda: "LocalStack (unit test) at http://127.0.0.1:1")


def trace_row(trip: str, service: str, started: float, ended: float, outcome: str = "ok", out=()) -> dict:
    return {"trip": trip, "service": service, "caller": "client", "event_in": "e", "events_out": list(out),
            "started": T0 + started, "ended": T0 + ended, "outcome": outcome}


def test_measure_choreographed_counts_events_and_compensation_time(monkeypatch):
    records = pd.DataFrame([
        trace_row("a", "hotel", 0.1, 0.2, out=["HotelBooked"]),
        trace_row("a", "flight", 0.3, 0.4, outcome="refused", out=["FlightBookingFailed"]),
        trace_row("a", "hotel", 0.5, 0.6, out=["HotelCancelled"]),
        trace_row("a", "trip", 0.7, 0.9, out=["TripCancelled"]),
        trace_row("b", "hotel", 0.1, 0.2, out=["HotelBooked"]),
    ])
    monkeypatch.setattr(harness.trace, "records", lambda table: records)
    driven = [{"trip_id": "a", "submitted": T0, "seen_final": T0 + 1.5, "status": "CANCELLED"},
              {"trip_id": "b", "submitted": T0, "seen_final": T0 + 2.0, "status": "CONFIRMED"}]
    plans = {"a": {"fail": {"flight": "permanent"}, "duplicate": True}, "b": {"fail": {}, "duplicate": False}}
    frame = harness.measure(styles.Choreographed(None, {}, "trips", "t", None), driven, plans)
    a, b = frame.set_index("trip_id").loc["a"], frame.set_index("trip_id").loc["b"]
    assert a["injected"] == "flight:permanent" and a["invocations"] == 4 and a["events"] == 2 + 4
    assert a["latency_s"] == pytest.approx(0.9) and a["compensate_s"] == pytest.approx(0.5)
    assert b["latency_s"] == pytest.approx(2.0) and pd.isna(b["compensate_s"])  # no trip record: client's view
    assert b["events"] == 1 + 1 and b["transitions"] == 0


def test_measure_orchestrated_counts_state_transitions(monkeypatch):
    monkeypatch.setattr(harness.trace, "records", lambda table: pd.DataFrame([trace_row("a", "hotel", 0.1, 0.2)]))
    history = [{"type": t, "timestamp": dt.datetime.fromtimestamp(T0 + s, dt.timezone.utc)} for t, s in
               [("ExecutionStarted", 0), ("TaskStateEntered", 0.05), ("TaskStateExited", 0.2),
                ("SucceedStateEntered", 0.3), ("ExecutionSucceeded", 0.75)]]
    arns = []
    monkeypatch.setattr(orchestrated.stepfunctions, "events", lambda arn: arns.append(arn) or history)
    saga = styles.Orchestrated(None, {}, "trips", "t", None)
    saga.state_machine = "arn:aws:states:us-east-1:0:stateMachine:sm"
    driven = [{"trip_id": "a", "submitted": T0, "seen_final": T0 + 3, "status": "CONFIRMED"}]
    frame = harness.measure(saga, driven, {"a": {"fail": {}, "duplicate": False}})
    row = frame.iloc[0]
    assert arns == ["arn:aws:states:us-east-1:0:execution:sm:a"]
    assert row["transitions"] == 2 and row["events"] == 0 and row["invocations"] == 1
    assert row["latency_s"] == pytest.approx(0.75)


def test_cli_defaults_are_the_settings_defaults_and_help_shows_them(capsys):
    args = harness.parser().parse_args([])
    assert not hasattr(args, "levels")
    for field in dataclasses.fields(harness.Settings):
        assert getattr(args, field.name) == field.default, field.name
    with pytest.raises(SystemExit):
        harness.main(["--help"])
    assert "(default: 200)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--trips", "0"], "argument --trips: must be at least 1, got 0"),
    (["--concurrency", "0"], "argument --concurrency: must be at least 1, got 0"),
    (["--permanent", "1.5"], "argument --permanent: must be between 0 and 1, got 1.5"),
    (["--duplicates", "-0.1"], "argument --duplicates: must be between 0 and 1, got -0.1"),
    (["--transient", "lots"], "argument --transient: must be a number between 0 and 1, got 'lots'"),
    (["--levels", "1,x"], "argument --levels: must be whole numbers separated by commas (e.g. 1,4,8), got '1,x'"),
    (["--levels", "2,0"], "argument --levels: every level must be at least 1, got '2,0'"),
])
def test_bad_arguments_get_one_line_each(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        harness.main(argv)
    errors = [line for line in capsys.readouterr().err.splitlines() if not line.startswith(("usage:", "  "))]
    assert exit_.value.code == 2 and errors == [f"python -m ocbook.harness: error: {message}"]


def test_good_arguments_are_accepted():
    args = harness.parser().parse_args(["--trips", "3", "--levels", "1,4", "--permanent", "0", "--duplicates", "1"])
    assert (args.trips, args.levels, args.permanent, args.duplicates) == (3, [1, 4], 0.0, 1.0)


def test_settings_refuse_impossible_values():
    with pytest.raises(ValueError, match="trips must be at least 1, got 0; transient must be a probability"):
        harness.Settings(trips=0, transient=2)


def fake_result(style: str, settings: harness.Settings) -> harness.Result:
    trips = pd.DataFrame([{"trip_id": f"{style}-1", "status": "CONFIRMED", "latency_s": 0.5}])
    return harness.Result(style, settings, trips, [], 1.0, summary={"style": style, "trips": 1})


def test_ctrl_c_still_writes_what_had_finished(tmp_path, monkeypatch, capsys):
    def run_style(style, settings, progress=True):
        if style == "choreographed":
            raise harness.Interrupted(style, [{"trip_id": "c-1", "submitted": T0, "seen_final": T0 + 1,
                                               "status": "CONFIRMED"}])
        return fake_result(style, settings)

    monkeypatch.setattr(harness, "run_style", run_style)
    assert harness.main(["--trips", "2", "--out", str(tmp_path)]) == 130
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [r["style"] for r in summary["results"]] == ["orchestrated"]
    assert summary["interrupted"] == ("interrupted during choreographed at concurrency 8; "
                                      "1 of its trips had finished (not measured)")
    trips = pd.read_csv(tmp_path / "trips.csv")
    assert list(trips["trip_id"]) == ["orchestrated-1", "c-1"] and list(trips["measured"].isna()) == [True, False]
    assert "wrote the 1 finished run(s)" in capsys.readouterr().err


def test_ctrl_c_before_anything_finished_writes_the_summary_only(tmp_path, monkeypatch):
    def run_style(style, settings, progress=True):
        raise KeyboardInterrupt

    monkeypatch.setattr(harness, "run_style", run_style)
    assert harness.main(["--out", str(tmp_path)]) == 130
    assert not (tmp_path / "trips.csv").exists()
    assert json.loads((tmp_path / "summary.json").read_text())["interrupted"].startswith(
        "interrupted during orchestrated at concurrency 8")


def test_a_complete_run_writes_both_files_and_exits_0(tmp_path, monkeypatch):
    monkeypatch.setattr(harness, "run_style", lambda style, settings, progress=True: fake_result(style, settings))
    assert harness.main(["--levels", "1,2", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    runs = 2 * len(harness.STYLES)  # two levels, every style
    assert summary["interrupted"] is None and len(summary["results"]) == runs
    assert len(pd.read_csv(tmp_path / "trips.csv")) == runs


def test_ctrl_c_while_driving_stops_the_trips_in_flight(monkeypatch):
    class Saga:
        """The first planned trip has a final status; the others never will."""

        def status(self, trip_id):
            return "CONFIRMED" if trip_id.endswith("0000") else None

    monkeypatch.setattr(harness, "deploy", lambda style, deployment: Saga())
    monkeypatch.setattr(harness, "submit", lambda saga, trip: None)

    def first_then_ctrl_c(futures):
        yield next(f for f in futures if f.result(timeout=10)["trip_id"].endswith("0000"))
        raise KeyboardInterrupt

    monkeypatch.setattr(harness, "as_completed", first_then_ctrl_c)
    settings = harness.Settings(trips=6, concurrency=3, timeout=120)
    began = time.monotonic()
    with pytest.raises(harness.Interrupted) as caught:
        harness.run_style("choreographed", settings, progress=False)
    assert [t["trip_id"][-4:] for t in caught.value.driven] == ["0000"]
    assert time.monotonic() - began < settings.timeout  # the waiting trips gave up; none ran into its timeout


@pytest.mark.parametrize(("explicit", "scale", "expected"), [
    (None, 1 / 60, "the book's embedded engine"),
    ("http://ls:4566", None, "a LocalStack named by AWS_ENDPOINT_URL/LOCALSTACK_ENDPOINT"),
    ("http://ls:4566", 1 / 60, "the book's engine, named by AWS_ENDPOINT_URL/LOCALSTACK_ENDPOINT"),
    (None, None, "a LocalStack already running"),
])
def test_the_engine_used_is_named_as_what_it_really_is(monkeypatch, explicit, scale, expected):
    from ocbook import endpoints, engine

    url = explicit or "http://127.0.0.1:4630"
    monkeypatch.setattr(endpoints, "endpoint", lambda: url)
    monkeypatch.setattr(endpoints, "explicit", lambda: explicit)
    monkeypatch.setattr(endpoints, "fetch_json", lambda *a, **k: {"version": "2026.3.0"})
    monkeypatch.setattr(engine, "time_scale", lambda: scale)
    assert harness.engine_used() == f"LocalStack 2026.3.0 at {url}, {expected}"
    assert harness.machine().endswith(expected)
