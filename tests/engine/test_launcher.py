"""The launcher: idempotent start, status, stop that leaves nothing behind, and clear failures.

Runs a second engine on another port and home so that the engine under test is not disturbed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import boto3
import pytest

import ocbook as ob
from ocbook.paths import LAUNCHER, REPO

pytestmark = pytest.mark.skipif(bool(os.environ.get("AWS_ENDPOINT_URL")), reason="tests the embedded engine")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def engine_env(tmp_path) -> dict:
    """Environment for a launcher on a spare port, with its own state but the shared venv."""
    return dict(os.environ, OCBOOK_ENGINE_HOME=str(tmp_path / "engine"), OCBOOK_ENGINE_PORT=str(free_port()),
                OCBOOK_ENGINE_VENV=str(REPO / ".engine" / "venv"))


def launch(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(LAUNCHER), *args], env=env, capture_output=True, text=True,
                          timeout=180)


def leftovers(home: str) -> list[int]:
    """Processes of an engine home: engine and kinesis-local by command line, Lambda children by directory."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if home in cmdline or cwd.startswith(home):
            found.append(int(entry.name))
    return found


def test_start_is_idempotent_and_stop_leaves_nothing(engine_env):
    try:
        first = launch(engine_env, "start")
        assert first.returncode == 0 and "ready at" in first.stdout
        again = launch(engine_env, "start")
        assert again.returncode == 0 and "already running" in again.stdout
        status = launch(engine_env, "status")
        assert status.returncode == 0 and "MB RSS" in status.stdout and "MB PSS" in status.stdout
    finally:
        stopped = launch(engine_env, "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert launch(engine_env, "status").returncode == 1
    assert leftovers(engine_env["OCBOOK_ENGINE_HOME"]) == []


def test_killed_engine_takes_its_lambda_children_and_can_restart(engine_env):
    """kill -9 of the engine: function environments notice and exit; a new start works."""
    home, port = engine_env["OCBOOK_ENGINE_HOME"], engine_env["OCBOOK_ENGINE_PORT"]
    try:
        assert launch(engine_env, "start").returncode == 0
        lam = boto3.client("lambda", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        lam.create_function(FunctionName="child", Runtime="python3.12", Handler="probe.handlers.echo",
                            Role="arn:aws:iam::000000000000:role/any", Code={"ZipFile": ob.package.function_zip("probe")})
        lam.get_waiter("function_active_v2").wait(FunctionName="child")
        assert "FunctionError" not in lam.invoke(FunctionName="child", Payload=b"{}")
        children = [pid for pid in leftovers(home) if "lambda_runtime" in Path(f"/proc/{pid}/cmdline").read_text()]
        assert children, "a function environment process should be running"
        os.kill(int(Path(home, "localstack.pid").read_text()), signal.SIGKILL)
        ob.wait.poll(lambda: not any(Path(f"/proc/{pid}").exists() for pid in children), 10,
                     what="function environments to exit after the engine died")
        assert launch(engine_env, "status").returncode == 1
        restarted = launch(engine_env, "start")
        assert restarted.returncode == 0 and "ready at" in restarted.stdout
    finally:
        launch(engine_env, "stop")
    assert leftovers(home) == []


def test_port_taken_by_something_else_is_reported(engine_env):
    port = int(engine_env["OCBOOK_ENGINE_PORT"])

    class Teapot(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(418)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", port), Teapot)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = launch(engine_env, "start")
    finally:
        server.shutdown()
    assert result.returncode == 1
    assert f"port {port} is taken by something that is not LocalStack" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_python_313_gives_one_clear_message(engine_env, tmp_path):
    env = dict(engine_env, OCBOOK_ENGINE_VENV=str(tmp_path / "no-venv"), OCBOOK_ENGINE_PYTHON="",
               PYENV_ROOT=str(tmp_path / "no-pyenv"), PATH="/nonexistent")
    result = subprocess.run([sys.executable, str(LAUNCHER), "setup"], env=env, capture_output=True, text=True)
    assert result.returncode == 1
    assert "needs Python 3.13" in result.stderr and "pyenv install 3.13" in result.stderr
    assert "AWS_ENDPOINT_URL" in result.stderr and "Traceback" not in result.stderr


def test_engine_not_ready_in_time_shows_log_and_is_stopped(engine_env):
    env = dict(engine_env, OCBOOK_ENGINE_READY_TIMEOUT="0.05")
    result = launch(env, "start")
    assert result.returncode == 1
    assert "was not ready after" in result.stderr and "Last lines of" in result.stderr
    assert leftovers(env["OCBOOK_ENGINE_HOME"]) == []
