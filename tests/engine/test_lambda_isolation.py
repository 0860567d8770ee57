"""What a function environment sees: only its own variables, modules and files, and only what AWS's runtime ships."""

from __future__ import annotations

import io
import json
import os
import signal
import zipfile

import psutil
import pytest

import ocbook as ob

# One handler module for every function here; what differs is what each package ships beside it.
HANDLER = '''
import importlib, json, os, sys, tempfile

def look(event, context):
    """Report what this environment sees."""
    found = {}
    for name in event.get("modules", []):
        try:
            module = importlib.import_module(name)
            found[name] = getattr(module, "VERSION", getattr(module, "__version__", "?"))
        except ImportError as exc:
            found[name] = "ImportError: " + str(exc)
    folder = tempfile.gettempdir()
    if "write" in event:
        with open(os.path.join(folder, event["write"]), "w") as file:
            file.write(os.environ["AWS_LAMBDA_FUNCTION_NAME"])
    return {"env": {k: os.environ.get(k) for k in event.get("env", [])}, "modules": found,
            "tmp": folder, "tmpdir": os.environ.get("TMPDIR"), "files": sorted(os.listdir(folder)),
            "path": sys.path, "pid": os.getpid()}

def parent(event, context):
    """The pid and command line of the process that started this environment."""
    with open(f"/proc/{os.getppid()}/cmdline", "rb") as file:
        return {"pid": os.getpid(), "parent": os.getppid(), "cmdline": file.read().decode(errors="replace")}

def close_everything(event, context):
    """Close every inherited descriptor if asked (as daemonising code does), the runtime's connection included."""
    if event.get("close"):
        os.closerange(3, 4096)
    return {"pid": os.getpid()}
'''


def package(**files: str) -> bytes:
    """A deployment package holding the probe handler module plus the given files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("isolation.py", HANDLER)
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def function(deployment, kind: str, code: bytes, handler: str = "isolation.look", env: dict | None = None,
             runtime: str = "python3.12") -> str:
    """A function from an inline package; returns its name (deleted with the deployment)."""
    lam = ob.client("lambda")
    name = deployment.name(kind)
    lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=deployment.role(),
                        Code={"ZipFile": code}, Environment={"Variables": env or {}}, Timeout=10)
    deployment.record("function", name, lambda: lam.delete_function(FunctionName=name))
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    return name


def dead(*pids: int) -> None:
    """Wait until the processes have ended (SIGKILL is delivered asynchronously; a zombie has closed its sockets)."""
    def ended(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
    ob.wait.poll(lambda: all(ended(pid) for pid in pids), 10, what=f"processes {pids} to end")


def invoke(name: str, event: dict | None = None) -> tuple[dict, dict]:
    """Synchronous invoke; returns (response, parsed payload)."""
    response = ob.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event or {}))
    return response, json.loads(response["Payload"].read())


def test_two_functions_see_only_their_own_variables_and_module_versions(deployment):
    one = function(deployment, "iso-one", package(**{"shared_mod.py": "VERSION = 'one'\n"}),
                   env={"ONLY_ONE": "1"})
    two = function(deployment, "iso-two", package(**{"shared_mod.py": "VERSION = 'two'\n"}), env={"ONLY_TWO": "2"})
    question = {"env": ["ONLY_ONE", "ONLY_TWO"], "modules": ["shared_mod"]}
    for _ in range(2):  # a new environment each, then warm ones
        assert invoke(one, question)[1]["env"] == {"ONLY_ONE": "1", "ONLY_TWO": None}
        assert invoke(two, question)[1]["env"] == {"ONLY_ONE": None, "ONLY_TWO": "2"}
        assert invoke(one, question)[1]["modules"] == {"shared_mod": "one"}
        assert invoke(two, question)[1]["modules"] == {"shared_mod": "two"}


def test_a_package_the_runtime_does_not_ship_is_an_import_module_error(deployment):
    needs = "import requests\ndef handler(e, c):\n    return 1\n"
    bare = function(deployment, "iso-bare", package(**{"needs.py": needs}), handler="needs.handler")
    response, body = invoke(bare)
    assert response["FunctionError"] == "Unhandled" and body["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'requests'" in body["errorMessage"]
    # Positive controls: the same handler runs when the package ships its own 'requests'; boto3 comes with the runtime.
    shipped = function(deployment, "iso-ship", package(**{"needs.py": needs, "requests.py": "VERSION = 'packaged'\n"}),
                       handler="needs.handler")
    response, body = invoke(shipped)
    assert "FunctionError" not in response and body == 1
    look = function(deployment, "iso-look", package())
    modules = invoke(look, {"modules": ["boto3", "botocore", "moto", "localstack", "pydantic"]})[1]["modules"]
    assert not modules["boto3"].startswith("ImportError") and not modules["botocore"].startswith("ImportError")
    assert all(modules[name].startswith("ImportError") for name in ("moto", "localstack", "pydantic"))


def test_module_path_is_code_then_runtime_packages_and_a_packaged_boto3_wins(deployment):
    own = function(deployment, "iso-boto", package(**{"boto3/__init__.py": "__version__ = '0.0-packaged'\n"}))
    body = invoke(own, {"modules": ["boto3"], "env": ["LAMBDA_TASK_ROOT"]})[1]
    assert body["modules"] == {"boto3": "0.0-packaged"}
    assert body["path"][0] == body["env"]["LAMBDA_TASK_ROOT"]  # the function's code comes first
    assert not [folder for folder in body["path"] if "site-packages" in folder]  # no venv behind the runtime
    plain = function(deployment, "iso-plain", package())
    assert invoke(plain, {"modules": ["boto3"]})[1]["modules"]["boto3"] != "0.0-packaged"  # positive control


def test_each_environment_has_its_own_temporary_folder(deployment):
    one = function(deployment, "iso-tmp1", package())
    two = function(deployment, "iso-tmp2", package())
    first = invoke(one, {"write": "mine.txt"})[1]
    second = invoke(two, {})[1]
    assert first["tmp"] == first["tmpdir"] and second["tmp"] == second["tmpdir"] and first["tmp"] != second["tmp"]
    assert first["files"] == ["mine.txt"] and second["files"] == []
    assert invoke(one, {})[1]["files"] == ["mine.txt"]  # positive control: a warm environment keeps its own files


def test_an_environment_that_drops_its_connection_is_replaced(deployment):
    name = function(deployment, "iso-drop", package(), handler="isolation.close_everything")
    first = invoke(name)[1]["pid"]
    response, body = invoke(name, {"close": True})
    assert response["FunctionError"] == "Unhandled" and body["errorType"] == "Runtime.ExitError"
    response, body = invoke(name)  # a fresh environment takes the next call
    assert "FunctionError" not in response and body["pid"] != first


def test_a_crashed_zygote_is_replaced(deployment):
    # Python 3.11, which no other engine test uses: killing a zygote ends every environment it forked, and the
    # tests running beside this one on the same engine would see theirs die mid-invocation (Runtime.ExitError).
    name = function(deployment, "iso-zygote", package(), handler="isolation.parent", runtime="python3.11")
    before = invoke(name)[1]
    if "zygote.py" not in before["cmdline"]:
        pytest.skip("not the book's engine: function environments are not forked by a zygote")
    os.kill(before["parent"], signal.SIGKILL)
    dead(before["parent"], before["pid"])  # a crash between invocations, not one racing the next call
    response, after = invoke(name)  # its environment died with the zygote; a new zygote forks a new one
    assert "FunctionError" not in response, after
    assert "zygote.py" in after["cmdline"]
    assert after["parent"] != before["parent"] and after["pid"] != before["pid"]


def test_an_environment_killed_between_invocations_is_invisible_to_the_next_call(deployment):
    name = function(deployment, "iso-idle-kill", package(), handler="isolation.parent")
    before = invoke(name)[1]
    os.kill(before["pid"], signal.SIGKILL)  # an idle environment dies; no request was on its way to it
    dead(before["pid"])
    response, after = invoke(name)  # Lambda places the next call on a live environment
    assert "FunctionError" not in response and after["pid"] != before["pid"]
