"""Lambda durable functions on the engine: start, step retries, wait, callbacks, history, stop.

The probe handlers (code/functions/probe/durable.py) write a record to the probe table for every real side
effect, so a test tells a step that ran from a step that was replayed from the checkpoint log.
"""

from __future__ import annotations

import json
import time

import pytest

import ocbook as ob
from ocbook import durable, saga
from tests.engine.conftest import items, wait_items
from tests.engine.test_templates import TRIPS

DURABLE = {"ExecutionTimeout": 120, "RetentionPeriodInDays": 1}


@pytest.fixture(scope="module")
def scale(engine) -> float:
    """The engine's factor for durable timers (the tests' delays are chosen to last about a second each)."""
    return durable.timer_scale() or 1


@pytest.fixture(scope="module")
def lam():
    return ob.client("lambda")


@pytest.fixture(scope="module")
def functions(deployment, records):
    """The three durable probes, and a plain function as the control."""
    made = {name: deployment.function(name, f"probe.durable.{handler}", runtime="python3.13", timeout=30,
                                      env={"RECORDS": records}, durable=DURABLE)
            for name, handler in (("flaky", "flaky_steps"), ("waits", "waits"), ("callback", "callback"))}
    made["plain"] = deployment.function("plain", "probe.handlers.echo", runtime="python3.13")
    return made


def start(lam, function, payload: dict) -> str:
    """Invoke asynchronously; the durable execution's ARN."""
    response = lam.invoke(FunctionName=function.name, InvocationType="Event", Payload=json.dumps(payload))
    assert response["StatusCode"] == 202
    return response["DurableExecutionArn"]


def status(lam, arn: str, *accepted: str, timeout: float = 30) -> dict:
    """Wait until the execution's status is one of `accepted`."""
    return ob.wait.until(lambda: lam.get_durable_execution(DurableExecutionArn=arn),
                         lambda found: found["Status"] in accepted, timeout, what=f"execution {' or '.join(accepted)}")


def history(lam, arn: str) -> list[dict]:
    """Every event of the execution, with its data."""
    return ob.all_pages(lam, "get_durable_execution_history", "Events", DurableExecutionArn=arn,
                        IncludeExecutionData=True)


def kinds(events: list[dict], name: str | None = None) -> list[str]:
    """The event types, in order (of one named operation, if given)."""
    return [event["EventType"] for event in events if name is None or event.get("Name") == name]


def test_durable_config_is_kept_and_invoke_runs_an_execution(lam, functions, records):
    flaky, plain = functions["flaky"], functions["plain"]
    assert lam.get_function_configuration(FunctionName=flaky.name)["DurableConfig"] == DURABLE
    assert "DurableConfig" not in lam.get_function(FunctionName=plain.name)["Configuration"]  # control

    response = lam.invoke(FunctionName=flaky.name, Payload=json.dumps({"kind": "start"}))
    assert "FunctionError" not in response and json.loads(response["Payload"].read()) == {"succeeded_on": 1}
    arn = response["DurableExecutionArn"]
    execution = lam.get_durable_execution(DurableExecutionArn=arn)
    assert execution["Status"] == "SUCCEEDED" and json.loads(execution["Result"]) == {"succeeded_on": 1}
    assert execution["FunctionArn"].startswith(flaky.arn)
    listed = lam.list_durable_executions_by_function(FunctionName=flaky.name)["DurableExecutions"]
    assert arn in [e["DurableExecutionArn"] for e in listed]

    control = lam.invoke(FunctionName=plain.name, Payload=b"{}")  # a plain function is invoked as before
    assert "DurableExecutionArn" not in control and json.loads(control["Payload"].read())["event"] == {}


@pytest.mark.parametrize("config", [{"ExecutionTimeout": 31_622_401},  # (0 is refused by botocore itself)
                                    {"ExecutionTimeout": 60, "RetentionPeriodInDays": 91},
                                    {"RetentionPeriodInDays": 1}])
def test_a_durable_config_out_of_range_is_refused(lam, deployment, config):
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="DurableConfig"):
        deployment.function("bad", "probe.durable.waits", runtime="python3.13", durable=config)


def test_the_execution_name_is_an_idempotency_key(lam, functions, records):
    waits = functions["waits"].name
    first = lam.invoke(FunctionName=waits, InvocationType="Event", DurableExecutionName="trip-1",
                       Payload=json.dumps({"kind": "named", "seconds": 120}))["DurableExecutionArn"]
    again = lam.invoke(FunctionName=waits, InvocationType="Event", DurableExecutionName="trip-1",
                       Payload=json.dumps({"kind": "named", "seconds": 120}))["DurableExecutionArn"]
    assert again == first  # same name, same payload, still running: the same execution
    with pytest.raises(lam.exceptions.DurableExecutionAlreadyStartedException):  # same name, other payload
        lam.invoke(FunctionName=waits, InvocationType="Event", DurableExecutionName="trip-1",
                   Payload=json.dumps({"kind": "other", "seconds": 120}))
    other = lam.invoke(FunctionName=waits, InvocationType="Event", DurableExecutionName="trip-2",  # control
                       Payload=json.dumps({"kind": "named", "seconds": 120}))["DurableExecutionArn"]
    assert other != first
    for arn in (first, other):
        lam.stop_durable_execution(DurableExecutionArn=arn)


def test_a_failing_step_is_retried_on_the_clock_and_completed_steps_are_not_run_again(lam, functions, records,
                                                                                     scale):
    delay = max(1, round(1 / scale))  # 60 s at the default 1/60: a second on the engine
    began = time.monotonic()
    response = lam.invoke(FunctionName=functions["flaky"].name,
                          Payload=json.dumps({"kind": "retry", "fail": 2, "attempts": 3, "delay": delay}))
    elapsed = time.monotonic() - began
    assert json.loads(response["Payload"].read()) == {"succeeded_on": 3}
    assert len(items(records, "retry")) == 3  # three real attempts of the flaky step
    assert len(items(records, "retry-after")) == 1  # the next step ran once, though the handler was replayed
    events = history(lam, response["DurableExecutionArn"])
    assert kinds(events, "flaky") == ["StepStarted", "StepFailed"] * 2 + ["StepStarted", "StepSucceeded"]
    failed = [e for e in events if e["EventType"] == "StepFailed"]
    assert [e["StepFailedDetails"]["RetryDetails"]["CurrentAttempt"] for e in failed] == [1, 2]
    assert failed[0]["StepFailedDetails"]["Error"]["Payload"]["ErrorType"] == "RuntimeError"
    assert [e["StepFailedDetails"]["RetryDetails"]["NextAttemptDelaySeconds"] for e in failed] == [delay, delay]
    retried = [e for e in events if e["EventType"] == "StepStarted" and e["Name"] == "flaky"][1]
    assert (retried["EventTimestamp"] - failed[0]["EventTimestamp"]).total_seconds() >= delay * scale * 0.9
    assert elapsed < 2 * delay * scale + 15  # two delays, waited on the engine's clock

    response = lam.invoke(FunctionName=functions["flaky"].name,  # the last attempt fails too: the execution fails
                          Payload=json.dumps({"kind": "exhaust", "fail": 2, "attempts": 2, "delay": 1}))
    assert response["FunctionError"] == "Unhandled"
    assert "flaky step fails on attempt 2" in json.loads(response["Payload"].read())["errorMessage"]
    assert len(items(records, "exhaust")) == 2 and items(records, "exhaust-after") == []
    assert lam.get_durable_execution(DurableExecutionArn=response["DurableExecutionArn"])["Status"] == "FAILED"


def test_a_wait_suspends_the_execution_then_resumes_it(lam, functions, records, scale):
    seconds = max(1, round(3 / scale))  # 180 s at the default 1/60: three seconds on the engine
    arn = start(lam, functions["waits"], {"kind": "wait", "seconds": seconds})
    wait_items(records, "wait", 1)
    assert lam.get_durable_execution(DurableExecutionArn=arn)["Status"] == "RUNNING"  # control: not done yet
    done = status(lam, arn, "SUCCEEDED", "FAILED")
    assert done["Status"] == "SUCCEEDED"
    assert [item["what"] for item in items(records, "wait")] and len(items(records, "wait")) == 2
    events = history(lam, arn)
    assert kinds(events, "pause") == ["WaitStarted", "WaitSucceeded"]
    started = next(e for e in events if e["EventType"] == "WaitStarted")
    scaled = seconds * scale  # the engine's clock: the history shows what it waited
    assert started["WaitStartedDetails"]["Duration"] == round(scaled)
    waited = (started["WaitStartedDetails"]["ScheduledEndTimestamp"] - started["EventTimestamp"]).total_seconds()
    assert abs(waited - scaled) < 0.5
    assert kinds(events).count("InvocationCompleted") == 2  # suspended at the wait, invoked again after it


@pytest.mark.parametrize("outcome", ["success", "failure"])
def test_a_callback_completes_the_execution_with_the_callers_answer(lam, functions, records, outcome):
    kind = f"callback-{outcome}"
    arn = start(lam, functions["callback"], {"kind": kind})
    callback_id = wait_items(records, kind, 1)[0]["what"]
    assert lam.get_durable_execution(DurableExecutionArn=arn)["Status"] == "RUNNING"  # control: waits for it
    if outcome == "success":
        lam.send_durable_execution_callback_success(CallbackId=callback_id, Result=b"approved")
        done = status(lam, arn, "SUCCEEDED", "FAILED")
        assert done["Status"] == "SUCCEEDED" and json.loads(done["Result"]) == {"approved": "approved"}
    else:
        lam.send_durable_execution_callback_failure(CallbackId=callback_id,
                                                    Error={"ErrorType": "Rejected", "ErrorMessage": "no rooms"})
        done = status(lam, arn, "SUCCEEDED", "FAILED")
        assert done["Status"] == "FAILED" and "no rooms" in done["Error"]["ErrorMessage"]
    expected = "CallbackSucceeded" if outcome == "success" else "CallbackFailed"
    assert expected in kinds(history(lam, arn), "approval")
    with pytest.raises(lam.exceptions.ClientError):  # a callback completes once
        lam.send_durable_execution_callback_success(CallbackId=callback_id, Result=b'"again"')


def test_stop_ends_a_waiting_execution_and_nothing_after_the_wait_runs(lam, functions, records):
    arn = start(lam, functions["waits"], {"kind": "stop", "seconds": 3600})
    wait_items(records, "stop", 1)
    lam.stop_durable_execution(DurableExecutionArn=arn, Error={"ErrorType": "Cancelled", "ErrorMessage": "by test"})
    assert status(lam, arn, "STOPPED", "SUCCEEDED", "FAILED")["Status"] == "STOPPED"
    assert "ExecutionStopped" in kinds(history(lam, arn))
    assert len(items(records, "stop")) == 1  # only the step before the wait ran


def test_the_saga_template_as_a_stack_keeps_the_invariant_with_failures(engine):
    """templates/saga-durable.yaml (SAM's DurableConfig through CloudFormation) runs chapter 4's trips."""
    with ob.Deployment("t-dur-stack") as deployment:
        deployed = durable.from_stack(deployment.stack("saga", "saga-durable", progress=False))
        assert ob.client("lambda").get_function_configuration(
            FunctionName=deployed.functions["trip"].name)["DurableConfig"] == durable.DURABLE_CONFIG
        ids = [trip["trip_id"] for trip in TRIPS]
        for trip in TRIPS:
            durable.request(deployed, trip)
        assert durable.request(deployed, TRIPS[0]) in (None, durable.execution(deployed, "ok")["DurableExecutionArn"])
        finals = durable.wait_final(deployed, ids, timeout=60)
        alerts = ob.wait.messages(deployed.alerts.url, 1, timeout=30)
        table = saga.bookings(deployed, ids)
        assert deployment.teardown() == []
    assert finals == {"ok": "CONFIRMED", "no-car": "CANCELLED", "flaky-hotel": "CONFIRMED", "stuck": "CANCELLED"}
    assert table.loc["no-car", "hotel"] == table.loc["no-car", "flight"] == "CANCELLED"
    assert "stuck" in json.dumps(alerts)
    # Like the state machine, the function goes on after the alert and closes the trip; the hotel stays booked
    # for a human to undo (the positive control of the invariant check).
    assert saga.violations(table, alerted={"stuck"}) == ["stuck: CANCELLED but hotel still booked (alerted: "
                                                         "waiting for a human)"]
