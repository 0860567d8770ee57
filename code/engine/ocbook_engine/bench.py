"""Benchmark of the embedded engine: start-up, Lambda invokes, first DynamoDB call, a 3-step state machine, memory.

    python code/engine/ocbook_engine/launcher.py bench [--rounds N] [--functions N]

Starts its own engine on a spare port with a temporary home (the shared venv),
so a running engine is not disturbed, and prints one line per figure.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import boto3
from botocore.config import Config

LAUNCHER = Path(__file__).with_name("launcher.py")
PROBE = Path(__file__).resolve().parents[2] / "functions" / "probe"
ROLE = "arn:aws:iam::000000000000:role/bench"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def probe_zip() -> bytes:
    """The probe handlers as a deployment package."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in PROBE.glob("*.py"):
            archive.write(path, f"probe/{path.name}")
    return buffer.getvalue()


def timed(action) -> float:
    """Milliseconds one call takes."""
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def report(name: str, value: float, unit: str, target: str = "") -> None:
    """Print one figure."""
    print(f"{name:<44} {value:>9.1f} {unit:<3} {target}", flush=True)


def run(rounds: int, functions: int) -> None:
    """Start an engine, measure, stop it."""
    home = tempfile.mkdtemp(prefix="ocbook-bench-")
    port = free_port()
    env = dict(os.environ, OCBOOK_ENGINE_HOME=home, OCBOOK_ENGINE_PORT=str(port),
               OCBOOK_ENGINE_VENV=str(Path(sys.executable).parents[1]))
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")
    print(f"engine: localstack-core 2026.3.0 + ocbook-engine plugins on 127.0.0.1:{port}\n")
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(LAUNCHER), "start"], env=env, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(result.stderr)
    report("cold start to ready (launcher start)", (time.perf_counter() - started) * 1000, "ms", "target < 3000")
    try:
        state = json.loads(Path(home, "run", str(port), "engine.json").read_text())
        measure(port, rounds, functions, state["pid"])
    finally:
        subprocess.run([sys.executable, str(LAUNCHER), "stop"], env=env, capture_output=True)


def measure(port: int, rounds: int, functions: int, pid: int) -> None:
    """The figures, against a running engine."""
    sys.path.insert(0, str(LAUNCHER.parent.parent))
    from ocbook_engine.launcher import memory_kb, tree_memory_mb

    def client(service):
        return boto3.client(service, endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                            aws_access_key_id="test", aws_secret_access_key="test",
                            config=Config(retries={"total_max_attempts": 1}))

    lam, ddb, sfn = client("lambda"), client("dynamodb"), client("stepfunctions")
    report("engine RSS after start", tree_memory_mb(pid)[0], "MB")
    code = probe_zip()
    lam.create_function(FunctionName="bench", Runtime="python3.12", Handler="probe.handlers.echo", Role=ROLE,
                        Code={"ZipFile": code})
    lam.get_waiter("function_active_v2").wait(FunctionName="bench")
    report("first Lambda invoke of the first function", timed(lambda: lam.invoke(FunctionName="bench", Payload=b"{}")),
           "ms", "(the zygote may still be starting)")
    warm = [timed(lambda: lam.invoke(FunctionName="bench", Payload=b"{}")) for _ in range(rounds)]
    report(f"warm Lambda invoke, median of {rounds}", statistics.median(warm), "ms", "target < 30")
    report(f"warm Lambda invoke, p95 of {rounds}", sorted(warm)[int(0.95 * (len(warm) - 1))], "ms")
    first_ddb = timed(lambda: ddb.create_table(
        TableName="bench", BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}]))
    report("first DynamoDB call (CreateTable)", first_ddb, "ms")
    report("DynamoDB PutItem, median of 20", statistics.median(
        timed(lambda n=n: ddb.put_item(TableName="bench", Item={"pk": {"S": str(n)}})) for n in range(20)), "ms")
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "OutputPath": "$.Payload",
            "Parameters": {"FunctionName": "bench", "Payload.$": "$"}}
    definition = {"StartAt": "One", "States": {"One": {**task, "Next": "Two"}, "Two": {**task, "Next": "Three"},
                                               "Three": {**task, "End": True}}}
    machine = sfn.create_state_machine(name="bench", definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]

    def three_steps():
        arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
            time.sleep(0.01)

    runs = [timed(three_steps) for _ in range(max(3, rounds // 10))]
    report("3-step state machine end to end, median", statistics.median(runs), "ms")
    eventbridge_to_dlq(client, port)
    first_invokes(lam, code, functions)
    poison_batch_to_destination(client)
    rss, pss = tree_memory_mb(pid)
    report(f"stress: tree RSS, {2 * functions + 1} warm functions", rss, "MB", "(chapters: `make chapter-memory`)")
    report(f"stress: tree PSS, {2 * functions + 1} warm functions", pss, "MB", "(shared pages counted once)")
    report("  of which the engine process alone, PSS", memory_kb(pid, "Pss") / 1024, "MB")


def first_invokes(lam, code: bytes, functions: int) -> None:
    """New environments: the first invoke of fresh functions, an echo and one that writes to DynamoDB."""
    for kind, handler, env in (("echo", "probe.handlers.echo", {}),
                               ("ddb", "probe.handlers.record", {"TABLE": "bench", "KEY": "bench"})):
        names = [f"bench-{kind}{n}" for n in range(functions)]
        for name in names:
            lam.create_function(FunctionName=name, Runtime="python3.12", Handler=handler, Role=ROLE,
                                Code={"ZipFile": code}, Environment={"Variables": env})
        times = []
        for name in names:
            lam.get_waiter("function_active_v2").wait(FunctionName=name)
            times.append(timed(lambda name=name: lam.invoke(FunctionName=name, Payload=b"{}")))
        label = "echo" if kind == "echo" else "DynamoDB put"
        report(f"first invoke, new environment ({label}), median of {functions}", statistics.median(times), "ms",
               "target < 100" if kind == "echo" else "")
        report(f"first invoke, new environment ({label}), max", max(times), "ms")


def eventbridge_to_dlq(client, port: int) -> None:
    """Time from PutEvents to the DLQ record: a missing target (no retries) and a throttled one (3 retries)."""
    import urllib.request

    from ocbook_engine import clock

    events, sqs = client("events"), client("sqs")
    dlq = sqs.create_queue(QueueName="bench-eb-dlq")["QueueUrl"]
    dlq_arn = "arn:aws:sqs:us-east-1:000000000000:bench-eb-dlq"
    sqs.create_queue(QueueName="bench-eb-busy")
    busy = "arn:aws:sqs:us-east-1:000000000000:bench-eb-busy"
    events.create_event_bus(Name="bench")
    targets = {"Gone": {"Arn": "arn:aws:lambda:us-east-1:000000000000:function:bench-gone"},
               "Busy": {"Arn": busy, "RetryPolicy": {"MaximumRetryAttempts": 3}}}
    for kind, target in targets.items():
        events.put_rule(Name=f"bench-{kind}", EventBusName="bench", EventPattern=json.dumps({"detail-type": [kind]}))
        events.put_targets(Rule=f"bench-{kind}", EventBusName="bench",
                           Targets=[{"Id": "t", "DeadLetterConfig": {"Arn": dlq_arn}, **target}])
    fault = json.dumps({"TargetArn": busy, "ErrorCode": "ThrottlingException", "StatusCode": 429, "Count": 10})
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/_ocbook/events/faults",
                                                  data=fault.encode(), method="POST"), timeout=5).read()
    labels = {"Gone": "EventBridge, target missing -> DLQ record",
              "Busy": "EventBridge, throttled x4 -> DLQ record"}
    for kind, label in labels.items():
        started = time.perf_counter()
        events.put_events(Entries=[{"EventBusName": "bench", "Source": "bench", "DetailType": kind, "Detail": "{}"}])
        while not sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages"):
            if time.perf_counter() - started > 60:
                raise SystemExit(f"{label}: no DLQ record within 60 s")
        report(label, (time.perf_counter() - started) * 1000, "ms",
               f"time scale {clock.scale():.4g}" + (" (AWS: 3 back-offs, minutes)" if kind == "Busy" else ""))


def poison_batch_to_destination(client) -> None:
    """Time from 8 Kinesis records (one poisoned) to the on-failure record of the poison alone (bisect on)."""
    from ocbook_engine import clock

    kinesis, lam, sqs = client("kinesis"), client("lambda"), client("sqs")
    kinesis.create_stream(StreamName="bench-poison", ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName="bench-poison", WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    stream = kinesis.describe_stream_summary(StreamName="bench-poison")["StreamDescriptionSummary"]["StreamARN"]
    queue = sqs.create_queue(QueueName="bench-poison-failures")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam.create_function(FunctionName="bench-poison", Runtime="python3.12", Handler="probe.handlers.stream_batch",
                        Role=ROLE, Code={"ZipFile": probe_zip()}, Environment={"Variables": {"TABLE": "bench"}})
    lam.get_waiter("function_active_v2").wait(FunctionName="bench-poison")
    uid = lam.create_event_source_mapping(
        FunctionName="bench-poison", EventSourceArn=stream, StartingPosition="LATEST", BatchSize=10,
        MaximumRetryAttempts=1, BisectBatchOnFunctionError=True,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}})["UUID"]
    deadline = time.monotonic() + 60
    while lam.get_event_source_mapping(UUID=uid)["State"] != "Enabled" and time.monotonic() < deadline:
        time.sleep(0.1)
    kinesis.put_records(StreamName="bench-poison", Records=[{"Data": b"warm-up", "PartitionKey": "p"}])
    ddb = client("dynamodb")  # the poller is reading once the warm-up record was processed (not measured)
    while "Item" not in ddb.get_item(TableName="bench", Key={"pk": {"S": "batches"}}) and time.monotonic() < deadline:
        time.sleep(0.05)
    keys = [f"r{n}" for n in range(8)]
    keys[5] = "poison"
    started, deadline = time.perf_counter(), time.monotonic() + 60
    kinesis.put_records(StreamName="bench-poison", Records=[{"Data": k.encode(), "PartitionKey": "p"} for k in keys])
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
        if messages:
            elapsed = (time.perf_counter() - started) * 1000
            record = json.loads(messages[0]["Body"])
            report("poison batch (8, bisect) to destination record", elapsed, "ms",
                   f"batchSize {record['KinesisBatchInfo']['batchSize']}, time scale {clock.scale():.4g}")
            return
    report("poison batch (8, bisect) to destination record: none in 60 s", float("nan"), "ms")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50, help="warm invokes to time")
    parser.add_argument("--functions", type=int, default=8, help="functions kept warm for the memory figure")
    args = parser.parse_args()
    run(args.rounds, args.functions)


if __name__ == "__main__":
    main()
