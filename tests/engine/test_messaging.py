"""SQS, SNS and EventBridge: redrive, fan-out, bus targets, an EventBridge target DLQ."""

from __future__ import annotations

import json

import ocbook as ob
from tests.engine.conftest import wait_items


def fail_receives(queue, times: int) -> None:
    """Receive a message `times` times without deleting it, as a consumer that keeps failing would."""
    for _ in range(times):
        ob.wait.messages(queue.url, 1, delete=False, timeout=10)


def receive_until_moved(source, dlq) -> list[dict]:
    """Keep polling the source (SQS moves a message when a receive would exceed maxReceiveCount)."""
    sqs = ob.client("sqs")
    return ob.wait.until(lambda: sqs.receive_message(QueueUrl=source.url, WaitTimeSeconds=1).get("Messages", [])
                         or ob.wait.queue_depth(dlq.url), lambda depth: depth == 1, 20,
                         what="the message to move to the DLQ")


def test_sqs_redrive_to_dlq_after_max_receive_count(deployment):
    dlq = deployment.queue("dlq")
    source = deployment.queue("src", dlq=dlq, max_receive=2, visibility_timeout=1)
    ob.client("sqs").send_message(QueueUrl=source.url, MessageBody="poison")
    fail_receives(source, 2)
    receive_until_moved(source, dlq)
    moved = ob.wait.messages(dlq.url, 1)
    assert moved[0]["Body"] == "poison" and moved[0]["Attributes"]["ApproximateReceiveCount"] in ("2", "3")
    assert ob.wait.queue_depth(source.url) == 0


def test_sqs_redrive_back_from_dlq(deployment):
    sqs = ob.client("sqs")
    dlq = deployment.queue("dlq")
    source = deployment.queue("src", dlq=dlq, max_receive=1, visibility_timeout=1)
    sqs.send_message(QueueUrl=source.url, MessageBody="again")
    fail_receives(source, 1)
    receive_until_moved(source, dlq)
    assert sqs.start_message_move_task(SourceArn=dlq.arn, DestinationArn=source.arn)["TaskHandle"]
    assert ob.wait.messages(source.url, 1, timeout=15)[0]["Body"] == "again"
    assert ob.wait.queue_depth(dlq.url) == 0


def test_sns_fans_out_to_every_queue(deployment):
    topic = deployment.topic()
    queues = [deployment.queue(f"fan{i}") for i in range(2)]
    for queue in queues:
        deployment.subscribe(topic, "sqs", queue.arn)
    ob.client("sns").publish(TopicArn=topic, Message=json.dumps({"order": 1}))
    assert [ob.wait.messages(q.url, 1)[0]["Body"] for q in queues] == [{"order": 1}, {"order": 1}]


def put_event(bus: str, detail_type: str, detail: dict) -> None:
    result = ob.client("events").put_events(Entries=[{"EventBusName": bus, "Source": "book.test",
                                                      "DetailType": detail_type, "Detail": json.dumps(detail)}])
    assert result["FailedEntryCount"] == 0


def test_eventbridge_bus_routes_by_pattern_to_sqs(deployment):
    bus = deployment.bus()
    wanted, other = deployment.queue("wanted"), deployment.queue("other")
    deployment.rule(bus, {"detail-type": ["HotelBooked"]}, [wanted.arn])
    deployment.rule(bus, {"detail-type": ["FlightBooked"]}, [other.arn])
    put_event(bus, "HotelBooked", {"trip": "t1"})
    body = ob.wait.messages(wanted.url, 1)[0]["Body"]
    assert body["detail-type"] == "HotelBooked" and body["detail"] == {"trip": "t1"}
    assert ob.wait.queue_depth(other.url) == 0


def test_eventbridge_to_lambda_and_to_step_functions(deployment, records):
    bus = deployment.bus("targets")
    fn = deployment.function("ebfn", "probe.handlers.record", env={"TABLE": records, "KEY": "eb"})
    machine = deployment.state_machine("ebsm", {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
    deployment.rule(bus, {"detail-type": ["Go"]}, [fn.arn, machine])
    put_event(bus, "Go", {"n": 1})
    event = json.loads(wait_items(records, "eb", 1)[0]["event"])
    assert event["detail"] == {"n": 1}
    sfn = ob.client("stepfunctions")
    executions = ob.wait.until(lambda: sfn.list_executions(stateMachineArn=machine)["executions"], bool, 15,
                               what="an execution started by the rule")
    done = ob.stepfunctions.wait(executions[0]["executionArn"])
    assert done["status"] == "SUCCEEDED" and done["output"]["detail"] == {"n": 1}


def test_eventbridge_target_dlq_receives_an_event_for_a_missing_target(deployment):
    """AWS sends an event for a target that no longer exists straight to the target's DLQ, without retries.

    The live queue on the same rule is the positive control: the rule fired. More in test_eventbridge_delivery.py.
    """
    bus = deployment.bus("nodlq")
    dlq, live = deployment.queue("targetdlq"), deployment.queue("live")
    missing = f"arn:aws:lambda:{ob.REGION}:{ob.ACCOUNT}:function:{deployment.name('gone')}"
    deployment.rule(bus, {"detail-type": ["Lost"]}, [live.arn, {"Arn": missing, "DeadLetterConfig": {"Arn": dlq.arn}}])
    put_event(bus, "Lost", {"n": 1})
    assert ob.wait.messages(live.url, 1)[0]["Body"]["detail"] == {"n": 1}
    [letter] = ob.wait.messages(dlq.url, 1, timeout=10)
    attributes = {k: v["StringValue"] for k, v in letter["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "NO_RESOURCE" and attributes["RETRY_ATTEMPTS"] == "0"
    assert attributes["TARGET_ARN"] == missing and letter["Body"]["detail"] == {"n": 1}
