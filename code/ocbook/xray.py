"""X-Ray for a deployed saga: trace it (Powertools' Tracer, Tracing: Active), start trips as a traced client,
and draw what the X-Ray API returns: the service map (GetServiceGraph) and a timeline per trace (BatchGetTraces).

The map is drawn in the console's visual language: a node per service with its request count, average
response time and a bar of its ok / error (4xx) / fault (5xx) shares, edges with the calls counted on them.
Lambda's two nodes (the service, AWS::Lambda, and the function, AWS::Lambda::Function) are drawn as one.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime, timezone

import pandas as pd

from ocbook import diagrams, package
from ocbook.clients import client
from ocbook.plots import plt

POWERTOOLS = ("aws-lambda-powertools", "aws-xray-sdk", "wrapt", "jmespath", "typing-extensions")
CLIENT = "client"
SHARES = (("ok", "#16a34a"), ("error", "#f59e0b"), ("fault", "#dc2626"))


def traced(deployment, saga):
    """Trace a deployed saga: Powertools' layer and Tracing: Active on its functions, tracing on its state machine."""
    layer = deployment.layer("powertools-tracer", package.layer_zip(*POWERTOOLS))
    lam = client("lambda")
    for service, fn in saga.functions.items():
        env = lam.get_function_configuration(FunctionName=fn.name)["Environment"]["Variables"]
        lam.update_function_configuration(FunctionName=fn.name, Layers=[layer], TracingConfig={"Mode": "Active"},
                                          Environment={"Variables": {**env, "POWERTOOLS_SERVICE_NAME": service}})
    for fn in saga.functions.values():
        lam.get_waiter("function_updated_v2").wait(FunctionName=fn.name)
    warm_up([fn.name for fn in saga.functions.values()])
    saga.trace_on()
    return saga


def warm_up(function_names: list[str]) -> None:
    """Start one environment of each function (in parallel, each request in a throwaway trace, before any window
    the maps read). Without it, the first environments of freshly traced functions, started under a burst of
    concurrent events, stalled one start for about 70 s (3 of 11 runs of five trips at once; 0 of 11 warmed up;
    a layer unpacked beforehand did not help). Cause not found; the engine's, not AWS's."""
    from concurrent.futures import ThreadPoolExecutor

    lam = client("lambda")

    def warm_up_trace(request, **_):
        request.headers["X-Amzn-Trace-Id"] = f"Root={new_trace_id()};Sampled=1"

    lam.meta.events.register("before-send.lambda.Invoke", warm_up_trace)
    try:
        with ThreadPoolExecutor(max_workers=max(1, len(function_names))) as pool:
            list(pool.map(lambda name: lam.invoke(FunctionName=name, Payload=b'{"warm-up": true}'), function_names))
    finally:
        lam.meta.events.unregister("before-send.lambda.Invoke", warm_up_trace)


def new_trace_id() -> str:
    """An X-Ray trace id: version 1, epoch seconds in hex, 96 random bits."""
    return f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def request(saga, trip: dict) -> dict[str, str]:
    """Start a trip as a traced client does (its own segment, its trace header on the call): its trace id and,
    orchestrated, its execution ARN."""
    trace_id, call_id, start = new_trace_id(), secrets.token_hex(8), time.time()
    header = f"Root={trace_id};Parent={call_id};Sampled=1"
    call, execution = saga.request_traced(trip, header)
    started = {"trace": trace_id, "execution": execution}
    end = time.time()
    segment = {"name": CLIENT, "id": secrets.token_hex(8), "trace_id": trace_id, "start_time": start,
               "end_time": end, "annotations": {"trip_id": trip["trip_id"]},
               "subsegments": [{**call, "id": call_id, "namespace": "aws", "start_time": start, "end_time": end}]}
    client("xray").put_trace_segments(TraceSegmentDocuments=[json.dumps(segment)])
    return started


# ---------------------------------------------------------------- the service map
def service_graph(start: float, end: float | None = None) -> list[dict]:
    """GetServiceGraph for a window (epoch seconds)."""
    end = end or time.time() + 1
    return client("xray").get_service_graph(StartTime=datetime.fromtimestamp(start, tz=timezone.utc),
                                            EndTime=datetime.fromtimestamp(end, tz=timezone.utc))["Services"]


def counts(stats: dict) -> dict[str, int]:
    """ok / error / fault / total of X-Ray summary statistics."""
    return {"ok": stats.get("OkCount", 0), "error": stats.get("ErrorStatistics", {}).get("TotalCount", 0),
            "fault": stats.get("FaultStatistics", {}).get("TotalCount", 0), "total": stats.get("TotalCount", 0),
            "seconds": stats.get("TotalResponseTime", 0.0)}


def nodes_and_edges(services: list[dict], names: dict[str, str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The graph as two tables (node; caller, callee), Lambda's service and function nodes merged into one."""
    names = names or {}
    label = {s["ReferenceId"]: names.get(s["Name"], s["Name"]) for s in services}
    kind = {s["ReferenceId"]: s.get("Type", "") for s in services}
    nodes: dict[str, dict] = {}
    for s in services:
        name, stats = label[s["ReferenceId"]], counts(s["SummaryStatistics"])
        if kind[s["ReferenceId"]] == "AWS::Lambda" and name in nodes:
            continue  # the function's node carries the faults; the service's node only says 200
        nodes[name] = {"node": name, "type": shown_type(kind[s["ReferenceId"]]), **stats}
    edges = []
    for s in services:
        for edge in s["Edges"]:
            caller, callee = label[s["ReferenceId"]], label[edge["ReferenceId"]]
            if caller != callee:
                edges.append({"caller": caller, "callee": callee, **counts(edge["SummaryStatistics"])})
    edge_frame = pd.DataFrame(edges, columns=["caller", "callee", "ok", "error", "fault", "total", "seconds"])
    edge_frame = edge_frame.groupby(["caller", "callee"], as_index=False).sum(numeric_only=True)
    return pd.DataFrame(list(nodes.values())), edge_frame


def shown_type(kind: str) -> str:
    """A node type as the map shows it."""
    return {"AWS::Lambda": "Lambda function", "AWS::Lambda::Function": "Lambda function", "": "client",
            "AWS::StepFunctions::StateMachine": "Step Functions state machine"}.get(kind, kind)


def share_bar(row: dict, width: int = 120) -> str:
    """An HTML table row: the node's ok / error / fault shares as coloured cells."""
    total = max(row["ok"] + row["error"] + row["fault"], 1)
    cells = "".join(f'<TD BGCOLOR="{colour}" WIDTH="{max(1, round(width * row[share] / total))}" HEIGHT="6"></TD>'
                    for share, colour in SHARES if row[share])
    return f'<TR><TD COLSPAN="1" CELLPADDING="0"><TABLE BORDER="0" CELLSPACING="0" CELLPADDING="0"><TR>{cells}' \
           f'</TR></TABLE></TD></TR>'


def node_label(row: dict) -> str:
    """A console-style node: name, type, requests and average time, the health bar."""
    mean = 1000 * row["seconds"] / max(row["total"], 1)
    problems = ", ".join(f"{row[s]} {s}{'s' if row[s] > 1 else ''}" for s in ("error", "fault") if row[s])
    figures = f"{row['total']} requests · {mean:.0f} ms avg" + (f"<BR/>{problems}" if problems else "")
    return (f'<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="2" CELLPADDING="3" STYLE="rounded" BGCOLOR="white">'
            f'<TR><TD><B>{row["node"]}</B></TD></TR>'
            f'<TR><TD><FONT POINT-SIZE="9" COLOR="#6b7280">{row["type"]}</FONT></TD></TR>'
            f'<TR><TD><FONT POINT-SIZE="9">{figures}</FONT></TD></TR>{share_bar(row)}</TABLE>>')


def service_map(services: list[dict], names: dict[str, str] | None = None, title: str = "",
                back: tuple[str, ...] = ("EventBridge",)):
    """The service map of a GetServiceGraph answer, left to right; calls into a node in `back` (the bus
    every service publishes to) are drawn as dashed edges that do not push it to the right."""
    nodes, edges = nodes_and_edges(services, names)
    g = diagrams.graph("xraymap", "LR")
    g.attr(nodesep="0.25", ranksep="0.6", fontsize="11", label=title, labelloc="t")
    g.attr("node", shape="plain", style="", fontname="Helvetica")
    g.attr("edge", fontsize="9", fontname="Helvetica", color="#6b7280", arrowsize="0.6")
    for row in nodes.to_dict("records"):
        g.node(diagrams.node_id(row["node"]), node_label(row))
    for row in edges.to_dict("records"):
        backwards = row["callee"] in back and row["caller"] != CLIENT
        colour = "#dc2626" if row["fault"] else "#f59e0b" if row["error"] else "#6b7280"
        g.edge(diagrams.node_id(row["caller"]), diagrams.node_id(row["callee"]), label=str(row["total"]),
               color=colour, fontcolor=colour, style="dashed" if backwards else "solid",
               constraint="false" if backwards else "true")
    return g


# ---------------------------------------------------------------- traces and timelines
def traces(trace_ids: list[str]) -> dict[str, list[dict]]:
    """BatchGetTraces: trace id -> its segment documents."""
    found = {}
    for start in range(0, len(trace_ids), 5):  # X-Ray takes up to 5 ids a call
        answer = client("xray").batch_get_traces(TraceIds=trace_ids[start:start + 5])
        for trace in answer["Traces"]:
            found[trace["Id"]] = [json.loads(s["Document"]) for s in trace["Segments"]]
    return found


def walk(doc: dict):
    """A segment and every subsegment under it."""
    yield doc
    for sub in doc.get("subsegments") or []:
        yield from walk(sub)


def outcome(doc: dict) -> str:
    """An execution's end, or what a function's handler reported."""
    if doc.get("origin") == "AWS::StepFunctions::StateMachine":
        return "execution failed" if doc.get("fault") else "execution succeeded"
    return handler_outcome(doc)


def handler_outcome(doc: dict) -> str:
    """What a traced handler reported: Powertools' recorded response ('emitted') or the exception it raised."""
    for sub in walk(doc):
        for cause in (sub.get("cause") or {}).get("exceptions") or []:
            return cause.get("type") or "error"
        for namespace in (sub.get("metadata") or {}).values():
            for key, value in namespace.items():
                if key.endswith(" response") and isinstance(value, dict):
                    return value.get("emitted") or value.get("status") or "(nothing)"
    return "-"


def spans(documents: list[dict], names: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per function run (AWS::Lambda::Function segment) and per state machine execution, oldest first,
    with the AWS calls each made (subsegments with namespace aws).

    A run's handler subsegment (Tracer's "## handler") is matched by time, not by its parent: the Python X-Ray
    SDK keeps one trace context per environment and trace id, so when the same function runs twice in one trace
    (a service books, then cancels) the second run's subsegments name the first run's segment as parent.
    """
    names = names or {}
    handlers = [sub for doc in documents for sub in walk(doc) if sub.get("name") == "## handler"]
    rows = []
    for doc in documents:
        if doc.get("origin") not in ("AWS::Lambda::Function", "AWS::StepFunctions::StateMachine"):
            continue
        start, end = float(doc["start_time"]), float(doc.get("end_time") or doc["start_time"])
        body = doc
        if doc["origin"] == "AWS::Lambda::Function":
            inside = [h for h in handlers if start - 0.005 <= float(h["start_time"]) <= end + 0.005]
            body = min(inside, key=lambda h: abs(float(h["start_time"]) - start)) if inside else {}
        calls = [(sub["name"], float(sub["start_time"]), float(sub.get("end_time") or sub["start_time"]))
                 for sub in walk(body) if sub is not body and sub.get("namespace") == "aws"] if body else []
        rows.append({"service": names.get(doc["name"], doc["name"]), "origin": doc["origin"], "started": start,
                     "ended": end, "fault": bool(doc.get("fault") or doc.get("error")),
                     "outcome": outcome(doc) if body is doc else handler_outcome(body) if body else "-",
                     "calls": calls})
    return pd.DataFrame(rows, columns=["service", "origin", "started", "ended", "fault", "outcome", "calls"]) \
        .sort_values("started").reset_index(drop=True)


def trace_spans(trace_id: str, names: dict[str, str] | None = None, timeout: float = 10) -> pd.DataFrame:
    """The spans of one trace, once every function run in it has reported its outcome (the SDK sends a handler's
    subsegment over UDP, so it can land a moment after Lambda's own segment); what is there after `timeout`."""
    from ocbook import wait

    def fetch() -> pd.DataFrame:
        return spans(traces([trace_id]).get(trace_id, []), names)

    def complete(found: pd.DataFrame) -> bool:
        return len(found) > 0 and not (found["outcome"] == "-").any()

    try:
        return wait.until(fetch, complete, timeout, interval=0.5, what=f"the handlers' subsegments of {trace_id}")
    except TimeoutError:
        return fetch()


CALL_COLOURS = {"dynamodb": "#4b5563", "events": "#7c3aed", "lambda": "#0891b2", "Lambda": "#0891b2"}


def timeline(runs: pd.DataFrame, title: str = "", order: tuple[str, ...] = ()):
    """A lane per service, a bar per function run (red: it failed) labelled with what it emitted, and a tick per
    AWS call it made (purple: EventBridge, grey: DynamoDB, teal: Lambda)."""
    lanes = [s for s in order if s in set(runs["service"])] + \
        [s for s in dict.fromkeys(runs["service"]) if s not in order]
    start = runs["started"].min()
    span_ms = max((runs["ended"].max() - start) * 1000, 1)
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.45 * len(lanes)))
    last_in_lane: dict[int, int] = {}
    for run in runs.itertuples():
        lane = lanes.index(run.service)
        last_in_lane[lane] = last_in_lane.get(lane, 1) * -1  # alternate labels above and below the lane
        left, width = (run.started - start) * 1000, max((run.ended - run.started) * 1000, span_ms / 300)
        ax.barh(lane, width, left=left, height=0.5, color="#fca5a5" if run.fault else "#bfdbfe",
                edgecolor="#1f2937", linewidth=0.6)
        for name, began, ended in run.calls:
            ax.barh(lane + 0.17, max((ended - began) * 1000, span_ms / 500), left=(began - start) * 1000,
                    height=0.12, color=CALL_COLOURS.get(name, "#9ca3af"))
        ax.annotate(run.outcome, (left + width, lane + 0.14 * last_in_lane[lane]), xytext=(3, 0),
                    textcoords="offset points", fontsize=8, va="center")
    ax.set_yticks(range(len(lanes)), lanes)
    ax.set_ylim(len(lanes) - 0.5, -0.5)
    ax.set_xlim(0, span_ms * 1.18)  # room for the last label
    ax.set_xlabel("ms since the trace started (red bar: the run failed; ticks: its AWS calls, "
                  "purple EventBridge, grey DynamoDB)", fontsize=8)
    ax.set_title(title, loc="left", fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig
