"""The launcher: idempotent start, status, stop that leaves nothing behind, isolation between engines, clear failures.

Each test runs its own engines on spare ports with temporary homes (the shared venv), so the engine under test
is not disturbed. What belongs to an engine is judged here from the outside (command line, working folder or
environment mentioning its home, listening sockets), independently of how the launcher itself decides.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import boto3
import psutil
import pytest

import ocbook as ob
from ocbook.paths import LAUNCHER, REPO

pytestmark = pytest.mark.skipif(bool(os.environ.get("AWS_ENDPOINT_URL")), reason="tests the embedded engine")
LOOPBACK = {"127.0.0.1", "::1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def env_for(home: Path, **extra: str) -> dict:
    """Environment for a launcher on a spare port with the given home and the shared venv."""
    return dict(os.environ, OCBOOK_ENGINE_HOME=str(home), OCBOOK_ENGINE_PORT=str(free_port()),
                OCBOOK_ENGINE_VENV=str(REPO / ".engine" / "venv"), **extra)


@pytest.fixture
def engine_env(tmp_path) -> dict:
    return env_for(tmp_path / "engine")


def launch(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(LAUNCHER), *args], env=env, capture_output=True, text=True,
                          timeout=180)


def started(env: dict) -> int:
    """Start an engine and return its pid (the process listening on its port)."""
    result = launch(env, "start")
    assert result.returncode == 0 and "ready at" in result.stdout, result.stdout + result.stderr
    return listener(int(env["OCBOOK_ENGINE_PORT"]))


def listener(port: int) -> int:
    """The pid of the process listening on 127.0.0.1:port."""
    for process in psutil.process_iter():
        try:
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in process.net_connections("tcp")):
                return process.pid
        except psutil.Error:
            continue
    raise AssertionError(f"nothing listens on port {port}")


def answers(env: dict) -> bool:
    return ob.endpoints.answers(f"http://127.0.0.1:{env['OCBOOK_ENGINE_PORT']}")


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def leftovers(home: str, spare: tuple[int, ...] = ()) -> list[int]:
    """Processes that mention an engine home in their command line, working folder or environment."""
    me = psutil.Process()
    skip = {me.pid, *(p.pid for p in me.parents()), *spare}
    found = []
    for process in psutil.process_iter():
        if process.pid in skip:
            continue
        try:
            text = " ".join([*process.cmdline(), process.cwd(), *process.environ().values()])
        except psutil.Error:
            continue
        if home in text:
            found.append(process.pid)
    return found


def bystander(home: Path) -> subprocess.Popen:
    """An unrelated process whose command line contains the home path (like `tail -f` of the log)."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", str(home), str(home / "logs")],
                            start_new_session=True)


def lambda_client(env: dict):
    return boto3.client("lambda", endpoint_url=f"http://127.0.0.1:{env['OCBOOK_ENGINE_PORT']}",
                        region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")


def probe_function(env: dict, handler: str) -> str:
    """Create a probe function on the given engine; return its name."""
    lam, name = lambda_client(env), handler.rsplit(".", 1)[-1].replace("_", "-")
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler=f"probe.handlers.{handler}",
                        Role="arn:aws:iam::000000000000:role/any", Code={"ZipFile": ob.package.function_zip("probe")})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    return name


def invoke(env: dict, name: str, event: dict) -> dict:
    answer = lambda_client(env).invoke(FunctionName=name, Payload=json.dumps(event).encode())
    assert "FunctionError" not in answer
    return json.loads(answer["Payload"].read())


def test_engines_of_one_checkout_never_touch_each_other_or_a_bystander(tmp_path):
    """Three engines: two sharing a home, one whose home has the first's as a prefix; and a `tail -f`-like process."""
    engines = {"first": env_for(tmp_path / "e"), "same home": env_for(tmp_path / "e"),
               "prefixed home": env_for(tmp_path / "e2")}
    first, others = engines["first"], [engines["same home"], engines["prefixed home"]]
    watcher = bystander(tmp_path / "e")
    try:
        pids = {name: started(env) for name, env in engines.items()}
        assert len(set(pids.values())) == 3 and all(answers(env) for env in engines.values())
        again = launch(first, "start")
        assert again.returncode == 0 and "already running" in again.stdout and "stopping" not in again.stdout
        status = launch(first, "status")
        assert status.returncode == 0 and "MB RSS" in status.stdout and "MB PSS" in status.stdout
        stopped = launch(first, "stop")
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        assert not alive(pids["first"]) and launch(first, "status").returncode == 1  # positive control
        assert all(answers(env) for env in others) and alive(watcher.pid)
        assert started(first) != pids["first"]  # starting one again leaves the others alone
        assert alive(pids["same home"]) and alive(pids["prefixed home"]) and all(answers(env) for env in others)
        for env in others:
            assert launch(env, "stop").returncode == 0
        assert answers(first) and alive(watcher.pid) and not alive(pids["same home"])
    finally:
        for env in engines.values():
            launch(env, "stop")
        alive_at_end = alive(watcher.pid)
        watcher.kill()
        watcher.wait()
    assert alive_at_end
    assert leftovers(str(tmp_path), spare=(watcher.pid,)) == []


def test_stale_state_never_signals_an_unrelated_process(engine_env):
    home, port = Path(engine_env["OCBOOK_ENGINE_HOME"]), engine_env["OCBOOK_ENGINE_PORT"]
    stranger = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        (home / "run" / port).mkdir(parents=True)
        (home / "localstack.pid").write_text(str(stranger.pid))  # the old launcher's pid file
        (home / "run" / port / "engine.json").write_text(json.dumps({   # right pid and start time, not an engine
            "pid": stranger.pid, "create_time": psutil.Process(stranger.pid).create_time(),
            "engine_id": f"{home}:{port}", "port": int(port), "home": str(home)}))
        assert launch(engine_env, "status").returncode == 1
        assert launch(engine_env, "stop").returncode == 0
        assert alive(stranger.pid)
        engine = started(engine_env)  # positive control: the launcher does start and stop its own engine
        assert launch(engine_env, "stop").returncode == 0 and not alive(engine)
        assert alive(stranger.pid)
    finally:
        stranger.kill()
        stranger.wait()


def test_kill_9_then_start_leaves_nothing_of_the_crashed_run(engine_env):
    """kill -9 of the engine: status names what it left behind; the next start ends it, says so, clears its files."""
    home = engine_env["OCBOOK_ENGINE_HOME"]
    try:
        engine = started(engine_env)
        orphan = invoke(engine_env, probe_function(engine_env, "spawn_detached"), {})["pid"]
        environments = [p.pid for p in psutil.Process(engine).children(recursive=True)]
        assert orphan in environments and alive(orphan)
        code_folders = list((Path(home) / "run" / engine_env["OCBOOK_ENGINE_PORT"] / "tmp" / "lambda").rglob("code"))
        assert code_folders, "the probe function's unpacked code"
        os.kill(engine, signal.SIGKILL)
        ob.wait.poll(lambda: not alive(engine), 10, what="the engine to die")
        status = launch(engine_env, "status")
        assert status.returncode == 1 and str(orphan) in status.stdout and "left behind" in status.stdout
        restarted = launch(engine_env, "start")
        assert restarted.returncode == 0 and "ready at" in restarted.stdout
        assert "left" in restarted.stdout and str(orphan) in restarted.stdout
        assert not any(alive(pid) for pid in environments)
        assert not any(folder.exists() for folder in code_folders)  # the crashed run's temporary files are gone
    finally:
        launch(engine_env, "stop")
    assert leftovers(home) == []


@pytest.fixture(scope="module")
def canary_engine(tmp_path_factory):
    """One engine started from a shell holding a secret-looking variable; stopped at the end of the module."""
    canary = f"canary-{uuid.uuid4()}"
    env = env_for(tmp_path_factory.mktemp("canary") / "engine", I13_CANARY_SECRET=canary)
    engine = started(env)
    yield env, engine, canary
    launch(env, "stop")


def test_function_cannot_read_the_engines_environment(canary_engine):
    env, engine, canary = canary_engine
    assert env["I13_CANARY_SECRET"] == canary  # it was in the environment that started the engine
    names = invoke(env, probe_function(env, "read_environ"), {"pid": engine})
    assert "GATEWAY_LISTEN" in names.get("names", []), names  # positive control: the read itself worked
    assert "I13_CANARY_SECRET" not in names["names"] and "AWS_ENDPOINT_URL" not in names["names"]


def test_engine_tree_listens_on_loopback_only(canary_engine):
    env, engine, _ = canary_engine
    port = int(env["OCBOOK_ENGINE_PORT"])
    kinesis = boto3.client("kinesis", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
    kinesis.create_stream(StreamName="loopback", ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName="loopback", WaiterConfig={"Delay": 0.2})
    kinesis.put_record(StreamName="loopback", Data=b"{}", PartitionKey="p")
    invoke(env, probe_function(env, "echo"), {})  # a function environment listens too
    listening = []
    for process in [psutil.Process(engine), *psutil.Process(engine).children(recursive=True)]:
        for conn in process.net_connections("inet"):
            if conn.status == psutil.CONN_LISTEN or (conn.type == socket.SOCK_DGRAM and not conn.raddr):
                listening.append((process.pid, process.name(), conn.laddr.ip, conn.laddr.port))
    assert (engine, psutil.Process(engine).name(), "127.0.0.1", port) in listening  # positive control
    assert len({pid for pid, *_ in listening}) >= 2, listening  # ... and a function environment's socket
    assert [entry for entry in listening if entry[2] not in LOOPBACK] == []


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


def test_explicit_python_that_is_not_313_is_refused(engine_env, tmp_path):
    env = dict(engine_env, OCBOOK_ENGINE_VENV=str(tmp_path / "no-venv"), OCBOOK_ENGINE_PYTHON=sys.executable)
    result = subprocess.run([sys.executable, str(LAUNCHER), "setup"], env=env, capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"OCBOOK_ENGINE_PYTHON={sys.executable} is Python 3.1" in result.stderr
    assert not (tmp_path / "no-venv").exists()


def test_setup_refuses_to_rebuild_a_venv_in_use(engine_env, tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    os.symlink(sys.executable, venv / "bin" / "python")
    user = subprocess.Popen([str(venv / "bin" / "python"), "-c", "import time; time.sleep(300)"])
    env = dict(engine_env, OCBOOK_ENGINE_VENV=str(venv))
    try:
        result = launch(env, "setup")
    finally:
        user.kill()
        user.wait()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"running processes use it (pid {user.pid})" in result.stderr
    assert (venv / "bin" / "python").exists()
    unused = launch(dict(env, OCBOOK_ENGINE_PYTHON=sys.executable), "setup")  # positive control: once nothing
    assert "running processes use it" not in unused.stderr and "OCBOOK_ENGINE_PYTHON" in unused.stderr  # uses it


def test_engine_not_ready_in_time_shows_log_and_is_stopped(engine_env):
    env = dict(engine_env, OCBOOK_ENGINE_READY_TIMEOUT="0.05")
    result = launch(env, "start")
    assert result.returncode == 1
    assert "was not ready after" in result.stderr and "Last lines of" in result.stderr
    assert leftovers(env["OCBOOK_ENGINE_HOME"]) == []
