"""Lambda on the local-process executor: sync and async invoke, errors, timeouts, logs, layers, destinations."""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest

import ocbook as ob
from tests.engine.conftest import stays, wait_items


def invoke(function, payload=None, **kwargs) -> tuple[dict, object]:
    """Synchronous invoke; returns (response, parsed payload)."""
    response = ob.client("lambda").invoke(FunctionName=function.name, Payload=json.dumps(payload or {}), **kwargs)
    return response, json.loads(response["Payload"].read() or "null")


@pytest.fixture(scope="module")
def echo(deployment):
    return deployment.function("echo", "probe.handlers.echo", env={"GREETING": "ciao"}, memory=256)


def test_sync_invoke_sees_event_env_context_and_endpoint(echo):
    response, body = invoke(echo, {"x": 1})
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert body["event"] == {"x": 1}
    assert body["env"]["GREETING"] == "ciao"
    assert body["env"]["AWS_ENDPOINT_URL"].startswith("http://")  # handler boto3 reaches the engine
    assert body["env"]["AWS_ACCESS_KEY_ID"] and body["env"]["AWS_REGION"] == ob.REGION
    assert body["memory"] == "256" and body["env"]["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert 0 < body["remaining_ms"] <= 10_000


def test_warm_invoke_reuses_the_environment(echo):
    _, first = invoke(echo)
    _, second = invoke(echo)
    assert first["pid"] == second["pid"] and first["request_id"] != second["request_id"]


def test_handler_error_has_lambdas_shape(deployment):
    fn = deployment.function("fail", "probe.handlers.fail")
    response, body = invoke(fn, {"message": "no rooms"})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "no rooms"
    assert any("handlers.py" in frame for frame in body["stackTrace"])


def test_timeout_is_enforced_and_environment_replaced(deployment):
    fn = deployment.function("sleepy", "probe.handlers.sleep", timeout=1)
    started = time.monotonic()
    response, body = invoke(fn, {"seconds": 5}, LogType="Tail")
    assert time.monotonic() - started < 4
    assert response["FunctionError"] == "Unhandled" and body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]
    assert "going to sleep" in base64.b64decode(response["LogResult"]).decode()
    response, body = invoke(fn, {"seconds": 0})  # a fresh environment takes the next call
    assert "FunctionError" not in response and body["slept"] == 0


def test_megabytes_of_output_are_capped_and_the_engine_survives(deployment, echo):
    fn = deployment.function("noisy", "probe.handlers.noisy")
    response, body = invoke(fn, {"lines": 3000}, LogType="Tail")  # ~3 MB of print output
    assert body == {"printed": 3000}
    assert "log output truncated" in ob.wait.log_line(fn.name, "truncated", timeout=20)
    assert "FunctionError" not in invoke(echo)[0]


def test_non_json_result_is_a_marshal_error(deployment):
    fn = deployment.function("notjson", "probe.handlers.not_json")
    response, body = invoke(fn)
    assert response["FunctionError"] == "Unhandled" and body["errorType"] == "Runtime.MarshalError"


def test_missing_handler_and_module_are_reported(deployment):
    fn = deployment.function("nohandler", "probe.handlers.does_not_exist")
    assert invoke(fn)[1]["errorType"] == "Runtime.HandlerNotFound"
    fn = deployment.function("nomodule", "probe.nowhere.handler", packages=("probe",))
    assert invoke(fn)[1]["errorType"] == "Runtime.ImportModuleError"


def test_non_python_runtime_is_refused_with_a_clear_reason(deployment):
    lam = ob.client("lambda")
    with pytest.raises(lam.exceptions.InvalidParameterValueException, match="python3.12"):
        lam.create_function(FunctionName=deployment.name("node"), Runtime="nodejs20.x", Handler="index.handler",
                            Role=deployment.role(), Code={"ZipFile": ob.package.function_zip("probe")})


def test_print_and_logging_reach_cloudwatch(echo, deployment):
    fn = deployment.function("sleeplog", "probe.handlers.sleep")
    invoke(fn, {"seconds": 0})
    assert ob.wait.log_line(fn.name, r"^woke up$")
    assert ob.wait.log_line(fn.name, r"^REPORT RequestId: .*Memory Size: 128 MB")


def test_layers_are_on_the_path(deployment):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("python/probe_layer_module.py", "VALUE = 'from the layer'\n")
    layer = deployment.layer("probelayer", buffer.getvalue())
    fn = deployment.function("layered", "probe.handlers.uses_layer", layers=[layer])
    assert invoke(fn)[1] == {"from_layer": "from the layer"}


def test_list_layers_leaves_out_a_layer_whose_only_version_was_deleted(deployment):
    """LocalStack answered InternalError "list index out of range" here (mended in lambda_provider.py)."""
    lam = ob.client("lambda")
    name = deployment.name("onlyversion")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("python/only_version.py", "")

    def listed() -> dict:
        return {layer["LayerName"]: layer["LatestMatchingVersion"]["Version"] for layer in lam.list_layers()["Layers"]}

    first = lam.publish_layer_version(LayerName=name, Content={"ZipFile": archive.getvalue()})["Version"]
    deployment.on_teardown(f"layer {name}", lambda: lam.delete_layer_version(LayerName=name, VersionNumber=first))
    assert listed()[name] == first
    lam.delete_layer_version(LayerName=name, VersionNumber=first)
    assert name not in listed()
    second = lam.publish_layer_version(LayerName=name, Content={"ZipFile": archive.getvalue()})["Version"]
    deployment.on_teardown(f"layer {name}", lambda: lam.delete_layer_version(LayerName=name, VersionNumber=second))
    assert second == first + 1 and listed()[name] == second  # AWS never reuses a layer version number


def test_concurrent_invocations_run_in_parallel_environments(deployment):
    fn = deployment.function("parallel", "probe.handlers.sleep")
    invoke(fn, {"seconds": 0})
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: invoke(fn, {"seconds": 1.5})[1], range(4)))
    assert len({r["pid"] for r in results}) == 4  # four environments, each handling one call at a time
    assert time.monotonic() - started < 6  # in series the four calls would take at least 6 s


def test_async_retries_follow_maximum_retry_attempts(deployment, records):
    once = deployment.function("retry1", "probe.handlers.record",
                               env={"TABLE": records, "KEY": "retry1", "FAIL": "always"})
    deployment.async_config(once, retries=1)
    twice = deployment.function("retry2", "probe.handlers.record",
                                env={"TABLE": records, "KEY": "retry2", "FAIL": "always"})
    for fn in (once, twice):
        ob.client("lambda").invoke(FunctionName=fn.name, InvocationType="Event", Payload=b"{}")
    attempts = wait_items(records, "retry2", 3, timeout=30)  # default: 2 retries
    assert len(attempts) == 3
    assert len(wait_items(records, "retry1", 2, timeout=10)) == 2
    assert stays(lambda: len(wait_items(records, "retry1", 2)) == 2, 3)  # and no third attempt
    pin_retry_delays([float(a["at"]) for a in attempts])


def pin_retry_delays(times: list[float]) -> None:
    """Known difference, pinned: the waits are AWS's (~60 s, ~120 s) times the engine's time scale."""
    scale = ob.engine.time_scale()
    if scale is None:
        return  # another LocalStack: its LAMBDA_RETRY_BASE_DELAY decides
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    print(f"scale {scale:.4f}: async retry gaps {[round(g, 2) for g in gaps]} s (AWS: ~60 s, ~120 s)")
    for gap, aws in zip(gaps, (60, 120), strict=False):
        assert aws * scale <= gap <= aws * scale + 1.0, (gaps, scale)


def test_async_event_age_is_counted_on_the_engines_clock(deployment, records):
    """AWS: a 60 s MaximumEventAgeInSeconds drops the event before its first retry (which comes ~1 min later).

    The engine counts the age on the same scaled clock as the retry delay, so the outcome is AWS's; the function
    with a 6 h age is the positive control (it gets its retry).
    """
    results = deployment.queue("agedest")
    young = deployment.function("age60", "probe.handlers.record",
                                env={"TABLE": records, "KEY": "age60", "FAIL": "always"})
    old = deployment.function("age6h", "probe.handlers.record",
                              env={"TABLE": records, "KEY": "age6h", "FAIL": "always"})
    deployment.async_config(young, retries=1, max_age=60, on_failure=results.arn)
    deployment.async_config(old, retries=1, max_age=21600, on_failure=results.arn)
    for fn in (young, old):
        ob.client("lambda").invoke(FunctionName=fn.name, InvocationType="Event", Payload=b"{}")
    outcomes = {m["Body"]["requestContext"]["functionArn"].split(":")[6]: m["Body"]["requestContext"]
                for m in ob.wait.messages(results.url, 2, timeout=30)}
    young_outcome, old_outcome = outcomes[young.name], outcomes[old.name]
    assert (young_outcome["condition"], young_outcome["approximateInvokeCount"]) == ("EventAgeExceeded", 1)
    assert (old_outcome["condition"], old_outcome["approximateInvokeCount"]) == ("RetriesExhausted", 2)


def test_an_async_invoke_right_after_an_update_runs_at_once_on_the_new_configuration(deployment, records):
    """An update starts a new poller on the function's event queue while the old one finishes its last long poll;
    LocalStack's old poller dropped what that poll received, leaving it invisible for timeout + 60 s (70 s
    here), and the saga's first event after a stack update waited that long (ocbook_engine.lambda_events)."""
    lam = ob.client("lambda")
    fn = deployment.function("updated", "probe.handlers.record", env={"TABLE": records, "KEY": "update-0"})
    ran = []
    for n in (1, 2, 3):  # without the mend, 3 of 3 measured invokes waited ~70 s
        lam.update_function_configuration(FunctionName=fn.name,
                                          Environment={"Variables": {"TABLE": records, "KEY": f"update-{n}"}})
        lam.get_waiter("function_updated_v2").wait(FunctionName=fn.name)
        began = time.monotonic()
        lam.invoke(FunctionName=fn.name, InvocationType="Event", Payload=json.dumps({"n": n}))
        (record,) = wait_items(records, f"update-{n}", 1, timeout=20)  # the new KEY: it ran the updated version
        ran.append(time.monotonic() - began)
        assert json.loads(record["event"]) == {"n": n}
    print(f"\nasync invoke right after an update ran after {', '.join(f'{s:.1f}' for s in ran)} s")


def test_async_destinations_receive_lambdas_records(deployment, records):
    success, failure = deployment.queue("ok"), deployment.queue("ko")
    fn = deployment.function("dest", "probe.handlers.record", env={"TABLE": records, "KEY": "dest"})
    deployment.async_config(fn, retries=0, on_success=success.arn, on_failure=failure.arn)
    lam = ob.client("lambda")
    lam.invoke(FunctionName=fn.name, InvocationType="Event", Payload=json.dumps({"n": 1}))
    lam.invoke(FunctionName=fn.name, InvocationType="Event", Payload=json.dumps({"n": 2, "fail": True}))
    ok = ob.wait.messages(success.url, 1)[0]["Body"]
    ko = ob.wait.messages(failure.url, 1)[0]["Body"]
    assert ok["requestContext"]["condition"] == "Success" and ok["requestPayload"] == {"n": 1}
    assert ok["responsePayload"] == {"recorded": True}
    assert ko["requestContext"]["condition"] == "RetriesExhausted"
    assert ko["requestContext"]["approximateInvokeCount"] == 1
    assert ko["responsePayload"]["errorMessage"] == "failing on purpose"


def test_function_dead_letter_queue_gets_failed_async_event(deployment, records):
    dlq = deployment.queue("fndlq")
    fn = deployment.function("withdlq", "probe.handlers.record", env={"TABLE": records, "KEY": "dlq", "FAIL": "always"},
                             dlq=dlq.arn)
    deployment.async_config(fn, retries=0)
    ob.client("lambda").invoke(FunctionName=fn.name, InvocationType="Event", Payload=json.dumps({"order": 7}))
    message = ob.wait.messages(dlq.url, 1)[0]
    assert message["Body"] == {"order": 7}
    assert message["MessageAttributes"]["ErrorMessage"]["StringValue"] == "failing on purpose"
