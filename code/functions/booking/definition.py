"""The orchestrated saga as an ASL definition: book hotel, flight, car; on failure undo in reverse order."""

from __future__ import annotations

STEPS = ("hotel", "flight", "car")
APPROVAL_LIMIT = 1000  # trips above this amount wait for a human approval of the payment (chapter 4)
TRANSIENT_RETRY = {"ErrorEquals": ["ServiceUnavailable"], "IntervalSeconds": 1, "MaxAttempts": 3,
                   "BackoffRate": 2.0, "MaxDelaySeconds": 4, "JitterStrategy": "FULL"}
# AWS's best practice for every Lambda task: retry Lambda's own transient service errors, so that a hiccup
# of the Lambda service does not cancel a trip
# (docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html)
LAMBDA_SERVICE_RETRY = {"ErrorEquals": ["Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException",
                                        "Lambda.AWSLambdaException", "Lambda.SdkClientException"],
                        "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2.0}
# Forward recovery: after the saga's pivot (a step that cannot be undone, e.g. a non-refundable fare) the later
# steps are retried until they succeed instead of compensating (a retrier's MaxAttempts may go up to 99,999,999).
FORWARD_RETRY = {"ErrorEquals": ["ServiceUnavailable"], "IntervalSeconds": 1, "MaxAttempts": 10,
                 "BackoffRate": 1.5, "MaxDelaySeconds": 3, "JitterStrategy": "FULL"}
# When a step after the pivot fails for good (or its forward retries run out) the saga must not go back: undoing
# the pivot is what it cannot do. It stops instead, tells a human on the alert queue and marks the trip.
NEEDS_ATTENTION = "NEEDS_ATTENTION"
STUCK_PROBLEM = "booking failed after the pivot: finish the trip by hand"
COMPENSATION_RETRY = {"ErrorEquals": ["CancellationFailed", "States.TaskFailed"], "IntervalSeconds": 1,
                      "MaxAttempts": 2, "BackoffRate": 1.5}


def title(step: str) -> str:
    """hotel -> Hotel."""
    return step.capitalize()


def forward_steps(steps: tuple[str, ...], pivot: str | None) -> tuple[str, ...]:
    """The steps after the pivot (none without one): they are recovered forward, by retrying."""
    if pivot is None:
        return ()
    if pivot not in steps:
        raise ValueError(f"the pivot {pivot!r} is not a step of the saga: use one of {', '.join(steps)}")
    return steps[steps.index(pivot) + 1:]


def caught_by(step: str, forward: bool) -> str:
    """Where a booking's failure goes: the cancellations from this step, or (after the pivot) the escalation."""
    return f"Escalate{title(step)}" if forward else f"Cancel{title(step)}"


def book_state(step: str, arn: str, next_state: str, forward: bool = False) -> dict:
    """A booking task: retried on transient errors (ours and Lambda's; for a step after the pivot, many more
    times); any other failure compensates from here, or, after the pivot, escalates to a human."""
    retry = [FORWARD_RETRY if forward else TRANSIENT_RETRY, LAMBDA_SERVICE_RETRY]
    return {"Type": "Task", "Resource": arn, "Parameters": {"action": "book", "trip.$": "$"},
            "ResultPath": f"$.results.{step}", "Next": next_state, "Retry": retry,
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": caught_by(step, forward)}]}


def escalate_state(step: str, alerts_url: str, next_state: str) -> dict:
    """After the pivot: tell a human on the alert queue which step failed and why (nothing is undone)."""
    return {f"Escalate{title(step)}": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "ResultPath": None,
        "Parameters": {"QueueUrl": alerts_url, "MessageBody": {
            "trip_id.$": "$.trip_id", "step": step, "problem": STUCK_PROBLEM, "error.$": "$.error"}},
        "Next": next_state}}


def cancel_states(step: str, arn: str, alerts_url: str, next_state: str) -> dict:
    """A compensating task (retried) and, if it still fails, an alert for a human before going on."""
    cancel, alert = f"Cancel{title(step)}", f"Alert{title(step)}"
    return {
        cancel: {"Type": "Task", "Resource": arn, "Parameters": {"action": "cancel", "trip.$": "$"},
                 "ResultPath": f"$.undone.{step}", "Next": next_state, "Retry": [COMPENSATION_RETRY],
                 "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": f"$.compensation_errors.{step}",
                            "Next": alert}]},
        alert: {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "ResultPath": None,
                "Parameters": {"QueueUrl": alerts_url, "MessageBody": {
                    "trip_id.$": "$.trip_id", "step": step, "problem": "compensation failed: undo by hand",
                    "error.$": f"$.compensation_errors.{step}"}},
                "Next": next_state},
    }


def record_state(trips_table: str, status: str, next_state: str) -> dict:
    """Write the trip's final status to the trips table (a DynamoDB service integration)."""
    return {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "ResultPath": None,
            "Parameters": {"TableName": trips_table, "Item": {
                "pk": {"S.$": "$.trip_id"}, "status": {"S": status}, "style": {"S": "orchestrated"}}},
            "Next": next_state}


def approval_states(approvals_url: str, last: str) -> dict:
    """Trips over APPROVAL_LIMIT wait for a payment approval (.waitForTaskToken); a rejection compensates from
    `last`."""
    return {
        "NeedsApproval": {"Type": "Choice", "Default": "RecordConfirmed", "Choices": [
            {"Variable": "$.amount", "NumericGreaterThan": APPROVAL_LIMIT, "Next": "ApprovePayment"}]},
        "ApprovePayment": {
            "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl": approvals_url,
                           "MessageBody": {"token.$": "$$.Task.Token", "trip_id.$": "$.trip_id",
                                           "amount.$": "$.amount"}},
            "ResultPath": "$.approval", "TimeoutSeconds": 60, "Next": "RecordConfirmed",
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": last}]},
    }


def saga(functions: dict[str, str], trips_table: str, alerts_url: str, approvals_url: str | None = None,
         steps: tuple[str, ...] = STEPS, pivot: str | None = None) -> dict:
    """The trip saga over `steps`. With approvals_url, trips over APPROVAL_LIMIT wait for a payment approval
    (.waitForTaskToken) after the last booking; a rejection compensates every step. With a pivot, the steps
    after it are recovered forward (FORWARD_RETRY) and, if that fails, escalated: alert, NEEDS_ATTENTION, stop."""
    states = skeleton(functions, trips_table, alerts_url, approvals_url, steps,
                      book_state, cancel_states, record_state, approval_states, pivot, escalate_state)
    return {"Comment": "Trip booking saga (after Yan Cui's example)", "StartAt": f"Book{title(steps[0])}",
            "States": states}


def skeleton(functions: dict[str, str], trips_table: str, alerts_url: str, approvals_url: str | None,
             steps: tuple[str, ...], book, cancel, record, approval, pivot: str | None = None,
             escalate=None) -> dict:
    """The saga's states and transitions, each state written by the given builders (one query language)."""
    states: dict = {}
    forward = forward_steps(steps, pivot)
    last = f"Cancel{title(steps[-1])}"
    after_last = "NeedsApproval" if approvals_url else "RecordConfirmed"
    for step, following in zip(steps, [f"Book{title(s)}" for s in steps[1:]] + [after_last], strict=True):
        states[f"Book{title(step)}"] = book(step, functions[step], following, step in forward)
    if approvals_url:
        states.update(approval(approvals_url, last))
    states["RecordConfirmed"] = record(trips_table, "CONFIRMED", "TripConfirmed")
    states["TripConfirmed"] = {"Type": "Succeed"}
    undo = list(reversed(steps))
    for step, following in zip(undo, [f"Cancel{title(s)}" for s in undo[1:]] + ["RecordCancelled"], strict=True):
        states.update(cancel(step, functions[step], alerts_url, following))
    states["RecordCancelled"] = record(trips_table, "CANCELLED", "TripCancelled")
    states["TripCancelled"] = {"Type": "Fail", "Error": "TripCancelled",
                               "Cause": "a booking failed; the saga undid the others"}
    for step in forward:  # after the pivot: alert, mark the trip, stop (never into the cancellations)
        states.update(escalate(step, alerts_url, "RecordNeedsAttention"))
    if forward:
        states["RecordNeedsAttention"] = record(trips_table, NEEDS_ATTENTION, "TripNeedsAttention")
        states["TripNeedsAttention"] = {"Type": "Fail", "Error": "TripNeedsAttention",
                                        "Cause": "a booking after the pivot failed; a human was alerted"}
    return states


# ---------------------------------------------------------------- the same saga in JSONata
# "QueryLanguage": "JSONata" replaces Parameters/ResultPath/InputPath with Arguments and Output (and
# Assign for variables); a state's output is its result unless Output says otherwise. To keep the same
# data flow as the JSONPath saga (the trip travels as the state's input, each step adds its result
# under a key), every Output merges the result into $states.input. Same state names, same paths.

def merged(key: str, value: str, under: str | None = None) -> str:
    """JSONata: the state's input with `value` stored at key (or at under.key, keeping under's other keys)."""
    if under is None:
        return f"{{% $merge([$states.input, {{'{key}': {value}}}]) %}}"
    return (f"{{% $merge([$states.input, {{'{under}': $merge([$states.input.{under}, "
            f"{{'{key}': {value}}}])}}]) %}}")


UNCHANGED = "{% $states.input %}"


def book_state_jsonata(step: str, arn: str, next_state: str, forward: bool = False) -> dict:
    """book_state in JSONata."""
    return {"Type": "Task", "Resource": arn, "Arguments": {"action": "book", "trip": UNCHANGED},
            "Output": merged(step, "$states.result", under="results"), "Next": next_state,
            "Retry": [FORWARD_RETRY if forward else TRANSIENT_RETRY, LAMBDA_SERVICE_RETRY],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Output": merged("error", "$states.errorOutput"),
                       "Next": caught_by(step, forward)}]}


def escalate_state_jsonata(step: str, alerts_url: str, next_state: str) -> dict:
    """escalate_state in JSONata."""
    return {f"Escalate{title(step)}": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "Output": UNCHANGED,
        "Arguments": {"QueueUrl": alerts_url, "MessageBody": {
            "trip_id": "{% $states.input.trip_id %}", "step": step, "problem": STUCK_PROBLEM,
            "error": "{% $states.input.error %}"}},
        "Next": next_state}}


def cancel_states_jsonata(step: str, arn: str, alerts_url: str, next_state: str) -> dict:
    """cancel_states in JSONata."""
    cancel, alert = f"Cancel{title(step)}", f"Alert{title(step)}"
    return {
        cancel: {"Type": "Task", "Resource": arn, "Arguments": {"action": "cancel", "trip": UNCHANGED},
                 "Output": merged(step, "$states.result", under="undone"), "Next": next_state,
                 "Retry": [COMPENSATION_RETRY],
                 "Catch": [{"ErrorEquals": ["States.ALL"], "Next": alert,
                            "Output": merged(step, "$states.errorOutput", under="compensation_errors")}]},
        alert: {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "Output": UNCHANGED,
                "Arguments": {"QueueUrl": alerts_url, "MessageBody": {
                    "trip_id": "{% $states.input.trip_id %}", "step": step,
                    "problem": "compensation failed: undo by hand",
                    "error": f"{{% $states.input.compensation_errors.{step} %}}"}},
                "Next": next_state},
    }


def record_state_jsonata(trips_table: str, status: str, next_state: str) -> dict:
    """record_state in JSONata."""
    return {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "Output": UNCHANGED,
            "Arguments": {"TableName": trips_table, "Item": {
                "pk": {"S": "{% $states.input.trip_id %}"}, "status": {"S": status}, "style": {"S": "orchestrated"}}},
            "Next": next_state}


def approval_states_jsonata(approvals_url: str, last: str) -> dict:
    """approval_states in JSONata."""
    return {
        "NeedsApproval": {"Type": "Choice", "Default": "RecordConfirmed", "Choices": [
            {"Condition": f"{{% $states.input.amount > {APPROVAL_LIMIT} %}}", "Next": "ApprovePayment"}]},
        "ApprovePayment": {
            "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Arguments": {"QueueUrl": approvals_url, "MessageBody": {
                "token": "{% $states.context.Task.Token %}", "trip_id": "{% $states.input.trip_id %}",
                "amount": "{% $states.input.amount %}"}},
            "Output": merged("approval", "$states.result"), "TimeoutSeconds": 60, "Next": "RecordConfirmed",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Output": merged("error", "$states.errorOutput"),
                       "Next": last}]},
    }


def saga_jsonata(functions: dict[str, str], trips_table: str, alerts_url: str, approvals_url: str | None = None,
                 steps: tuple[str, ...] = STEPS, pivot: str | None = None) -> dict:
    """saga() written in JSONata: the same states, paths and outcomes."""
    states = skeleton(functions, trips_table, alerts_url, approvals_url, steps, book_state_jsonata,
                      cancel_states_jsonata, record_state_jsonata, approval_states_jsonata, pivot,
                      escalate_state_jsonata)
    return {"Comment": "Trip booking saga (after Yan Cui's example), in JSONata", "QueryLanguage": "JSONata",
            "StartAt": f"Book{title(steps[0])}", "States": states}
