"""Traces of what happened to each trip: from handlers' trace records (choreography) or from an
execution history (orchestration); drawn as a timeline per trip and as a service map (X-Ray's role)."""

from __future__ import annotations

import json
import re

import pandas as pd

from ocbook import diagrams, stepfunctions, wait
from ocbook.clients import all_pages, client
from ocbook.plots import plt

COLUMNS = ["trip", "service", "caller", "event_in", "events_out", "started", "ended", "outcome"]
CLIENT = "client"
COORDINATOR = "state machine"
# Lambda's REPORT log line; "Init Duration" only on the first invocation of a new environment (a cold start)
REPORT = re.compile(r"REPORT RequestId: (?P<request_id>\S+)\s+Duration: (?P<duration_ms>[\d.]+) ms"
                    r"(?:.*?Init Duration: (?P<init_ms>[\d.]+) ms)?")


def records(table: str, trip_ids: list[str] | None = None) -> pd.DataFrame:
    """The trace records written by the handlers (fnlib.trace), oldest first; callers linked by event."""
    rows = [{"trip": r["pk"], "service": r["service"], "event_in": r["event_in"],
             "events_out": json.loads(r["events_out"]), "started": float(r["started"]), "ended": float(r["ended"]),
             "outcome": r["outcome"]} for r in wait.items(table)]
    frame = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "caller"])
    if trip_ids is not None:
        frame = frame[frame["trip"].isin(trip_ids)]
    frame = frame.sort_values("started").reset_index(drop=True)
    frame["caller"] = [caller(frame, row) for row in frame.itertuples()]
    return frame[COLUMNS]


def caller(frame: pd.DataFrame, row) -> str:
    """The service whose emitted event started this run (the latest emitter before it), or the client."""
    earlier = frame[(frame["trip"] == row.trip) & (frame["ended"] <= row.started + 1e-6)]
    emitters = earlier[earlier["events_out"].apply(lambda out: row.event_in in out)]
    return emitters.iloc[-1]["service"] if len(emitters) else CLIENT


def from_history(execution_arn: str, trip_id: str, services: dict[str, str]) -> pd.DataFrame:
    """Trace rows of one execution: a row per Task state run, called by the state machine.

    `services` maps a Task state name to the service it calls (e.g. BookHotel -> hotel).
    """
    rows, open_states = [], {}
    for event in stepfunctions.events(execution_arn):
        info = stepfunctions.detail(event)
        if event["type"] == "TaskStateEntered" and info["name"] in services:
            open_states[info["name"]] = event["timestamp"].timestamp()
        elif event["type"] == "TaskStateExited" and info["name"] in open_states:
            name = info["name"]
            output = json.loads(info.get("output") or "{}")
            failed = name.startswith("Book") and services[name] not in output.get("results", {})  # caught
            rows.append({"trip": trip_id, "service": services[name], "caller": COORDINATOR, "event_in": name,
                         "events_out": [], "started": open_states.pop(name),
                         "ended": event["timestamp"].timestamp(), "outcome": "refused" if failed else "ok"})
    return pd.DataFrame(rows, columns=COLUMNS)


def timeline(frame: pd.DataFrame, trip_id: str, title: str = ""):
    """Swimlanes for one trip: a lane per service, a bar per handler run labelled with what started it."""
    runs = frame[frame["trip"] == trip_id].sort_values("started")
    lanes = list(dict.fromkeys(runs["service"]))
    start = runs["started"].min()
    fig, ax = plt.subplots(figsize=(8, 0.7 + 0.5 * len(lanes)))
    colours = {"ok": "#93c5fd", "refused": "#fca5a5"}
    for run in runs.itertuples():
        lane = lanes.index(run.service)
        left, width = (run.started - start) * 1000, max((run.ended - run.started) * 1000, 4)
        ax.barh(lane, width, left=left, height=0.5, color=colours.get(run.outcome, "#fde68a"), edgecolor="#1f2937")
        ax.annotate(run.event_in, (left, lane + 0.32), fontsize=7)
    ax.set_yticks(range(len(lanes)), lanes)
    ax.invert_yaxis()
    ax.set_xlabel("ms since the trip started (blue: done, red: refused, yellow: error, retried)")
    ax.set_title(title or f"trip {trip_id}", loc="left", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def service_map(frame: pd.DataFrame, title: str = ""):
    """Who called or triggered whom, how often, and how long the callee took (mean ms): a service map."""
    g = diagrams.graph("servicemap", "LR")
    if title:
        g.attr(label=title, labelloc="t")
    for service, runs in frame.groupby("service"):
        mean = (runs["ended"] - runs["started"]).mean() * 1000
        g.node(service, f"{service}\n{len(runs)} runs, {mean:.0f} ms avg", shape="box", fillcolor="#dbeafe")
    for special in {CLIENT, COORDINATOR} & set(frame["caller"]):
        g.node(special, special, shape="box", fillcolor="#fee2e2" if special == COORDINATOR else "#f3f4f6")
    for (source, target, event), runs in frame.groupby(["caller", "service", "event_in"]):
        g.edge(source, target, label=f"{event} ×{len(runs)}")
    return g


def state_of(frame: pd.DataFrame, trip_id: str) -> dict:
    """Reconstruct where a trip is from its events alone (what choreography forces you to do)."""
    # in the order the runs started: a run starts after the run that emitted its event did, while a run can end
    # after the run its event caused (CarBooked's run still writing its record when TripConfirmed is out)
    runs = frame[frame["trip"] == trip_id].sort_values("started")
    if runs.empty:
        return {"trip": trip_id, "state": "UNKNOWN", "last event": "-", "services involved": 0}
    emitted = [event for out in runs["events_out"] for event in out]
    ends = {"TripConfirmed": "CONFIRMED", "TripCancelled": "CANCELLED", "TripNeedsAttention": "NEEDS_ATTENTION"}
    state = next((state for event, state in ends.items() if event in emitted), "IN PROGRESS")
    return {"trip": trip_id, "state": state, "last event": emitted[-1] if emitted else runs.iloc[-1]["event_in"],
            "services involved": runs["service"].nunique()}


def reports(log_events: list[dict]) -> pd.DataFrame:
    """Invocations from Lambda log events: request id, end (s), duration and Init Duration (ms; NaN when warm)."""
    rows = []
    for event in log_events:
        if match := REPORT.search(event["message"]):
            rows.append({"request_id": match["request_id"], "ended": event["timestamp"] / 1000,
                         "duration_ms": float(match["duration_ms"]),
                         "init_ms": float(match["init_ms"]) if match["init_ms"] else float("nan")})
    return pd.DataFrame(rows, columns=["request_id", "ended", "duration_ms", "init_ms"])


def function_reports(function_name: str) -> pd.DataFrame:
    """The REPORT lines of one function's log group (empty if it has none yet)."""
    logs = client("logs")
    try:
        found = all_pages(logs, "filter_log_events", "events", logGroupName=f"/aws/lambda/{function_name}")
    except logs.exceptions.ResourceNotFoundException:
        found = []
    return reports(found)


def mark_cold_starts(frame: pd.DataFrame, invocations: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The trace rows with `cold` and `init_ms`: each row matched to the invocation of its service nearest in time.

    A row's window (started..ended) is compared with an invocation's (end minus duration, with or without
    the Init phase, which a caller waits for and a handler does not see); each invocation is used once,
    closest pairs first.
    """
    pairs = []
    for row in frame.itertuples():
        for inv in invocations.get(row.service, pd.DataFrame()).itertuples():
            init = 0.0 if pd.isna(inv.init_ms) else inv.init_ms
            began = inv.ended - inv.duration_ms / 1000
            gap = abs(inv.ended - row.ended) + min(abs(began - row.started), abs(began - init / 1000 - row.started))
            pairs.append((gap, row.Index, (row.service, inv.request_id), inv.init_ms))
    marked = frame.assign(cold=False, init_ms=float("nan"))
    rows_done, used = set(), set()
    for _gap, index, invocation, init_ms in sorted(pairs, key=lambda pair: pair[0]):
        if index not in rows_done and invocation not in used:
            rows_done.add(index)
            used.add(invocation)
            marked.loc[index, ["cold", "init_ms"]] = [not pd.isna(init_ms), init_ms]
    return marked


def cold_starts(frame: pd.DataFrame, functions: dict) -> pd.DataFrame:
    """Trace rows marked with the cold starts their functions' REPORT lines show; `functions`: service -> Function."""
    return mark_cold_starts(frame, {service: function_reports(fn.name) for service, fn in functions.items()})
