"""AWS X-Ray served inside the engine: segments stored by moto, traces and graphs computed from them here.

Selected with ``PROVIDER_OVERRIDE_XRAY=ocbook``. localstack-core has no X-Ray provider (and no generated
``localstack.aws.api.xray``), but botocore's X-Ray spec is there, so the API class below is written by hand
and LocalStack's gateway serves it like any other service. moto stores segment documents
(``PutTraceSegments``) and answers the rest with guesses or dummies; the reads are computed here from the
stored documents the way AWS documents them (https://docs.aws.amazon.com/xray/latest/devguide/xray-concepts.html,
https://docs.aws.amazon.com/xray/latest/devguide/xray-api-segmentdocuments.html):

- ``BatchGetTraces``: every segment of a trace; subsegments sent as their own documents
  (``"type": "subsegment"``, as the SDK does inside Lambda) are put back into their parent's document.
- ``GetServiceGraph`` / ``GetTraceGraph``: a node per service that sent segments (name and ``origin``), an
  inferred node per downstream call recorded as a subsegment with ``namespace`` ``aws`` (named by the
  subsegment, e.g. ``DynamoDB``) or ``remote``; an edge from caller to callee with request counts split into
  ok, error (4xx; throttle = 429), fault (5xx) and the summed response time. A segment whose ``parent_id`` is
  a subsegment of another service's segment is that call's downstream end: when it is the same AWS service
  as the subsegment names (``Lambda`` -> ``AWS::Lambda``) the edge goes straight to it, otherwise through the
  inferred node (``EventBridge`` between a publisher and the Lambda function it triggered).
- ``GetTraceSummaries``: traces that started in the window, with duration, response time, error/fault/throttle
  flags, the services involved and the entry point.

The X-Ray daemon's UDP protocol (``{"format": "json", "version": 1}`` line, then one segment document per
datagram) is served on 127.0.0.1: port OCBOOK_XRAY_DAEMON_PORT if set, else the engine's port + 1 if free, else
any free port. ``daemon_address()`` is what function environments get as ``AWS_XRAY_DAEMON_ADDRESS``. UDP
segments carry no account or region: they are stored under the default account and AWS_DEFAULT_REGION
(us-east-1 if unset).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections import defaultdict
from datetime import datetime, timezone

from localstack.aws.api import RequestContext, ServiceException, handler
from localstack.services.moto import MotoFallbackDispatcher
from localstack.services.plugins import Service, aws_provider

from ocbook_engine.versions import require

LOG = logging.getLogger(__name__)

DEFAULT_ACCOUNT = "000000000000"
DAEMON_HEADER = {"format": "json", "version": 1}
# Inferred node types for the AWS services the book calls (AWS shows e.g. "AWS::DynamoDB::Table").
INFERRED_TYPES = {"DynamoDB": "AWS::DynamoDB::Table", "SQS": "AWS::SQS::Queue", "SNS": "AWS::SNS",
                  "EventBridge": "AWS::Events", "Lambda": "AWS::Lambda", "S3": "AWS::S3::Bucket",
                  "Kinesis": "AWS::Kinesis::Stream", "SFN": "AWS::StepFunctions::StateMachine",
                  "STS": "AWS::STS"}


# The Python X-Ray SDK names an AWS call's subsegment by the endpoint prefix ("dynamodb", "events"); the
# service map names the inferred node by the service ("DynamoDB"). The engine maps the ones the book calls.
SERVICE_NAMES = {"dynamodb": "DynamoDB", "events": "EventBridge", "sqs": "SQS", "sns": "SNS", "lambda": "Lambda",
                 "s3": "S3", "kinesis": "Kinesis", "states": "SFN", "sts": "STS"}


class InvalidRequestException(ServiceException):
    """X-Ray's answer to a malformed request."""

    code = "InvalidRequestException"
    status_code = 400
    sender_fault = True


# ---------------------------------------------------------------- storage (moto)
def backend(account: str, region: str):
    """moto's X-Ray backend of an account and region."""
    from moto.xray.models import xray_backends

    return xray_backends[account][region]


def store(account: str, region: str, document: str) -> str | None:
    """Store one segment document; None if stored, else why not (moto's check of the required fields)."""
    from moto.xray.exceptions import BadSegmentException

    try:
        backend(account, region).process_segment(document)
    except BadSegmentException as error:
        return getattr(error, "message", None) or str(error)
    except (TypeError, AttributeError, KeyError) as error:
        return f"not a segment document: {error}"
    return None


def stored_traces(account: str, region: str) -> dict[str, list[dict]]:
    """Every stored trace: trace id -> its documents (parsed), in the order moto keeps them."""
    traces = {}
    for trace_id, trace in list(backend(account, region)._segment_collection._traces.items()):
        docs = []
        for segment in list(trace["segments"]):
            try:
                docs.append(json.loads(segment.raw))
            except (TypeError, ValueError):
                continue
        if docs:
            traces[trace_id] = docs
    return traces


# ---------------------------------------------------------------- traces
def assemble(docs: list[dict]) -> list[dict]:
    """The trace's segments, with subsegments sent on their own put back into their parents."""
    by_id = {}
    segments, loose = [], []
    for doc in docs:
        doc = json.loads(json.dumps(doc))
        (loose if doc.get("type") == "subsegment" else segments).append(doc)
    for doc in segments + loose:
        for sub in walk(doc):
            by_id[sub["id"]] = sub
    for sub in loose:
        parent = by_id.get(sub.get("parent_id"))
        if parent is not None and parent is not sub:
            sub.pop("type", None)
            sub.pop("trace_id", None)
            parent.setdefault("subsegments", []).append(sub)
        else:
            segments.append(sub)  # its parent has not arrived (yet): shown on its own, as AWS does
    return segments


def walk(doc: dict):
    """The document and every subsegment under it."""
    yield doc
    for sub in doc.get("subsegments") or []:
        if isinstance(sub, dict) and "id" in sub:
            yield from walk(sub)


def duration(doc: dict) -> float:
    """Seconds between start and end (0 while in progress)."""
    end = doc.get("end_time")
    return max(0.0, float(end) - float(doc["start_time"])) if end is not None else 0.0


def trace_span(segments: list[dict]) -> tuple[float, float]:
    """Earliest start and latest end over the trace's segments."""
    start = min(float(s["start_time"]) for s in segments)
    end = max(float(s.get("end_time") or s["start_time"]) for s in segments)
    return start, end


def trace_document(trace_id: str, docs: list[dict]) -> dict:
    """One BatchGetTraces trace."""
    segments = assemble(docs)
    start, end = trace_span(segments)
    return {"Id": trace_id, "Duration": round(end - start, 3), "LimitExceeded": False,
            "Segments": [{"Id": s["id"], "Document": json.dumps(s, separators=(",", ":"))} for s in segments]}


# ---------------------------------------------------------------- graph
class Stats:
    """Request counts of a node or an edge, as X-Ray sums them."""

    def __init__(self):
        self.ok = self.throttle = self.error = self.fault = 0
        self.response_time = 0.0
        self.start = self.end = None

    def add(self, doc: dict) -> None:
        """Count one request (a segment or a subsegment)."""
        if doc.get("fault"):
            self.fault += 1
        elif doc.get("throttle"):
            self.throttle += 1
        elif doc.get("error"):
            self.error += 1
        else:
            self.ok += 1
        self.response_time += duration(doc)
        start, end = float(doc["start_time"]), float(doc.get("end_time") or doc["start_time"])
        self.start = start if self.start is None else min(self.start, start)
        self.end = end if self.end is None else max(self.end, end)

    def document(self) -> dict:
        """ServiceStatistics / EdgeStatistics."""
        errors = self.error + self.throttle
        return {"OkCount": self.ok, "TotalCount": self.ok + errors + self.fault,
                "ErrorStatistics": {"ThrottleCount": self.throttle, "OtherCount": self.error, "TotalCount": errors},
                "FaultStatistics": {"OtherCount": self.fault, "TotalCount": self.fault},
                "TotalResponseTime": round(self.response_time, 6)}


def node_key(doc: dict) -> tuple[str, str]:
    """The service a segment belongs to: its name and origin."""
    return doc["name"], doc.get("origin") or ""


def service_name(sub: dict) -> str:
    """The AWS service an aws subsegment calls, as the service map names it."""
    return SERVICE_NAMES.get(sub["name"], sub["name"])


def inferred_key(sub: dict) -> tuple[str, str]:
    """The downstream node a subsegment with namespace aws/remote stands for."""
    if sub.get("namespace") == "aws":
        name = service_name(sub)
        return name, INFERRED_TYPES.get(name, f"AWS::{name}")
    return sub["name"], "remote"


def same_service(sub: dict, doc: dict) -> bool:
    """Whether a downstream segment is the AWS service the calling subsegment names (Lambda -> AWS::Lambda)."""
    origin = doc.get("origin") or ""
    return sub.get("namespace") == "aws" and origin.split("::")[:2] == ["AWS", service_name(sub)]


class Graph:
    """Nodes and edges summed over traces."""

    def __init__(self):
        self.nodes: dict[tuple, Stats] = defaultdict(Stats)
        self.edges: dict[tuple, dict[tuple, Stats]] = defaultdict(lambda: defaultdict(Stats))
        self.called: set[tuple] = set()

    def edge(self, caller: tuple, callee: tuple, doc: dict) -> None:
        """Count one call from caller to callee."""
        self.edges[caller][callee].add(doc)
        self.called.add(callee)

    def add_trace(self, docs: list[dict]) -> None:
        """Add one trace's services and calls."""
        segments = [s for s in assemble(docs) if s.get("type") != "subsegment"]
        owner = {}   # id of any segment or subsegment -> (segment, the subsegment itself)
        for seg in segments:
            for sub in walk(seg):
                owner[sub["id"]] = (seg, sub)
        answered = set()  # subsegments whose downstream end sent its own segment
        for seg in segments:
            self.nodes[node_key(seg)].add(seg)
            parent = owner.get(seg.get("parent_id"))
            if parent is None:
                continue
            caller_seg, caller_sub = parent
            caller = node_key(caller_seg)
            if caller_sub is caller_seg or caller_sub.get("namespace") not in ("aws", "remote"):
                self.edge(caller, node_key(seg), seg)
            elif same_service(caller_sub, seg):
                answered.add(caller_sub["id"])
                self.edge(caller, node_key(seg), caller_sub)
            else:
                answered.add(caller_sub["id"])
                middle = inferred_key(caller_sub)
                self.nodes[middle].add(caller_sub)
                self.edge(caller, middle, caller_sub)
                self.edge(middle, node_key(seg), seg)
        for seg in segments:
            for sub in walk(seg):
                if sub is seg or sub.get("namespace") not in ("aws", "remote") or sub["id"] in answered:
                    continue
                callee = inferred_key(sub)
                self.nodes[callee].add(sub)
                self.edge(node_key(seg), callee, sub)

    def services(self, account: str) -> list[dict]:
        """The graph as X-Ray's Service list."""
        ids = {key: number for number, key in enumerate(self.nodes)}
        out = []
        for key, stats in self.nodes.items():
            name, kind = key
            edges = [{"ReferenceId": ids[callee], "StartTime": when(s.start), "EndTime": when(s.end),
                      "SummaryStatistics": s.document(), "ResponseTimeHistogram": [], "Aliases": []}
                     for callee, s in self.edges.get(key, {}).items()]
            service = {"ReferenceId": ids[key], "Name": name, "Names": [name], "Root": key not in self.called,
                       "State": "active", "StartTime": when(stats.start), "EndTime": when(stats.end),
                       "Edges": edges, "SummaryStatistics": stats.document(), "DurationHistogram": [],
                       "ResponseTimeHistogram": []}
            if kind:
                service["Type"] = kind
            if kind != "remote":
                service["AccountId"] = account
            out.append(service)
        return out


def when(seconds: float | None) -> datetime | None:
    """A timestamp for the API from epoch seconds."""
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=timezone.utc)


def epoch(value) -> float:
    """Epoch seconds from a request timestamp (datetime or number)."""
    return value.timestamp() if isinstance(value, datetime) else float(value)


def summary(trace_id: str, docs: list[dict]) -> dict:
    """One GetTraceSummaries entry."""
    segments = assemble(docs)
    start, end = trace_span(segments)
    everything = [sub for seg in segments for sub in walk(seg)]
    roots = [s for s in segments if not s.get("parent_id")] or segments
    root = min(roots, key=lambda s: float(s["start_time"]))
    graph = Graph()
    graph.add_trace(docs)
    services = [{"Name": name, "Names": [name], "Type": kind} for name, kind in graph.nodes]
    http = (root.get("http") or {})
    out = {"Id": trace_id, "StartTime": when(start), "Duration": round(end - start, 3),
           "ResponseTime": round(duration(root), 3),
           "HasFault": any(d.get("fault") for d in everything), "HasError": any(d.get("error") for d in everything),
           "HasThrottle": any(d.get("throttle") for d in everything),
           "IsPartial": any(d.get("in_progress") for d in everything),
           "ServiceIds": services, "EntryPoint": {"Name": root["name"], "Names": [root["name"]],
                                                 "Type": root.get("origin") or ""},
           "Annotations": {}, "Users": [], "ResourceARNs": [], "InstanceIds": [], "AvailabilityZones": []}
    if http:
        request, response = http.get("request") or {}, http.get("response") or {}
        out["Http"] = {k: v for k, v in {"HttpURL": request.get("url"), "HttpMethod": request.get("method"),
                                         "HttpStatus": response.get("status"),
                                         "UserAgent": request.get("user_agent"),
                                         "ClientIp": request.get("client_ip")}.items() if v is not None}
    return out


# ---------------------------------------------------------------- the API
class XrayApi:
    """The part of X-Ray's API the provider answers itself (botocore's spec describes the rest)."""

    service: str = "xray"
    version: str = "2016-04-12"


class OcbookXrayProvider(XrayApi):
    """X-Ray: moto stores, this computes traces, summaries and graphs."""

    @handler("PutTraceSegments", expand=False)
    def put_trace_segments(self, context: RequestContext, request: dict) -> dict:
        """Store each document; report the ones that were not segments."""
        unprocessed = []
        for document in request.get("TraceSegmentDocuments") or []:
            problem = store(context.account_id, context.region, document)
            if problem:
                try:
                    seg_id = json.loads(document).get("id")
                except (TypeError, ValueError, AttributeError):
                    seg_id = None
                unprocessed.append({"Id": seg_id, "ErrorCode": "InvalidSegment", "Message": problem})
        return {"UnprocessedTraceSegments": unprocessed}

    @handler("BatchGetTraces", expand=False)
    def batch_get_traces(self, context: RequestContext, request: dict) -> dict:
        """The traces asked for; unknown ids come back as unprocessed."""
        traces = stored_traces(context.account_id, context.region)
        found = [trace_document(t, traces[t]) for t in request.get("TraceIds") or [] if t in traces]
        missing = [t for t in request.get("TraceIds") or [] if t not in traces]
        return {"Traces": found, "UnprocessedTraceIds": missing}

    @handler("GetTraceSummaries", expand=False)
    def get_trace_summaries(self, context: RequestContext, request: dict) -> dict:
        """Traces that started in the window (filter expressions are not supported)."""
        if request.get("FilterExpression"):
            raise InvalidRequestException("the book's engine does not evaluate X-Ray filter expressions")
        low, high = epoch(request["StartTime"]), epoch(request["EndTime"])
        found = []
        for trace_id, docs in stored_traces(context.account_id, context.region).items():
            start = min(float(d["start_time"]) for d in docs)
            if low <= start <= high:
                found.append(summary(trace_id, docs))
        found.sort(key=lambda s: s["StartTime"])
        return {"TraceSummaries": found, "ApproximateTime": datetime.now(tz=timezone.utc),
                "TracesProcessedCount": len(found)}

    @handler("GetServiceGraph", expand=False)
    def get_service_graph(self, context: RequestContext, request: dict) -> dict:
        """The graph of every trace with a segment in the window."""
        low, high = epoch(request["StartTime"]), epoch(request["EndTime"])
        graph = Graph()
        for docs in stored_traces(context.account_id, context.region).values():
            if any(low <= float(d["start_time"]) <= high for d in docs):
                graph.add_trace(docs)
        return {"StartTime": request["StartTime"], "EndTime": request["EndTime"],
                "Services": graph.services(context.account_id), "ContainsOldGroupVersions": False}

    @handler("GetTraceGraph", expand=False)
    def get_trace_graph(self, context: RequestContext, request: dict) -> dict:
        """The graph of the traces asked for."""
        traces = stored_traces(context.account_id, context.region)
        graph = Graph()
        for trace_id in request.get("TraceIds") or []:
            if trace_id in traces:
                graph.add_trace(traces[trace_id])
        return {"Services": graph.services(context.account_id)}


# ---------------------------------------------------------------- the daemon's UDP endpoint
_daemon: dict = {}
_daemon_lock = threading.Lock()


def daemon_port_wanted() -> int:
    """OCBOOK_XRAY_DAEMON_PORT, else the engine's port + 1 (0 = any free port)."""
    if os.environ.get("OCBOOK_XRAY_DAEMON_PORT"):
        return int(os.environ["OCBOOK_XRAY_DAEMON_PORT"])
    listen = os.environ.get("GATEWAY_LISTEN", "")
    port = listen.rsplit(":", 1)[-1]
    return int(port) + 1 if port.isdigit() else 0


def receive(data: bytes) -> str | None:
    """Store one daemon datagram (header line, then a segment document); None if stored, else why not."""
    header, _, body = data.partition(b"\n")
    try:
        if json.loads(header) != DAEMON_HEADER:
            return f"unexpected header {header[:80]!r}"
        document = body.decode()
    except (ValueError, UnicodeDecodeError):
        return f"unexpected header {header[:80]!r}"
    region = os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return store(DEFAULT_ACCOUNT, region, document)


def serve(sock: socket.socket) -> None:
    """Receive datagrams until the socket closes."""
    while True:
        try:
            data, _ = sock.recvfrom(65535)
        except OSError:
            return
        problem = receive(data)
        if problem:
            LOG.warning("X-Ray daemon endpoint dropped a datagram: %s", problem)


def daemon_address() -> str:
    """127.0.0.1:port of the UDP endpoint, started on first use."""
    with _daemon_lock:
        if "address" not in _daemon:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind(("127.0.0.1", daemon_port_wanted()))
            except OSError:
                sock.bind(("127.0.0.1", 0))
            _daemon["socket"] = sock
            _daemon["address"] = f"127.0.0.1:{sock.getsockname()[1]}"
            threading.Thread(target=serve, args=(sock,), name="ocbook-xray-daemon", daemon=True).start()
            LOG.info("X-Ray daemon endpoint on udp://%s", _daemon["address"])
        return _daemon["address"]


@aws_provider(api="xray", name="ocbook")
def xray_ocbook():
    """The xray:ocbook provider plugin."""
    require("xray:ocbook", "localstack-core", "moto-ext")
    daemon_address()
    return Service.for_provider(OcbookXrayProvider(), dispatch_table_factory=MotoFallbackDispatcher)


# ---------------------------------------------------------------- Lambda's own segments
def lambda_traces(mode: str | None, sampled) -> bool:
    """Whether Lambda records an invocation: Active samples (the engine: all), PassThrough only Sampled=1."""
    if str(sampled) == "0":
        return False
    return mode == "Active" or str(sampled) == "1"


def lambda_segments(function_version, header, parent: str | None, ids: tuple[str, str], start: float,
                    end: float, result) -> list[dict]:
    """The two segments Lambda sends for a traced invocation: the service's and the function's."""
    service_id, function_id = ids
    name = function_version.id.function_name
    arn = function_version.qualified_arn
    request_id = getattr(result, "request_id", None)
    common = {"name": name, "trace_id": header.root, "start_time": start, "end_time": end}
    service = {**common, "id": service_id, "origin": "AWS::Lambda", "resource_arn": arn,
               "aws": {"request_id": request_id}, "http": {"response": {"status": 200}}}
    if parent:
        service["parent_id"] = parent
    function = {**common, "id": function_id, "parent_id": service_id, "origin": "AWS::Lambda::Function",
                "resource_arn": arn, "aws": {"function_arn": arn, "request_id": request_id}}
    if result is None or getattr(result, "is_error", False):
        function["fault"] = True
    return [service, function]


def patch_lambda_segments() -> bool:
    """Make traced Lambda invocations send AWS::Lambda and AWS::Lambda::Function segments, as Lambda does."""
    import secrets
    import time

    from localstack.services.lambda_.invocation.execution_environment import ExecutionEnvironment
    from localstack.utils.xray.trace_header import TraceHeader

    from ocbook_engine import guard

    if not guard.applies("Lambda X-Ray segments", "traced invocations send no Lambda segments"):
        return False
    if getattr(ExecutionEnvironment.invoke, "_ocbook_traced", False):
        return True
    original = ExecutionEnvironment.invoke

    def invoke(self, invocation):
        header = invocation.trace_context.get("aws_trace_header")
        if isinstance(header, str):
            header = TraceHeader.from_header_str(header)
        header = header or TraceHeader()
        mode = getattr(self.function_version.config, "tracing_config_mode", None)
        if not lambda_traces(mode, header.sampled):
            return original(self, invocation)
        header.ensure_root_exists()
        parent = header.parent
        ids = (secrets.token_hex(8), secrets.token_hex(8))
        traced = TraceHeader(root=header.root, parent=ids[1], sampled=1, lineage=header.lineage, data=header.data)
        invocation.trace_context["aws_trace_header"] = traced
        start, result = time.time(), None
        try:
            result = original(self, invocation)
            return result
        finally:
            # An asynchronous retry runs the same invocation again: it must start from the caller's header,
            # not from this attempt's function segment (same trace, the caller's parent).
            invocation.trace_context["aws_trace_header"] = header
            fv = self.function_version
            for doc in lambda_segments(fv, traced, parent, ids, start, time.time(), result):
                problem = store(fv.id.account, fv.id.region, json.dumps(doc))
                if problem:
                    LOG.warning("Lambda segment for %s not stored: %s", fv.id.function_name, problem)

    invoke._ocbook_traced = True
    ExecutionEnvironment.invoke = invoke
    return True
