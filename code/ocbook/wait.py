"""Wait on conditions with a timeout; never a fixed sleep."""

from __future__ import annotations

import json
import re
import time
from typing import Any, Callable

from ocbook.clients import all_pages, client


class WaitTimeout(TimeoutError):
    """A condition did not hold within its timeout."""


def poll(check: Callable[[], Any], timeout: float = 30, interval: float = 0.1, what: str = "condition") -> Any:
    """Call check() until it returns something truthy; return it, or raise WaitTimeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def until(fetch: Callable[[], Any], ok: Callable[[Any], bool], timeout: float = 30, interval: float = 0.1,
          what: str = "condition") -> Any:
    """Call fetch() until ok(value) holds; return that value, or raise WaitTimeout."""
    box: list[Any] = []

    def check():
        box[:] = [fetch()]
        return ok(box[0])

    poll(check, timeout, interval, what)
    return box[0]


def steady(check: Callable[[], Any], quiet_for: float, timeout: float = 30, interval: float = 0.1,
           what: str = "condition") -> None:
    """Wait until check() has stayed truthy for `quiet_for` seconds in a row (a momentary reading is not enough)."""
    since: float | None = None

    def held() -> bool:
        nonlocal since
        if not check():
            since = None
            return False
        since = time.monotonic() if since is None else since
        return time.monotonic() - since >= quiet_for

    poll(held, timeout, interval, what=f"{what} (for {quiet_for:g} s in a row)")


def messages(queue_url: str, count: int, timeout: float = 30, delete: bool = True) -> list[dict]:
    """Receive exactly `count` messages (bodies parsed from JSON when they are JSON); delete them by default."""
    sqs = client("sqs")
    received: list[dict] = []

    def enough():
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                    AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        for message in batch:
            message["Body"] = parse(message["Body"])
            received.append(message)
            if delete:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return len(received) >= count

    poll(enough, timeout, interval=0, what=f"{count} message(s) on {queue_url.rsplit('/', 1)[-1]}")
    return received


def drain(queue_url: str, quiet_for: float = 1.5, timeout: float = 30) -> list[dict]:
    """Receive and delete messages until none arrives for `quiet_for` seconds."""
    sqs = client("sqs")
    received: list[dict] = []
    quiet_since = time.monotonic()

    def settled():
        nonlocal quiet_since
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                    AttributeNames=["All"]).get("Messages", [])
        for message in batch:
            message["Body"] = parse(message["Body"])
            received.append(message)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if batch:
            quiet_since = time.monotonic()
        return time.monotonic() - quiet_since >= quiet_for

    poll(settled, timeout, interval=0, what=f"{queue_url.rsplit('/', 1)[-1]} to go quiet")
    return received


DEPTH_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed"]


def queue_depth(queue_url: str) -> int:
    """Messages still in a queue: visible, in flight, or delayed."""
    attrs = client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=DEPTH_ATTRIBUTES)["Attributes"]
    return sum(int(attrs.get(name, 0)) for name in DEPTH_ATTRIBUTES)


def log_lines(function_name: str) -> list[str]:
    """Every CloudWatch log line a Lambda function wrote so far."""
    logs = client("logs")
    group = f"/aws/lambda/{function_name}"
    try:
        streams = all_pages(logs, "describe_log_streams", "logStreams", logGroupName=group)
    except logs.exceptions.ResourceNotFoundException:
        return []
    lines = []
    for stream in streams:
        lines += [event["message"].rstrip("\n") for event in stream_events(group, stream["logStreamName"])]
    return lines


def stream_events(group: str, stream: str) -> list[dict]:
    """Every event of a log stream, oldest first (GetLogEvents pages until its forward token stops changing)."""
    logs = client("logs")
    found: list[dict] = []
    args = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
    while True:
        page = logs.get_log_events(**args)
        found += page["events"]
        if not page["events"] or page.get("nextForwardToken") in (None, args.get("nextToken")):
            return found
        args["nextToken"] = page["nextForwardToken"]


def log_line(function_name: str, pattern: str, timeout: float = 30) -> str:
    """Wait for a log line of the function matching a regular expression; return it."""
    regex = re.compile(pattern)

    def found():
        return next((line for line in log_lines(function_name) if regex.search(line)), None)

    return poll(found, timeout, interval=0.2, what=f"a log line matching {pattern!r} from {function_name}")


def items(table: str, count: int | None = None, timeout: float = 30) -> list[dict]:
    """Scan a whole table, every page (plain values); with `count`, wait until it holds at least that many."""
    from ocbook.show import plain

    def scan():
        pages = all_pages(client("dynamodb"), "scan", "Items", TableName=table, ConsistentRead=True)
        found = [plain(item) for item in pages]
        return found if count is None or len(found) >= count else None

    if count is None:
        return scan()
    return poll(scan, timeout, interval=0.2, what=f"{count} item(s) in table {table}")


def parse(body: str) -> Any:
    """JSON bodies as data, anything else as the string it is."""
    try:
        return json.loads(body)
    except (TypeError, ValueError):
        return body
