"""What the engine behind the endpoint can tell the book about itself: its time scale, planned faults."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from ocbook.endpoints import endpoint, fetch_json

# AWS's real waits that the engine's clock shortens (chapters quote them next to what ran).
AWS_DELAYS = {
    "Lambda async retry after a function error": "about 1 min, then about 2 min "
                                                 "(docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html)",
    "EventBridge target delivery retry": "exponential back-off with jitter, up to 24 h and 185 attempts by default "
                                         "(docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html)",
}


def _call(path: str, body: dict | None = None) -> dict | None:
    """JSON from one of the book engine's own endpoints, or None if the engine does not serve it."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{endpoint()}{path}", data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    return fetch_json(request, timeout=5)


def time_scale() -> float | None:
    """The factor by which the engine shortens AWS's waits (1 = real time); None for another LocalStack."""
    found = _call("/_ocbook/clock")
    return float(found["scale"]) if found and "scale" in found else None


def describe_time_scale() -> str:
    """One line for a chapter: the factor it ran with, or that it is unknown."""
    scale = time_scale()
    if scale is None:
        return "time scale: unknown (not the book's engine; AWS's waits run at whatever this LocalStack uses)"
    if scale == 1:
        return "time scale: 1 (AWS's real waiting times)"
    return f"time scale: 1/{1 / scale:g} (one AWS minute of waiting lasts {60 * scale:g} s here)"


def describe() -> str:
    """One line for a chapter's reader: which LocalStack produced the outputs, and at what time scale."""
    scale = time_scale()
    if scale is None:
        return (f"Outputs from a LocalStack at {endpoint()} that is not the book's engine: cells that need the "
                "engine say so in one line and are skipped; AWS's waits run at whatever this LocalStack uses.")
    return f"Outputs from the book's engine (LocalStack and the book's plugins); {describe_time_scale()}."


def skipped(what: str, needs: str) -> str | None:
    """None on the book's engine; elsewhere the one line a chapter prints instead of running `what`.

    The check is the one the engine-only cells share: the engine's clock endpoint answers only on the book's
    engine (`time_scale()` is None elsewhere).
    """
    if time_scale() is not None:
        return None
    return f"skipped: {what}: it needs {needs}, which only the book's engine has (this LocalStack: {endpoint()})"


def aws_wait(seconds: float) -> float:
    """How long one of AWS's waits (Lambda's async retry delays) lasts here: scaled on the book's engine.

    Another LocalStack is taken to wait as long as AWS (its Lambda retry delays default to AWS's 1 and 2
    minutes), so a chapter's timeouts still cover the retries there.
    """
    scale = time_scale()
    return seconds * (1.0 if scale is None else scale)


def plan_delivery_fault(target_arn: str, count: int, code: str = "ThrottlingException", status: int = 429) -> bool:
    """Make the next `count` EventBridge deliveries to a target fail as a throttled service would (engine only)."""
    return _call("/_ocbook/events/faults", {"TargetArn": target_arn, "ErrorCode": code, "StatusCode": status,
                                            "Count": count}) is not None


def xray_daemon_address() -> str | None:
    """host:port of the engine's X-Ray daemon endpoint (UDP); None for another LocalStack."""
    found = _call("/_ocbook/xray")
    return found.get("daemon_address") if found else None
