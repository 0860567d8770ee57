"""Step Functions: Lambda tasks with Retry/Catch, Choice, Parallel, Map, service integrations, callbacks, Express."""

from __future__ import annotations

import json

import pytest

import ocbook as ob


@pytest.fixture(scope="module")
def task_fn(deployment, records):
    return deployment.function("sfntask", "probe.handlers.task", env={"TABLE": records})


def retrier(**overrides) -> dict:
    return {"ErrorEquals": ["TransientError"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 1.0,
            **overrides}


def test_retry_absorbs_transient_failures(deployment, task_fn, records):
    machine = deployment.state_machine("retry", {"StartAt": "Work", "States": {"Work": {
        "Type": "Task", "Resource": task_fn.arn, "End": True,
        "Retry": [retrier(MaxDelaySeconds=5, JitterStrategy="NONE")]}}})
    done = ob.stepfunctions.run(machine, {"key": "retry", "fail_until": 2})
    assert done["status"] == "SUCCEEDED" and done["output"]["attempts"] == 3
    history = ob.stepfunctions.history(done["executionArn"])
    assert list(history["type"]).count("LambdaFunctionFailed") == 2


def test_catch_routes_with_result_path_and_retries_run_out(deployment, task_fn):
    machine = deployment.state_machine("catch", {"StartAt": "Work", "States": {
        "Work": {"Type": "Task", "Resource": task_fn.arn, "Next": "Ok",
                 "Retry": [retrier(MaxAttempts=1)],
                 "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Undo"}]},
        "Undo": {"Type": "Pass", "Next": "Failed"},
        "Failed": {"Type": "Fail", "Error": "Undone"},
        "Ok": {"Type": "Succeed"}}})
    done = ob.stepfunctions.run(machine, {"key": "catch", "permanent": True})
    assert done["status"] == "FAILED" and done["error"] == "Undone"
    assert ob.stepfunctions.path(done["executionArn"]) == ["Work", "Undo", "Failed"]
    undo_input = next(json.loads(e["stateEnteredEventDetails"]["input"])
                      for e in ob.stepfunctions.events(done["executionArn"])
                      if e["type"] == "PassStateEntered")
    assert undo_input["key"] == "catch" and undo_input["error"]["Error"] == "PermanentError"


def test_choice_parallel_and_map(deployment):
    machine = deployment.state_machine("flow", {"StartAt": "Pick", "States": {
        "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Both"}],
                 "Default": "Small"},
        "Small": {"Type": "Pass", "Result": "small", "End": True},
        "Both": {"Type": "Parallel", "Next": "Each", "ResultPath": "$.parallel", "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Result": "a", "End": True}}},
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": "b", "End": True}}}]},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.mapped", "End": True,
                 "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Double", "States": {
                     "Double": {"Type": "Pass", "Parameters": {"v.$": "States.MathAdd($.x, $.x)"}, "End": True}}}},
    }})
    assert ob.stepfunctions.run(machine, {"n": 0})["output"] == "small"
    out = ob.stepfunctions.run(machine, {"n": 2, "items": [{"x": 1}, {"x": 5}]})["output"]
    assert out["parallel"] == ["a", "b"] and out["mapped"] == [{"v": 2}, {"v": 10}]


def test_service_integrations_dynamodb_sqs_sns_eventbridge(deployment):
    table = deployment.table("sfnddb")
    queue = deployment.queue("sfnq")
    topic = deployment.topic("sfnt")
    topic_queue = deployment.queue("sfntq")
    deployment.subscribe(topic, "sqs", topic_queue.arn)
    bus = deployment.bus("sfnbus")
    bus_queue = deployment.queue("sfnbq")
    deployment.rule(bus, {"source": ["book.sfn"]}, [bus_queue.arn])
    machine = deployment.state_machine("integrations", {"StartAt": "Put", "States": {
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "ResultPath": None, "Next": "Get",
                "Parameters": {"TableName": table, "Item": {"pk": {"S.$": "$.id"}, "state": {"S": "BOOKED"}}}},
        "Get": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:getItem", "ResultPath": "$.got", "Next": "Send",
                "Parameters": {"TableName": table, "Key": {"pk": {"S.$": "$.id"}}}},
        "Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "ResultPath": None, "Next": "Publish",
                 "Parameters": {"QueueUrl": queue.url, "MessageBody.$": "$.id"}},
        "Publish": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish", "ResultPath": None, "Next": "Emit",
                    "Parameters": {"TopicArn": topic, "Message.$": "$.id"}},
        "Emit": {"Type": "Task", "Resource": "arn:aws:states:::events:putEvents", "ResultPath": None, "End": True,
                 "Parameters": {"Entries": [{"EventBusName": bus, "Source": "book.sfn", "DetailType": "Booked",
                                             "Detail": {"id.$": "$.id"}}]}},
    }})
    done = ob.stepfunctions.run(machine, {"id": "trip-9"})
    assert done["status"] == "SUCCEEDED"
    assert done["output"]["got"]["Item"]["state"] == {"S": "BOOKED"}
    assert ob.wait.messages(queue.url, 1)[0]["Body"] == "trip-9"
    assert ob.wait.messages(topic_queue.url, 1)[0]["Body"] == "trip-9"
    assert ob.wait.messages(bus_queue.url, 1)[0]["Body"]["detail"] == {"id": "trip-9"}


def test_wait_for_task_token_is_completed_from_outside(deployment):
    approvals = deployment.queue("approvals")
    machine = deployment.state_machine("callback", {"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken", "End": True,
        "Parameters": {"QueueUrl": approvals.url,
                       "MessageBody": {"token.$": "$$.Task.Token", "amount.$": "$.amount"}}}}})
    execution = ob.stepfunctions.start(machine, {"amount": 120})
    request = ob.wait.messages(approvals.url, 1)[0]["Body"]
    sfn = ob.client("stepfunctions")
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    sfn.send_task_success(taskToken=request["token"], output=json.dumps({"approved": request["amount"] < 500}))
    done = ob.stepfunctions.wait(execution)
    assert done["status"] == "SUCCEEDED" and done["output"] == {"approved": True}


def test_express_start_sync_execution(deployment, task_fn):
    machine = deployment.state_machine("express", {"StartAt": "Work", "States": {"Work": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "OutputPath": "$.Payload", "End": True,
        "Parameters": {"FunctionName": task_fn.arn, "Payload.$": "$"}}}}, type="EXPRESS")
    result = ob.client("stepfunctions").start_sync_execution(stateMachineArn=machine,
                                                             input=json.dumps({"key": "express"}))
    assert result["status"] == "SUCCEEDED" and json.loads(result["output"])["attempts"] == 1
