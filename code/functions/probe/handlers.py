"""Probe handlers: each does one observable thing (echo, fail, sleep, print, record an attempt)."""

from __future__ import annotations

import json
import os
import time

import boto3

SELECTED_ENV = ("AWS_ENDPOINT_URL", "AWS_REGION", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                "AWS_ACCESS_KEY_ID", "GREETING")


def echo(event, context):
    """Return the event, a few environment variables and the context's facts."""
    return {"event": event, "env": {k: os.environ.get(k) for k in SELECTED_ENV},
            "request_id": context.aws_request_id, "remaining_ms": context.get_remaining_time_in_millis(),
            "memory": context.memory_limit_in_mb, "pid": os.getpid()}


def fail(event, context):
    """Always raise."""
    raise ValueError(event.get("message", "probe failure") if isinstance(event, dict) else "probe failure")


def sleep(event, context):
    """Sleep for event['seconds'], printing before and after."""
    print("going to sleep")
    time.sleep(float(event["seconds"]))
    print("woke up")
    return {"slept": event["seconds"], "pid": os.getpid()}


def noisy(event, context):
    """Print event['lines'] lines of 1 KB each."""
    line = "x" * 1023
    for _ in range(int(event["lines"])):
        print(line)
    return {"printed": int(event["lines"])}


def not_json(event, context):
    """Return something JSON cannot encode."""
    return {"when": {1, 2, 3}}


def uses_layer(event, context):
    """Import a module that only a layer provides."""
    import probe_layer_module

    return {"from_layer": probe_layer_module.VALUE}


def record(event, context):
    """Write one item per invocation to the TABLE, then fail if FAIL is set (to count retries)."""
    table = boto3.resource("dynamodb").Table(os.environ["TABLE"])
    table.put_item(Item={"pk": os.environ.get("KEY", "attempts"), "sk": f"{time.time():.6f}-{context.aws_request_id}",
                         "request_id": context.aws_request_id, "at": str(time.time()),
                         "event": json.dumps(event, default=str)[:20000]})
    if os.environ.get("FAIL") == "always" or (isinstance(event, dict) and event.get("fail")):
        raise RuntimeError("failing on purpose")
    return {"recorded": True}


def sqs_batch(event, context):
    """Report a batch item failure for each SQS message whose body contains 'poison'; record the rest."""
    table = boto3.resource("dynamodb").Table(os.environ["TABLE"])
    failures = []
    for message in event["Records"]:
        table.put_item(Item={"pk": "messages", "sk": f"{time.time():.6f}-{message['messageId']}",
                             "body": message["body"],
                             "receive_count": message["attributes"]["ApproximateReceiveCount"]})
        if "poison" in message["body"]:
            failures.append({"itemIdentifier": message["messageId"]})
    if failures and os.environ.get("PARTIAL") != "1":
        raise RuntimeError(f"{len(failures)} poison message(s) in the batch")
    return {"batchItemFailures": failures}


def stream_batch(event, context):
    """Record a Kinesis or DynamoDB Streams batch; fail the whole batch if any record carries 'poison'."""
    table = boto3.resource("dynamodb").Table(os.environ["TABLE"])
    payloads = [json.dumps(r.get("kinesis", {}).get("data") or r.get("dynamodb", {}), default=str)
                for r in event["Records"]]
    table.put_item(Item={"pk": os.environ.get("KEY", "batches"), "sk": f"{time.time():.6f}-{context.aws_request_id}",
                         "size": len(payloads), "records": json.dumps(event["Records"], default=str)[:100000]})
    if any("poison" in p or "cG9pc29u" in p for p in payloads):  # cG9pc29u = base64("poison")
        raise RuntimeError("poison record in batch")
    return {"ok": len(payloads)}


def api(event, context):
    """An API Gateway proxy handler: 200 with the body echoed, or an unhandled error if the body asks."""
    body = json.loads(event.get("body") or "{}")
    if body.get("fail"):
        raise RuntimeError("api handler failed")
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps({"echo": body})}


def task(event, context):
    """A Step Functions task: fail with a named error while event['fail_until'] > attempt; count attempts in TABLE."""
    table = boto3.resource("dynamodb").Table(os.environ["TABLE"])
    key = event.get("key", "task")
    attempt = table.update_item(Key={"pk": key, "sk": "count"}, UpdateExpression="ADD n :one",
                                ExpressionAttributeValues={":one": 1}, ReturnValues="UPDATED_NEW")["Attributes"]["n"]
    if int(attempt) <= int(event.get("fail_until", 0)):
        raise TransientError(f"attempt {attempt} failed on purpose")
    if event.get("permanent"):
        raise PermanentError("this step can never succeed")
    return {**event, "attempts": int(attempt)}


class TransientError(Exception):
    """A failure that a retry may fix."""


class PermanentError(Exception):
    """A failure no retry fixes."""


def read_environ(event, context):
    """Try to read another process's environment (event['pid']): the names found, or why it failed."""
    try:
        raw = open(f"/proc/{int(event['pid'])}/environ", "rb").read()
    except OSError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"names": sorted(entry.split(b"=", 1)[0].decode(errors="replace") for entry in raw.split(b"\0") if entry)}


def spawn_detached(event, context):
    """Start a process that outlives this environment (a new session, not waited for); return its pid."""
    import subprocess

    child = subprocess.Popen(["sleep", str(event.get("seconds", 300))], start_new_session=True,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return {"pid": child.pid}
