"""Step Functions with "QueryLanguage": "JSONata", evaluated offline (no Java, no download).

AWS: Arguments and Output replace Parameters/ResultPath, Assign sets variables visible to later states,
$states.input/result/errorOutput/context carry the data, and Step Functions adds $partition, $range,
$hash, $uuid and $parse (Step Functions developer guide, "Transforming data with JSONata").
"""

from __future__ import annotations

import hashlib
import json

import pytest

import ocbook as ob

JSONATA = {"QueryLanguage": "JSONata"}


@pytest.fixture(scope="module")
def task_fn(deployment, records):
    return deployment.function("jsntask", "probe.handlers.task", env={"TABLE": records})


def machine(deployment, kind: str, states: dict, start: str) -> str:
    """A JSONata state machine."""
    return deployment.state_machine(kind, {**JSONATA, "StartAt": start, "States": states})


def test_arguments_output_and_the_step_functions_functions(deployment, task_fn):
    arn = machine(deployment, "args", {
        "Work": {"Type": "Task", "Resource": task_fn.arn, "Next": "Shape",
                 "Arguments": {"key": "{% 'args-' & $states.input.order %}", "fail_until": 0},
                 "Output": "{% {'attempts': $states.result.attempts, 'vat': $states.input.total * 0.2} %}"},
        "Shape": {"Type": "Pass", "End": True, "Output": {
            "vat": "{% $states.input.vat %}", "parts": "{% $partition([1, 2, 3, 4, 5], 2) %}",
            "range": "{% $range(1, 9, 2) %}", "hash": "{% $hash('abc', 'SHA-256') %}",
            "uuid": "{% $uuid() %}", "parsed": "{% $parse($string($states.input)).attempts %}",
            "execution": "{% $states.context.Execution.Name %}"}}}, "Work")
    done = ob.stepfunctions.run(arn, {"order": "o-1", "total": 30})
    assert done["status"] == "SUCCEEDED", done
    out = done["output"]
    assert out["vat"] == 6 and out["parts"] == [[1, 2], [3, 4], [5]] and out["range"] == [1, 3, 5, 7, 9]
    assert out["hash"] == hashlib.sha256(b"abc").hexdigest() and len(out["uuid"]) == 36
    assert out["parsed"] == 1 and out["execution"] == done["executionArn"].rsplit(":", 1)[-1]


def test_assign_carries_variables_across_states(deployment, task_fn):
    arn = machine(deployment, "assign", {
        "Remember": {"Type": "Pass", "Next": "Work",
                     "Assign": {"customer": "{% $states.input.customer %}", "limit": 100}},
        "Work": {"Type": "Task", "Resource": task_fn.arn, "Next": "Decide",
                 "Arguments": {"key": "{% 'assign-' & $customer %}"}, "Output": "{% $states.input %}",
                 "Assign": {"attempts": "{% $states.result.attempts %}"}},
        "Decide": {"Type": "Choice", "Default": "Small", "Choices": [
            {"Condition": "{% $states.input.amount > $limit %}", "Next": "Large"}]},
        "Large": {"Type": "Pass", "End": True,
                  "Output": "{% {'customer': $customer, 'size': 'large', 'attempts': $attempts} %}"},
        "Small": {"Type": "Pass", "End": True, "Output": "{% {'customer': $customer, 'size': 'small'} %}"}},
        "Remember")
    large = ob.stepfunctions.run(arn, {"customer": "ada", "amount": 250})
    small = ob.stepfunctions.run(arn, {"customer": "bob", "amount": 5})  # control: the other branch
    assert large["output"] == {"customer": "ada", "size": "large", "attempts": 1}
    assert small["output"] == {"customer": "bob", "size": "small"}


def test_catch_sees_the_error_output(deployment, task_fn):
    arn = machine(deployment, "catch", {
        "Work": {"Type": "Task", "Resource": task_fn.arn, "Next": "Done",
                 "Arguments": {"key": "catch", "permanent": "{% $states.input.permanent %}"},
                 "Catch": [{"ErrorEquals": ["PermanentError"], "Next": "Undo",
                            "Assign": {"reason": "{% $states.errorOutput.Error %}",
                                       "cause": "{% $states.errorOutput.Cause %}"},  # a JSON text: quotes
                            "Output": "{% {'input': $states.input, 'cause': $states.errorOutput.Cause} %}"}]},
        "Undo": {"Type": "Fail", "Error": "{% 'Undone' & $reason %}",
                 "Cause": "{% $cause = $states.input.cause ? $cause : 'variable and output differ' %}"},
        "Done": {"Type": "Succeed"}}, "Work")
    failed = ob.stepfunctions.run(arn, {"permanent": True})
    assert failed["status"] == "FAILED" and failed["error"] == "UndonePermanentError"
    assert "can never succeed" in json.loads(failed["cause"])["errorMessage"]
    assert ob.stepfunctions.path(failed["executionArn"]) == ["Work", "Undo"]
    ok = ob.stepfunctions.run(arn, {"permanent": False})  # control: no error, no catcher
    assert ok["status"] == "SUCCEEDED" and ob.stepfunctions.path(ok["executionArn"]) == ["Work", "Done"]


def retry_gaps(execution_arn: str) -> list[float]:
    """Seconds between each failed attempt and the next attempt."""
    events = ob.stepfunctions.events(execution_arn)
    failed = [e["timestamp"] for e in events if e["type"] == "LambdaFunctionFailed"]
    scheduled = [e["timestamp"] for e in events if e["type"] == "LambdaFunctionScheduled"][1:]
    return [(again - fail).total_seconds() for fail, again in zip(failed, scheduled, strict=True)]


def test_retry_max_delay_seconds_caps_the_backoff(deployment, task_fn):
    retry = {"ErrorEquals": ["TransientError"], "IntervalSeconds": 1, "BackoffRate": 2.5, "MaxAttempts": 2}
    states = lambda retrier: {"Work": {"Type": "Task", "Resource": task_fn.arn, "End": True,  # noqa: E731
                                       "Arguments": "{% $states.input %}", "Retry": [retrier]}}
    capped = machine(deployment, "capped", states({**retry, "MaxDelaySeconds": 1, "JitterStrategy": "FULL"}), "Work")
    plain = machine(deployment, "plain", states({**retry, "JitterStrategy": "NONE"}), "Work")
    done = ob.stepfunctions.run(capped, {"key": "capped", "fail_until": 2})
    control = ob.stepfunctions.run(plain, {"key": "plain", "fail_until": 2})
    assert done["status"] == control["status"] == "SUCCEEDED" and done["output"]["attempts"] == 3
    capped_gaps, plain_gaps = retry_gaps(done["executionArn"]), retry_gaps(control["executionArn"])
    print(f"\nretry gaps: capped at 1 s with full jitter {capped_gaps}, uncapped {plain_gaps}")
    assert len(capped_gaps) == len(plain_gaps) == 2
    assert max(capped_gaps) < 1.9  # 1 s and 2.5 s, each capped at MaxDelaySeconds=1 (then jittered down)
    assert plain_gaps[1] >= 2.4  # control: without the cap the second wait is 1 x 2.5 s


def test_expression_that_throws_fails_with_query_evaluation_error(deployment):
    arn = machine(deployment, "throws", {"Add": {"Type": "Pass", "End": True,
                                                 "Output": "{% $states.input.a + $states.input.b %}"}}, "Add")
    bad = ob.stepfunctions.run(arn, {"a": 1, "b": "x"})
    good = ob.stepfunctions.run(arn, {"a": 1, "b": 2})  # control
    assert bad["status"] == "FAILED" and bad["error"] == "States.QueryEvaluationError"
    assert good["status"] == "SUCCEEDED" and good["output"] == 3


TRIPS = {
    "ok": {},
    "no-car": {"car": "permanent"},
    "stuck": {"hotel": "cancel-broken", "car": "permanent"},
}


def test_jsonata_saga_takes_the_same_paths_as_the_jsonpath_saga(deployment):
    sagas = {jsonata: ob.styles.Orchestrated.deploy(deployment, jsonata=jsonata) for jsonata in (False, True)}
    runs = {}
    for name, fail in TRIPS.items():  # one trip at a time (warm functions), in both sagas at once
        arns = {jsonata: ob.stepfunctions.start(saga.state_machine, {"trip_id": f"{name}-1", "amount": 10,
                                                                     "fail": fail})
                for jsonata, saga in sagas.items()}
        runs.update({(jsonata, name): ob.stepfunctions.wait(arn, timeout=90) for jsonata, arn in arns.items()})
    outcomes = {}
    for jsonata, saga in sagas.items():
        alerts = ob.wait.drain(saga.alerts.url, quiet_for=0.5)
        mine = {name: runs[(jsonata, name)] for name in TRIPS}
        outcomes[jsonata] = {
            "paths": {name: ob.stepfunctions.path(run["executionArn"]) for name, run in mine.items()},
            "results": {name: (run["status"], run.get("error"), run.get("output")) for name, run in mine.items()},
            "bookings": ob.saga.bookings(saga, [f"{name}-1" for name in TRIPS]).to_dict(),
            "alerts": sorted((a["Body"]["trip_id"], a["Body"]["step"], a["Body"]["error"]["Error"]) for a in alerts),
        }
    jsonpath, jsonata = outcomes[False], outcomes[True]
    assert jsonata["paths"]["stuck"][-4:] == ["CancelHotel", "AlertHotel", "RecordCancelled", "TripCancelled"]
    assert jsonata["results"]["ok"][0] == "SUCCEEDED" and jsonata["results"]["no-car"][1] == "TripCancelled"
    assert jsonata["alerts"] == [("stuck-1", "hotel", "CancellationFailed")]
    assert jsonata == jsonpath
