"""The zygote forks function environments; played against here without an engine (this test plays LocalStack)."""

from __future__ import annotations

import http.client
import json
import os
import queue
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

import ocbook as ob
from ocbook_engine import zygote

HANDLER = """import os, sys, tempfile
import boto3

def look(event, context):
    open(os.path.join(tempfile.gettempdir(), "mine"), "w").close()
    return {"x": os.environ.get("X"), "tmp": tempfile.gettempdir(), "files": os.listdir(tempfile.gettempdir()),
            "path": sys.path, "boto3": boto3.__file__, "runtime_visible": "lambda_runtime" in sys.modules}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ready_endpoint():
    """LocalStack's executor endpoint, reduced to collecting ready signals."""
    signals: queue.Queue = queue.Queue()

    class Ready(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            signals.put(self.path)
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", signals
    server.shutdown()


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """A zygote over a runtime site built from this venv's boto3."""
    folder = tmp_path_factory.mktemp("zygote")
    site = zygote.build_runtime_site(folder / "site")
    process = subprocess.Popen([sys.executable, "-I", "-S", "-u", "-B", zygote.__file__, str(site)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(folder / "zygote.log", "wb"),
                               env={"PATH": os.environ["PATH"]})
    yield process, folder
    if process.poll() is None:
        process.kill()
        process.wait()


def fork(running, ready_endpoint, name: str, variables: dict) -> tuple[int, int]:
    """Ask the zygote for one environment; return (pid, invoke port) once it reported ready."""
    process, folder = running
    endpoint, signals = ready_endpoint
    code, tmp = folder / f"code-{name}", folder / f"tmp-{name}"
    code.mkdir()
    tmp.mkdir()
    (code / "handler.py").write_text(HANDLER)
    port = free_port()
    env = {"_HANDLER": "handler.look", "LOCALSTACK_RUNTIME_ENDPOINT": endpoint, "LOCALSTACK_RUNTIME_ID": name,
           "TMPDIR": str(tmp), **variables}
    spec = {"token": name, "cwd": str(code), "env": env, "sys_path": [str(code)], "log": str(folder / f"{name}.log"),
            "port": port, "tmpdir": str(tmp), "pycache": str(folder / "pycache")}
    process.stdin.write(json.dumps(spec).encode() + b"\n")
    process.stdin.flush()
    answer = json.loads(process.stdout.readline())
    assert answer["token"] == name
    assert signals.get(timeout=60) == f"/status/{name}/ready"
    return answer["pid"], port


def ended(pid: int) -> bool:
    """The process is gone or a zombie waiting for its new parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except FileNotFoundError:
        return True


def invoke(port: int) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/invoke", json.dumps({"invoke-id": "r1", "payload": "{}"}))
    answer = json.loads(connection.getresponse().read())
    assert answer["outcome"] == "response", answer
    return json.loads(answer["body"])


def test_environments_are_separate_and_see_only_the_runtime(running, ready_endpoint):
    one_pid, one_port = fork(running, ready_endpoint, "one", {"X": "1"})
    two_pid, two_port = fork(running, ready_endpoint, "two", {})
    one, two = invoke(one_port), invoke(two_port)
    assert (one["x"], two["x"]) == ("1", None)
    assert one["tmp"] != two["tmp"] and one["files"] == two["files"] == ["mine"]
    assert one["path"][0].endswith("code-one") and one["path"][1].endswith("site")
    assert not [folder for folder in one["path"] if "site-packages" in folder]
    assert one["boto3"].startswith(one["path"][1]) and not one["runtime_visible"]
    process, _ = running
    os.kill(one_pid, 9)
    assert json.loads(process.stdout.readline()) == {"exited": one_pid, "status": -9}
    process.stdin.close()  # the engine went away: the zygote ends its environments and exits
    assert process.wait(10) == 0
    ob.wait.poll(lambda: ended(two_pid), 10, what="the environment to end with its zygote")


def test_a_function_shipping_boto3_gets_its_own(tmp_path):
    assert not zygote.ships_runtime_packages([str(tmp_path)])
    (tmp_path / "boto3").mkdir()
    assert zygote.ships_runtime_packages([str(tmp_path)])


def test_a_copy_identical_to_the_runtime_s_is_not_the_function_s_own(tmp_path):
    site, layer = tmp_path / "site", tmp_path / "layer"
    for folder in (site, layer):
        (folder / "jmespath").mkdir(parents=True)
        (folder / "jmespath" / "__init__.py").write_text("__version__ = '1.1.0'\n")
    (layer / "jmespath" / "__pycache__").mkdir()  # compiled files do not count
    assert not zygote.ships_runtime_packages([str(layer)], str(site))
    assert zygote.ships_runtime_packages([str(layer)])  # no runtime to compare with: the function's own
    (layer / "jmespath" / "extra.py").write_text("")
    assert zygote.ships_runtime_packages([str(layer)], str(site))  # one more file: its own
    (layer / "jmespath" / "extra.py").unlink()
    (layer / "jmespath" / "__init__.py").write_text("__version__ = '1.0.1'\n")
    assert zygote.ships_runtime_packages([str(layer)], str(site))  # other contents: its own


def test_the_first_copy_on_the_path_is_the_one_compared(tmp_path):
    site, code, layer = tmp_path / "site", tmp_path / "code", tmp_path / "layer"
    for folder, text in ((site, "same"), (code, "other"), (layer, "same")):
        folder.mkdir()
        (folder / "six.py").write_text(text)
    assert zygote.ships_runtime_packages([str(code), str(layer)], str(site))
    assert not zygote.ships_runtime_packages([str(layer), str(code)], str(site))
