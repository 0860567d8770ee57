"""The function-environment runtime, exercised in-process (no engine needed)."""

from __future__ import annotations

import json
import sys
import time

import pytest

from ocbook_engine import lambda_runtime as rt


@pytest.fixture
def module(tmp_path, monkeypatch):
    """A handler module on sys.path."""
    (tmp_path / "fakefn.py").write_text(
        "print('imported')\n"
        "def ok(event, context):\n"
        "    print('hi'); return {'got': event, 'left': context.get_remaining_time_in_millis()}\n"
        "def boom(event, context):\n    raise KeyError('missing')\n"
        "def weird(event, context):\n    return object()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "fakefn"
    sys.modules.pop("fakefn", None)


def runtime(handler: str, timeout: str = "3") -> rt.Runtime:
    runtime = rt.Runtime({"LOCALSTACK_RUNTIME_ENDPOINT": "http://unused", "LOCALSTACK_RUNTIME_ID": "x",
                          "AWS_LAMBDA_FUNCTION_TIMEOUT": timeout})
    runtime.init(handler)
    return runtime


def outcome(runtime: rt.Runtime, payload: str) -> tuple[str, dict]:
    path, body = runtime.outcome({"invoke-id": "r1", "payload": payload}, time.time())
    return path, json.loads(body)


def test_result_and_context(module):
    path, body = outcome(runtime(f"{module}.ok"), '{"a": 1}')
    assert path == "response" and body["got"] == {"a": 1} and 2900 <= body["left"] <= 3000


def test_handler_exception_in_lambda_shape(module):
    path, body = outcome(runtime(f"{module}.boom"), "{}")
    assert path == "error" and body["errorType"] == "KeyError" and body["errorMessage"] == "'missing'"
    assert body["stackTrace"] and "fakefn.py" in body["stackTrace"][0]


def test_unserialisable_result_is_marshal_error(module):
    path, body = outcome(runtime(f"{module}.weird"), "{}")
    assert path == "error" and body["errorType"] == "Runtime.MarshalError"


def test_bad_payload_is_unmarshal_error(module):
    assert outcome(runtime(f"{module}.ok"), "{not json")[1]["errorType"] == "Runtime.UnmarshalError"


@pytest.mark.parametrize("handler, error, message", [
    ("nosuchmodule.handler", "Runtime.ImportModuleError",
     "Unable to import module 'nosuchmodule': No module named 'nosuchmodule'"),
    ("fakefn.nosuchfunction", "Runtime.HandlerNotFound", "Handler 'nosuchfunction' missing on module 'fakefn'"),
    ("nodot", "Runtime.MalformedHandlerName", "Bad handler 'nodot': expected 'module.function'"),
])
def test_bad_handlers_are_reported_on_invoke(module, handler, error, message):
    expected = {"errorType": error, "errorMessage": message, "stackTrace": []}  # Lambda's shape, written out
    assert outcome(runtime(handler), "{}") == ("error", expected)


def test_import_output_is_kept_for_the_first_invocation(module):
    assert "imported" in runtime(f"{module}.ok").init_logs


def test_capped_buffer_drops_and_says_so(monkeypatch):
    monkeypatch.setattr(rt, "LOG_LIMIT_BYTES", 10)

    class Sink:
        text = ""

        def write(self, text):
            Sink.text += text

        def flush(self):
            pass

    buffer = rt.CappedBuffer(Sink())
    buffer.write("0123456789abcdef")
    assert buffer.getvalue().startswith("0123456789\n[engine] log output truncated: 6 characters dropped")
    assert Sink.text == "0123456789abcdef"  # the environment log keeps everything


def test_context_counts_down():
    context = rt.LambdaContext("r", "arn", time.time() + 1)
    assert 900 < context.get_remaining_time_in_millis() <= 1000
    assert rt.LambdaContext("r", "arn", time.time() - 5).get_remaining_time_in_millis() == 0


def test_only_the_first_report_of_an_environment_has_an_init_duration(module):
    warm = runtime(f"{module}.ok")
    first, second = (warm.run_one({"invoke-id": f"r{n}", "payload": "{}"})["logs"] for n in (1, 2))
    assert "REPORT RequestId: r1" in first and "Init Duration: " in first
    assert "REPORT RequestId: r2" in second and "Init Duration" not in second
