"""EventBridge target delivery as AWS documents it: RetryPolicy, DeadLetterConfig, the DLQ record, the clock.

AWS: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html. A missing target goes straight to
the DLQ; throttling and 5xx are retried with back-off within MaximumRetryAttempts and MaximumEventAgeInSeconds.
Retriable errors are provoked with the engine's delivery-fault endpoint (ob.engine.plan_delivery_fault).
"""

from __future__ import annotations

import json
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

import ocbook as ob
from ocbook.clients import CONFIG, session
from ocbook.paths import engine_log_file
from tests.engine.conftest import stays, wait_items

pytestmark = pytest.mark.skipif("ob.engine.time_scale() is None", reason="needs the book's engine (delivery faults)")

# The engine's back-off before retry n waits between half and all of min(600, 60 * 2**(n-1)) AWS seconds.
FIRST_TWO_RETRIES = (30 + 60, 60 + 120)


def put_event(bus: str, detail: dict, detail_type: str = "Order") -> None:
    """One event on the bus (asserting EventBridge accepted it)."""
    result = ob.client("events").put_events(Entries=[{"EventBusName": bus, "Source": "book.delivery",
                                                      "DetailType": detail_type, "Detail": json.dumps(detail)}])
    assert result["FailedEntryCount"] == 0


def dead_letters(queue, count: int = 1, timeout: float = 20) -> list[dict]:
    """DLQ messages as (body, attributes as plain strings)."""
    messages = ob.wait.messages(queue.url, count, timeout=timeout)
    return [{"body": m["Body"], **{k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()}}
            for m in messages]


def rule_arn(bus: str, rule: str) -> str:
    return f"arn:aws:events:{ob.REGION}:{ob.ACCOUNT}:rule/{bus}/{rule}"


def missing_targets(deployment) -> dict[str, str]:
    """One ARN per target kind the book uses, naming nothing (the SQS queue existed and was deleted)."""
    gone = deployment.queue("deleted")
    ob.client("sqs").delete_queue(QueueUrl=gone.url)
    prefix = f"{ob.REGION}:{ob.ACCOUNT}"
    return {"lambda": f"arn:aws:lambda:{prefix}:function:{deployment.name('nofn')}",
            "sqs": gone.arn,
            "sns": f"arn:aws:sns:{prefix}:{deployment.name('notopic')}",
            "states": f"arn:aws:states:{prefix}:stateMachine:{deployment.name('nosm')}"}


def test_missing_targets_go_straight_to_the_dlq_without_retries(deployment):
    bus = deployment.bus("gone")
    live = deployment.queue("live")  # positive control: the rule fires and delivers where it can
    dlqs = {kind: deployment.queue(f"dlq{kind}") for kind in ("lambda", "sqs", "sns", "states")}
    targets = missing_targets(deployment)
    rule = deployment.rule(bus, {"detail-type": ["Order"]},
                           [live.arn] + [{"Arn": arn, "DeadLetterConfig": {"Arn": dlqs[kind].arn}}
                                         for kind, arn in targets.items()])
    put_event(bus, {"order": 7})
    assert ob.wait.messages(live.url, 1)[0]["Body"]["detail"] == {"order": 7}
    for kind, arn in targets.items():
        [letter] = dead_letters(dlqs[kind], timeout=10)
        assert letter["ERROR_CODE"] == "NO_RESOURCE", (kind, letter)
        assert letter["RETRY_ATTEMPTS"] == "0" and "EXHAUSTED_RETRY_CONDITION" not in letter, (kind, letter)
        assert letter["TARGET_ARN"] == arn and letter["RULE_ARN"] == rule_arn(bus, rule)
        assert letter["ERROR_MESSAGE"]
        assert letter["body"]["detail"] == {"order": 7} and letter["body"]["detail-type"] == "Order"


def test_throttled_delivery_is_retried_with_backoff_on_the_clock_and_then_delivered(deployment):
    bus = deployment.bus("throttle")
    target, dlq = deployment.queue("target"), deployment.queue("dlq")
    deployment.rule(bus, {"detail-type": ["Order"]}, [{"Arn": target.arn, "DeadLetterConfig": {"Arn": dlq.arn}}])
    scale = ob.engine.time_scale()
    assert ob.engine.plan_delivery_fault(target.arn, 2)
    started = time.monotonic()
    put_event(bus, {"order": 1})
    assert ob.wait.messages(target.url, 1, timeout=10 + 300 * scale)[0]["Body"]["detail"] == {"order": 1}
    took = time.monotonic() - started
    low, high = FIRST_TWO_RETRIES
    print(f"scale {scale:.4f}: delivered after 2 throttled attempts in {took:.2f} s "
          f"(AWS back-off {low}-{high} s, scaled {low * scale:.2f}-{high * scale:.2f} s)")
    assert low * scale <= took <= high * scale + 2.0
    assert ob.wait.queue_depth(dlq.url) == 0


@pytest.mark.parametrize("code,status,expected", [("ThrottlingException", 429, "THROTTLING"),
                                                  ("InternalFailure", 500, "INTERNAL_ERROR")])
def test_retries_stop_at_maximum_retry_attempts_then_the_dlq(deployment, code, status, expected):
    bus = deployment.bus("attempts")
    target, dlq = deployment.queue("target"), deployment.queue("dlq")
    rule = deployment.rule(bus, {"detail-type": ["Order"]},
                           [{"Arn": target.arn, "DeadLetterConfig": {"Arn": dlq.arn},
                             "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 86400}}])
    assert ob.engine.plan_delivery_fault(target.arn, 100, code, status)
    put_event(bus, {"order": 2})
    [letter] = dead_letters(dlq, timeout=10 + 300 * ob.engine.time_scale())
    assert letter["ERROR_CODE"] == expected and letter["RETRY_ATTEMPTS"] == "2"
    assert letter["EXHAUSTED_RETRY_CONDITION"] == "MaximumRetryAttempts"
    assert letter["RULE_ARN"] == rule_arn(bus, rule) and letter["TARGET_ARN"] == target.arn
    assert letter["body"]["detail"] == {"order": 2}
    assert ob.wait.queue_depth(target.url) == 0
    assert ob.engine.plan_delivery_fault(target.arn, 0)  # positive control: the target itself works
    put_event(bus, {"order": 3})
    assert ob.wait.messages(target.url, 1)[0]["Body"]["detail"] == {"order": 3}


def test_retries_stop_at_the_event_age_limit(deployment):
    """60 AWS seconds allow the first retry (30-60 s later) and never the second (60-120 s after that)."""
    bus = deployment.bus("age")
    target, dlq = deployment.queue("target"), deployment.queue("dlq")
    deployment.rule(bus, {"detail-type": ["Order"]},
                    [{"Arn": target.arn, "DeadLetterConfig": {"Arn": dlq.arn},
                      "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 60}}])
    assert ob.engine.plan_delivery_fault(target.arn, 100)
    put_event(bus, {"order": 4})
    [letter] = dead_letters(dlq, timeout=10 + 120 * ob.engine.time_scale())
    assert letter["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"
    assert letter["RETRY_ATTEMPTS"] == "1" and letter["ERROR_CODE"] == "THROTTLING"


def test_an_error_inside_a_lambda_target_is_lambdas_to_retry_not_eventbridges(deployment, records):
    bus = deployment.bus("fnerr")
    dlq = deployment.queue("ebdlq")
    fn = deployment.function("fails", "probe.handlers.record", env={"TABLE": records, "KEY": "ebfn", "FAIL": "always"})
    deployment.rule(bus, {"detail-type": ["Order"]}, [{"Arn": fn.arn, "DeadLetterConfig": {"Arn": dlq.arn}}])
    put_event(bus, {"order": 5})
    attempts = wait_items(records, "ebfn", 3, timeout=30)  # Lambda's own async retries: 1 + 2
    assert [json.loads(a["event"])["detail"] for a in attempts] == [{"order": 5}] * 3
    assert stays(lambda: ob.wait.queue_depth(dlq.url) == 0, 2)  # EventBridge's delivery succeeded


def test_retry_policy_and_dlq_values_aws_rejects(deployment):
    bus = deployment.bus("bad")
    target, dlq = deployment.queue("target"), deployment.queue("dlq")
    rule = deployment.rule(bus, {"detail-type": ["Order"]}, [target.arn])
    events = ob.client("events")
    unchecked = session().client("events", config=CONFIG.merge(Config(parameter_validation=False)))
    fifo = dlq.arn + ".fifo"
    other_region = dlq.arn.replace(f":{ob.REGION}:", ":ap-south-2:")
    bad = [({"RetryPolicy": {"MaximumRetryAttempts": 186}}, "less than or equal to 185"),
           ({"RetryPolicy": {"MaximumRetryAttempts": -1}}, "greater than or equal to 0"),
           ({"RetryPolicy": {"MaximumEventAgeInSeconds": 59}}, "greater than or equal to 60"),
           ({"RetryPolicy": {"MaximumEventAgeInSeconds": 86401}}, "less than or equal to 86400"),
           ({"DeadLetterConfig": {"Arn": f"arn:aws:sns:{ob.REGION}:{ob.ACCOUNT}:topic"}}, "SQS"),
           ({"DeadLetterConfig": {"Arn": fifo}}, "FIFO"),
           ({"DeadLetterConfig": {"Arn": other_region}}, "region")]
    for extra, says in bad:
        with pytest.raises(ClientError) as refused:
            unchecked.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "t0", "Arn": target.arn, **extra}])
        assert refused.value.response["Error"]["Code"] == "ValidationException", extra
        assert says in refused.value.response["Error"]["Message"], extra
    for good in ({"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60},
                 {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}):  # positive control
        done = events.put_targets(Rule=rule, EventBusName=bus, Targets=[
            {"Id": "t0", "Arn": target.arn, "RetryPolicy": good, "DeadLetterConfig": {"Arn": dlq.arn}}])
        assert done["FailedEntryCount"] == 0
    [listed] = events.list_targets_by_rule(Rule=rule, EventBusName=bus)["Targets"]
    assert listed["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}


def engine_log() -> str:
    """The embedded engine's log so far ('' for another LocalStack)."""
    log = engine_log_file()
    return log.read_text(errors="replace") if log.exists() else ""


def test_a_dlq_deleted_during_retries_loses_only_that_event(deployment):
    bus = deployment.bus("dlqgone")
    failing, healthy = deployment.queue("failing"), deployment.queue("healthy")
    dlq = deployment.queue("dlq")
    deployment.rule(bus, {"detail-type": ["Order"]},
                    [{"Arn": failing.arn, "DeadLetterConfig": {"Arn": dlq.arn},
                      "RetryPolicy": {"MaximumRetryAttempts": 1}}, healthy.arn])
    assert ob.engine.plan_delivery_fault(failing.arn, 100)
    put_event(bus, {"order": 6})
    ob.client("sqs").delete_queue(QueueUrl=dlq.url)
    assert ob.wait.messages(healthy.url, 1)[0]["Body"]["detail"] == {"order": 6}
    ob.wait.until(engine_log, lambda text: f"dead-letter queue {dlq.arn}" in text, 10 + 120 * ob.engine.time_scale(),
                  what="the engine to log the vanished DLQ")
    assert ob.engine.plan_delivery_fault(failing.arn, 0)
    put_event(bus, {"order": 8})  # positive control: the engine keeps delivering, to both targets
    assert ob.wait.messages(failing.url, 1)[0]["Body"]["detail"] == {"order": 8}
    assert ob.wait.messages(healthy.url, 1)[0]["Body"]["detail"] == {"order": 8}


def test_a_rate_rule_fires_every_period_times_the_time_scale(deployment):
    """rate(1 minute) fires once an AWS minute: every second at the default 1/60; a disabled rule stops."""
    queue = deployment.queue("ticks")
    events = ob.client("events")
    name = deployment.name("tick")
    events.put_rule(Name=name, ScheduleExpression="rate(1 minute)")
    deployment.on_teardown(f"rule {name}", lambda: (events.remove_targets(Rule=name, Ids=["t0"]),
                                                    events.delete_rule(Name=name)))
    events.put_targets(Rule=name, Targets=[{"Id": "t0", "Arn": queue.arn}])
    scale = ob.engine.time_scale()
    ticks = []
    for _ in range(3):
        ob.wait.messages(queue.url, 1, timeout=5 + 120 * scale)
        ticks.append(time.monotonic())
    gaps = [b - a for a, b in zip(ticks, ticks[1:], strict=False)]
    print(f"scale {scale:.4f}: rate(1 minute) ticks {[round(g, 2) for g in gaps]} s apart (AWS: 60 s)")
    assert all(0.5 * 60 * scale <= gap <= 60 * scale + 1.5 for gap in gaps), gaps
    events.disable_rule(Name=name)
    ob.wait.drain(queue.url, quiet_for=1.5 * 60 * scale + 1)
    assert stays(lambda: ob.wait.queue_depth(queue.url) == 0, 2 * 60 * scale + 0.5)
