"""X-Ray on the engine: segments in (UDP daemon protocol, PutTraceSegments), traces, graphs, trace headers.

AWS: https://docs.aws.amazon.com/xray/latest/devguide/xray-concepts.html (segments, subsegments, inferred
nodes, the service graph), https://docs.aws.amazon.com/xray/latest/devguide/xray-api-sendingdata.html (the
daemon's UDP format), https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-related-service-xray.html
(an entry's TraceHeader reaches the targets). The traced handler sends what the X-Ray SDK sends inside Lambda
(code/functions/probe/traced.py); the engine sends Lambda's own AWS::Lambda and AWS::Lambda::Function segments.
"""

from __future__ import annotations

import json
import secrets
import socket
import time

import pytest

import ocbook as ob
from tests.engine.conftest import items, wait_items

pytestmark = pytest.mark.skipif("ob.engine.xray_daemon_address() is None",
                                reason="needs the book's engine (X-Ray daemon endpoint)")


def trace_id() -> str:
    """A new X-Ray trace id (version 1, epoch seconds in hex, 96 random bits)."""
    return f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def segment(name: str, trace: str, **fields) -> dict:
    """A finished segment document."""
    now = time.time()
    return {"name": name, "id": secrets.token_hex(8), "trace_id": trace, "start_time": now - 0.05,
            "end_time": now, **fields}


def send_udp(document: dict | str, header: bytes = b'{"format": "json", "version": 1}\n') -> None:
    """One datagram to the engine's X-Ray daemon endpoint."""
    host, port = ob.engine.xray_daemon_address().split(":")
    body = document if isinstance(document, str) else json.dumps(document)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(header + body.encode(), (host, int(port)))


def traces(*ids: str) -> dict[str, list[dict]]:
    """BatchGetTraces: trace id -> its segment documents."""
    found = ob.client("xray").batch_get_traces(TraceIds=list(ids))
    return {t["Id"]: [json.loads(s["Document"]) for s in t["Segments"]] for t in found["Traces"]}


def wait_traces(ids: list[str], ok, timeout: float = 20) -> dict[str, list[dict]]:
    """BatchGetTraces until ok(found) holds."""
    return ob.wait.until(lambda: traces(*ids), ok, timeout, what=f"traces {ids}")


def graph(ids: list[str]) -> dict[tuple, dict]:
    """GetTraceGraph as (name, type) -> service, with edges keyed by the callee's (name, type)."""
    services = ob.client("xray").get_trace_graph(TraceIds=ids)["Services"]
    by_ref = {s["ReferenceId"]: (s["Name"], s.get("Type", "")) for s in services}
    out = {}
    for s in services:
        out[by_ref[s["ReferenceId"]]] = {**s, "edges": {by_ref[e["ReferenceId"]]: e for e in s["Edges"]}}
    return out


def test_segments_over_udp_and_put_trace_segments_appear_in_batch_get_traces():
    by_udp, by_api, never = trace_id(), trace_id(), trace_id()
    sent_udp = segment("udp-service", by_udp)
    sent_api = segment("api-service", by_api, origin="AWS::EC2::Instance")
    send_udp(sent_udp)
    send_udp(segment("dropped", never), header=b'{"format": "xml"}\n')  # not the daemon's header: dropped
    answer = ob.client("xray").put_trace_segments(TraceSegmentDocuments=[json.dumps(sent_api), "{}"])
    assert len(answer["UnprocessedTraceSegments"]) == 1  # the empty document is refused, the segment is not
    found = wait_traces([by_udp, by_api], lambda f: len(f) == 2)
    assert found[by_udp] == [sent_udp]
    assert found[by_api] == [sent_api]
    batch = ob.client("xray").batch_get_traces(TraceIds=[by_udp, never])
    assert batch["UnprocessedTraceIds"] == [never]
    summaries = ob.client("xray").get_trace_summaries(StartTime=time.time() - 60, EndTime=time.time() + 5)
    summary_ids = {s["Id"] for s in summaries["TraceSummaries"]}
    assert {by_udp, by_api} <= summary_ids and never not in summary_ids


def test_subsegments_sent_alone_join_their_segment_and_faults_show_in_the_summary():
    trace = trace_id()
    parent = segment("worker", trace)
    child = {"type": "subsegment", "parent_id": parent["id"], **segment("DynamoDB", trace, namespace="aws",
                                                                         fault=True)}
    send_udp(child)
    send_udp(parent)
    found = wait_traces([trace], lambda f: trace in f and f[trace][0].get("subsegments"))
    assert [s["id"] for s in found[trace]] == [parent["id"]]
    assert [s["id"] for s in found[trace][0]["subsegments"]] == [child["id"]]
    ok_trace = trace_id()  # control: the same shape without a fault
    send_udp(segment("worker", ok_trace))
    wait_traces([ok_trace], lambda f: ok_trace in f)
    summaries = ob.client("xray").get_trace_summaries(StartTime=time.time() - 60, EndTime=time.time() + 5)
    flags = {s["Id"]: s["HasFault"] for s in summaries["TraceSummaries"]}
    assert flags[trace] is True and flags[ok_trace] is False


@pytest.fixture(scope="module")
def choreography(deployment, records):
    """publish (traced): DynamoDB put + PutEvents -> rule -> seen (traced), both with Tracing Active."""
    bus = deployment.bus("xray")
    seen = deployment.function("seen", "probe.traced.seen", env={"TABLE": records}, tracing="Active")
    rule = deployment.rule(bus, {"source": ["book.xray"]}, [seen.arn])
    deployment.allow(seen, "events.amazonaws.com", rule)
    publish = deployment.function("publish", "probe.traced.publish", env={"TABLE": records, "BUS": bus},
                                  tracing="Active")
    return {"bus": bus, "publish": publish, "seen": seen, "rule": rule}


def test_service_graph_of_a_choreography_has_the_nodes_and_edges_aws_shows(choreography, records):
    publish, seen = choreography["publish"].name, choreography["seen"].name
    before = len(items(records, "seen"))
    ids = []
    for _ in range(2):
        answer = ob.client("lambda").invoke(FunctionName=publish, Payload=b"{}")
        assert "FunctionError" not in answer, answer["Payload"].read()
        ids.append(json.loads(answer["Payload"].read())["trace"].split(";")[0].removeprefix("Root="))
    assert ids[0] != ids[1]
    wait_items(records, "seen", before + 2)
    # Each trace: publish's two Lambda segments (with the SDK's two subsegments) and seen's two.
    wait_traces(ids, lambda f: len(f) == 2 and all(len(docs) == 4 and sum(len(d.get("subsegments", []))
                                                                          for d in docs) == 2
                                                   for docs in f.values()))
    nodes = graph(ids)
    lam, fn = "AWS::Lambda", "AWS::Lambda::Function"
    expected = {(publish, lam): {(publish, fn)},
                (publish, fn): {("DynamoDB", "AWS::DynamoDB::Table"), ("EventBridge", "AWS::Events")},
                ("DynamoDB", "AWS::DynamoDB::Table"): set(),
                ("EventBridge", "AWS::Events"): {(seen, lam)},
                (seen, lam): {(seen, fn)},
                (seen, fn): set()}
    assert {key: set(node["edges"]) for key, node in nodes.items()} == expected
    for key, node in nodes.items():
        assert node["SummaryStatistics"]["TotalCount"] == 2, key
        for callee, edge in node["edges"].items():
            stats = edge["SummaryStatistics"]
            assert (stats["TotalCount"], stats["OkCount"], stats["FaultStatistics"]["TotalCount"]) == (2, 2, 0), callee
    assert [key for key, node in nodes.items() if node["Root"]] == [(publish, lam)]
    window = ob.client("xray").get_service_graph(StartTime=time.time() - 120, EndTime=time.time() + 5)
    assert {(s["Name"], s.get("Type")) for s in window["Services"]} >= set(expected)


def test_a_trace_header_given_to_put_events_is_the_one_the_target_sees(choreography, records):
    before = len(items(records, "seen"))
    given = trace_id()
    header = f"Root={given};Parent={secrets.token_hex(8)};Sampled=1"
    entry = {"EventBusName": choreography["bus"], "Source": "book.xray", "DetailType": "Probe"}
    put = ob.client("events").put_events(Entries=[{**entry, "Detail": json.dumps({"n": "traced"}),
                                                   "TraceHeader": header},
                                                  {**entry, "Detail": json.dumps({"n": "plain"})}])
    assert put["FailedEntryCount"] == 0
    seen = {json.loads(i["detail"])["n"]: i for i in wait_items(records, "seen", before + 2)[before:]}
    assert f"Root={given};" in seen["traced"]["trace"]
    assert given not in seen["plain"]["trace"] and "Root=1-" in seen["plain"]["trace"]  # control: its own trace
    assert seen["traced"]["daemon"] == ob.engine.xray_daemon_address()


def test_lambda_invoke_carries_the_callers_trace_header_sync_and_async(choreography, records):
    seen = choreography["seen"].name
    given_sync, given_async = trace_id(), trace_id()
    lam = ob.client("lambda")
    header = {}

    def add_header(request, **_):
        request.headers["X-Amzn-Trace-Id"] = header["value"]

    lam.meta.events.register("before-send.lambda.Invoke", add_header)
    try:
        header["value"] = f"Root={given_sync};Parent={secrets.token_hex(8)};Sampled=1"
        answer = json.loads(lam.invoke(FunctionName=seen, Payload=b'{"n": "sync"}')["Payload"].read())
        before = len(items(records, "seen"))
        header["value"] = f"Root={given_async};Sampled=1"
        lam.invoke(FunctionName=seen, Payload=b'{"n": "async"}', InvocationType="Event")
    finally:
        lam.meta.events.unregister("before-send.lambda.Invoke", add_header)
    assert answer["trace"].startswith(f"Root={given_sync};")
    recent = wait_items(records, "seen", before + 1)[before:]
    async_seen = [i for i in recent if json.loads(i["detail"])["n"] == "async"]
    assert async_seen and async_seen[0]["trace"].startswith(f"Root={given_async};")
    control = json.loads(lam.invoke(FunctionName=seen, Payload=b'{"n": "plain"}')["Payload"].read())
    assert given_sync not in control["trace"] and given_async not in control["trace"]
    # Lambda's function segment is the parent the handler sees (Parent=), and it is stored under the given trace.
    parent = dict(p.split("=", 1) for p in answer["trace"].split(";"))["Parent"]
    found = wait_traces([given_sync], lambda f: any(d["id"] == parent for d in f.get(given_sync, [])))
    function_segment = next(d for d in found[given_sync] if d["id"] == parent)
    assert function_segment["origin"] == "AWS::Lambda::Function" and function_segment["name"] == seen


def test_pass_through_functions_trace_only_sampled_requests(deployment, records):
    quiet = deployment.function("quiet", "probe.traced.seen", env={"TABLE": records})  # PassThrough (default)
    lam = ob.client("lambda")
    unsampled = json.loads(lam.invoke(FunctionName=quiet.name, Payload=b"{}")["Payload"].read())
    root = unsampled["trace"].split(";")[0].removeprefix("Root=")
    sampled = trace_id()

    def add_header(request, **_):
        request.headers["X-Amzn-Trace-Id"] = f"Root={sampled};Sampled=1"

    lam.meta.events.register("before-send.lambda.Invoke", add_header)
    try:
        lam.invoke(FunctionName=quiet.name, Payload=b"{}")
    finally:
        lam.meta.events.unregister("before-send.lambda.Invoke", add_header)
    found = wait_traces([sampled], lambda f: len(f.get(sampled, [])) == 2)
    assert {d["origin"] for d in found[sampled]} == {"AWS::Lambda", "AWS::Lambda::Function"}
    assert traces(root) == {}


def test_a_handler_traced_with_powertools_tracer_draws_the_same_graph(deployment, records, choreography):
    layer = deployment.layer("tracer", ob.package.layer_zip("aws-lambda-powertools", "aws-xray-sdk", "wrapt",
                                                             "jmespath", "typing-extensions"))
    publish = deployment.function("tracer", "probe.tracer.publish", env={"TABLE": records,
                                                                         "BUS": choreography["bus"]},
                                  layers=[layer], tracing="Active")
    seen = choreography["seen"].name
    before = len(items(records, "seen"))
    answer = ob.client("lambda").invoke(FunctionName=publish.name, Payload=b"{}")
    assert "FunctionError" not in answer, answer["Payload"].read()
    trace = json.loads(answer["Payload"].read())["trace"].split(";")[0].removeprefix("Root=")
    wait_items(records, "seen", before + 1)
    wait_traces([trace], lambda f: len(f.get(trace, [])) == 4)
    nodes = graph([trace])
    callees = {key: set(node["edges"]) for key, node in nodes.items()}
    assert callees[(publish.name, "AWS::Lambda::Function")] >= {("DynamoDB", "AWS::DynamoDB::Table"),
                                                                ("EventBridge", "AWS::Events")}
    assert callees[("EventBridge", "AWS::Events")] == {(seen, "AWS::Lambda")}


def test_a_traced_state_machine_carries_its_trace_to_its_lambda_task(deployment, records, choreography):
    seen = choreography["seen"]
    definition = {"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True,
        "Parameters": {"FunctionName": seen.arn, "Payload": {"n.$": "$.n"}}}}}
    traced = deployment.state_machine("traced", definition, tracing=True)
    untraced = deployment.state_machine("untraced", definition)  # control: tracing not enabled
    sfn = ob.client("stepfunctions")
    before = len(items(records, "seen"))
    for arn, n in ((traced, "sfn-traced"), (untraced, "sfn-untraced")):
        run = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"n": n}))
        ob.wait.until(lambda run=run: sfn.describe_execution(executionArn=run["executionArn"])["status"],
                      lambda status: status != "RUNNING", 20, what="the execution to end")
    recent = {json.loads(i["detail"])["n"]: i for i in wait_items(records, "seen", before + 2)[before:]}
    roots = {n: dict(p.split("=", 1) for p in recent[n]["trace"].split(";"))["Root"] for n in recent}
    machine = traced.split(":")[-1]
    found = wait_traces([roots["sfn-traced"]], lambda f: any(d.get("origin") == "AWS::StepFunctions::StateMachine"
                                                             for d in f.get(roots["sfn-traced"], [])))
    assert {d["origin"] for d in found[roots["sfn-traced"]]} == {"AWS::StepFunctions::StateMachine", "AWS::Lambda",
                                                                 "AWS::Lambda::Function"}
    callees = {key: set(node["edges"]) for key, node in graph([roots["sfn-traced"]]).items()}
    assert callees[(machine, "AWS::StepFunctions::StateMachine")] == {(seen.name, "AWS::Lambda")}
    untraced_docs = wait_traces([roots["sfn-untraced"]], lambda f: len(f.get(roots["sfn-untraced"], [])) == 2)
    assert {d["origin"] for d in untraced_docs[roots["sfn-untraced"]]} == {"AWS::Lambda", "AWS::Lambda::Function"}


def with_trace_header(client, operation: str, header: str, call):
    """Run call() with X-Amzn-Trace-Id set on the client's `operation` requests (as a traced caller sends it)."""
    def add_header(request, **_):
        request.headers["X-Amzn-Trace-Id"] = header

    event = f"before-send.{client.meta.service_model.endpoint_prefix}.{operation}"
    client.meta.events.register(event, add_header)
    try:
        return call()
    finally:
        client.meta.events.unregister(event, add_header)


def seen_roots(records: str, before: int, count: int) -> dict[str, str]:
    """The trace Root each of the next `count` 'seen' records carries, by the marker in its event."""
    found = {}
    for item in wait_items(records, "seen", before + count)[before:]:
        marker = next(m for m in ("traced", "plain") if m in item["detail"])
        found[marker] = dict(p.split("=", 1) for p in item["trace"].split(";"))["Root"]
    return found


def test_an_sqs_message_carries_its_senders_trace_to_the_lambda_it_triggers(deployment, records, choreography):
    """SQS keeps the sender's header as AWSTraceHeader; the event source mapping continues that trace."""
    queue = deployment.queue("xray-sqs")
    deployment.mapping(choreography["seen"], queue.arn, BatchSize=1)
    sqs = ob.client("sqs")
    caller = segment("sqs-sender", trace_id())
    given = caller["trace_id"]
    call = {"id": secrets.token_hex(8), "name": "SQS", "namespace": "aws", "start_time": caller["start_time"],
            "end_time": caller["end_time"], "aws": {"operation": "SendMessage"}}
    send_udp({**caller, "subsegments": [call]})
    before = len(items(records, "seen"))
    with_trace_header(sqs, "SendMessage", f"Root={given};Parent={call['id']};Sampled=1",
                      lambda: sqs.send_message(QueueUrl=queue.url, MessageBody="traced"))
    sqs.send_message(QueueUrl=queue.url, MessageBody="plain")  # control: no header, a trace of its own
    roots = seen_roots(records, before, 2)
    assert roots["traced"] == given and roots["plain"] != given
    found = wait_traces([given], lambda f: len(f.get(given, [])) == 3)
    assert {d.get("origin") for d in found[given]} == {None, "AWS::Lambda", "AWS::Lambda::Function"}
    callees = {key: set(node["edges"]) for key, node in graph([given]).items()}
    assert callees[("sqs-sender", "")] == {("SQS", "AWS::SQS::Queue")}
    assert callees[("SQS", "AWS::SQS::Queue")] == {(choreography["seen"].name, "AWS::Lambda")}


def test_an_sns_publish_carries_its_trace_to_lambda_and_sqs_subscribers(deployment, records, choreography):
    """SNS passes the publisher's trace to a Lambda subscription and, as AWSTraceHeader, to an SQS one."""
    seen = choreography["seen"]
    topic = deployment.topic("xray-sns")
    deployment.allow(seen, "sns.amazonaws.com", topic)
    deployment.subscribe(topic, "lambda", seen.arn)
    queue = deployment.queue("xray-sns-sqs")
    ob.client("sqs").set_queue_attributes(QueueUrl=queue.url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                                "Action": "sqs:SendMessage", "Resource": queue.arn}]})})
    deployment.subscribe(topic, "sqs", queue.arn)
    sns, given = ob.client("sns"), trace_id()
    before = len(items(records, "seen"))
    with_trace_header(sns, "Publish", f"Root={given};Parent={secrets.token_hex(8)};Sampled=1",
                      lambda: sns.publish(TopicArn=topic, Message="traced"))
    sns.publish(TopicArn=topic, Message="plain")  # control: no header
    roots = seen_roots(records, before, 2)
    assert roots["traced"] == given and roots["plain"] != given
    queued = ob.wait.until(lambda: ob.client("sqs").receive_message(
        QueueUrl=queue.url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["AWSTraceHeader"],
        WaitTimeSeconds=1).get("Messages", []), lambda m: len(m) == 2, 20, what="both messages in the queue")
    headers = {m["Body"]: m.get("Attributes", {}).get("AWSTraceHeader", "") for m in queued}
    assert f"Root={given};" in headers["traced"] and given not in headers["plain"]


def test_an_asynchronous_retry_is_a_new_function_segment_under_the_callers_parent(deployment):
    failing = deployment.function("xray-retry", "probe.handlers.fail", tracing="Active")
    deployment.async_config(failing, retries=1)
    lam, given, parent = ob.client("lambda"), trace_id(), secrets.token_hex(8)
    with_trace_header(lam, "Invoke", f"Root={given};Parent={parent};Sampled=1",
                      lambda: lam.invoke(FunctionName=failing.name, Payload=b"{}", InvocationType="Event"))
    found = wait_traces([given], lambda f: len(f.get(given, [])) == 4, timeout=40)[given]
    services = [d for d in found if d["origin"] == "AWS::Lambda"]
    functions = [d for d in found if d["origin"] == "AWS::Lambda::Function"]
    assert [d["parent_id"] for d in services] == [parent, parent]  # both attempts answer the caller's call
    assert {d["parent_id"] for d in functions} == {d["id"] for d in services} and len(functions) == 2
    assert all(d.get("fault") for d in functions)


def test_update_state_machine_turns_tracing_on(deployment):
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    arn = deployment.state_machine("retraced", definition)
    sfn = ob.client("stepfunctions")

    def run() -> str:
        given = trace_id()
        started = sfn.start_execution(stateMachineArn=arn, input="{}", traceHeader=f"Root={given};Sampled=1")
        ob.wait.until(lambda: sfn.describe_execution(executionArn=started["executionArn"])["status"],
                      lambda status: status != "RUNNING", 20, what="the execution to end")
        return given

    before = run()  # control: not traced yet
    sfn.update_state_machine(stateMachineArn=arn, tracingConfiguration={"enabled": True})
    after = run()
    found = wait_traces([after], lambda f: len(f.get(after, [])) == 1)[after]
    assert found[0]["origin"] == "AWS::StepFunctions::StateMachine"
    assert traces(before) == {}
