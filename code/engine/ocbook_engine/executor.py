"""A LocalStack Lambda runtime executor that runs each function environment as a local process.

Selected with ``LAMBDA_RUNTIME_EXECUTOR=local-process``. A zygote per Python
runtime (``zygote.py``, a child of the engine) has imported what AWS's runtime
provides and forks one process per environment, in milliseconds. That process
(``lambda_runtime``) plays the runtime side: it reports ready through
LocalStack's ``ExecutorEndpoint``, then answers each ``POST /invoke`` with the
outcome and logs in the same HTTP exchange. This module also enforces the
function timeout, which the Go init would enforce in Docker, and reports an
environment that dies mid-invocation the way Lambda does (``Runtime.ExitError``).

The module path of an environment is AWS's: the function's code, its layers,
the runtime's own packages (a folder of links to the engine venv's boto3,
botocore and their dependencies, nothing else), the standard library.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import requests
from localstack import config
from localstack.services.lambda_.invocation.executor_endpoint import ExecutorEndpoint
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import RuntimeExecutor
from localstack.utils.net import get_free_tcp_port
from urllib3.exceptions import NewConnectionError

from ocbook_engine.xray import daemon_address
from ocbook_engine.zygote import build_runtime_site

LOG = logging.getLogger(__name__)

SUPPORTED_RUNTIMES = ("python3.11", "python3.12", "python3.13")
LOCALHOST = "127.0.0.1"
STOP_GRACE_SECONDS = 2
FORK_TIMEOUT_SECONDS = 30  # a new zygote imports boto3 first (about a second on a loaded machine)
# Environment an environment inherits from the engine; everything else comes from Lambda's own variables.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
ZYGOTE_SCRIPT = Path(__file__).with_name("zygote.py")


class ZygoteGone(RuntimeError):
    """The zygote ended before it forked what was asked of it."""


class UnsupportedRuntime(Exception):
    """A function runtime the local-process executor cannot run."""

    @staticmethod
    def message(runtime: str | None) -> str:
        """What to tell the person who asked for the runtime."""
        return (f"runtime '{runtime}' is not supported by the book's local-process Lambda executor; use one of "
                f"{', '.join(SUPPORTED_RUNTIMES)} (or run LocalStack with Docker for other runtimes)")


def check_runtime(function_version: FunctionVersion) -> None:
    """Refuse anything but the Python runtimes we support (the provider already refuses them at create time)."""
    runtime = function_version.config.runtime
    if runtime not in SUPPORTED_RUNTIMES:
        raise UnsupportedRuntime("InvalidParameterValueException: " + UnsupportedRuntime.message(runtime))


def xray_env() -> dict[str, str]:
    """Where the function's X-Ray SDK sends segments: the engine's daemon endpoint (LocalStack says :2000)."""
    host, port = daemon_address().rsplit(":", 1)
    return {"AWS_XRAY_DAEMON_ADDRESS": f"{host}:{port}", "_AWS_XRAY_DAEMON_ADDRESS": host,
            "_AWS_XRAY_DAEMON_PORT": port}


def layer_paths(function_version: FunctionVersion) -> list[str]:
    """Folders each layer contributes to sys.path, in Lambda's order (site-packages before python/)."""
    paths = []
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for layer in function_version.config.layers or []:
        layer.code.prepare_for_execution()
        root = Path(layer.code.get_unzipped_code_location())
        for candidate in (root / "python" / "lib" / version / "site-packages", root / "python"):
            if candidate.is_dir():
                paths.append(str(candidate))
    return paths


def timeout_body(request_id: str, seconds: float) -> bytes:
    """The error payload Lambda returns when a function times out."""
    return json.dumps({
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {seconds:.2f} seconds",
    }).encode()


class ZygoteProcess:
    """One running zygote: ask it to fork, hear about exits; when it ends, whatever waits on it is released."""

    def __init__(self, runtime: str) -> None:
        self.runtime = runtime
        self.lock = threading.Lock()
        self.started: dict[str, Future] = {}  # request token -> pid
        self.exits: dict[int, Future] = {}  # pid -> exit code
        temp = Path(tempfile.gettempdir())
        # The folder's name says what the processes are (the launcher's tests look for "lambda_runtime").
        site = build_runtime_site(temp / "lambda_runtime-site" / runtime)
        env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
        log_path = temp / "lambda-env-logs" / f"zygote-{runtime}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-u", "-B", str(ZYGOTE_SCRIPT), str(site)], cwd=temp, env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        threading.Thread(target=self.listen, name=f"zygote-{runtime}", daemon=True).start()
        LOG.debug("Zygote for %s started as pid %s", runtime, self.process.pid)

    def alive(self) -> bool:
        return self.process.poll() is None

    def listen(self) -> None:
        """Read the zygote's answers until it ends; then fail whatever still waits on it."""
        for line in self.process.stdout:
            message = json.loads(line)
            with self.lock:
                if "token" in message:
                    self.exits[message["pid"]] = Future()
                    self.started.pop(message["token"]).set_result(message["pid"])
                elif future := self.exits.pop(message["exited"], None):
                    future.set_result(message["status"])
        code = self.process.wait()
        with self.lock:
            for future in self.started.values():
                future.set_exception(ZygoteGone(f"the {self.runtime} zygote exited with {code}"))
            for future in self.exits.values():
                future.set_result(None)  # its children die with it (PR_SET_PDEATHSIG)
            self.started.clear()
            self.exits.clear()

    def fork(self, spec: dict) -> tuple[int, Future]:
        """A new environment from a spec; returns its pid and a future of its exit code."""
        token = uuid.uuid4().hex
        with self.lock:
            self.started[token] = started = Future()
            try:
                self.process.stdin.write(json.dumps({**spec, "token": token}).encode() + b"\n")
                self.process.stdin.flush()
            except (BrokenPipeError, ValueError) as exc:  # it died (or was stopped) since it was last seen
                self.started.pop(token, None)
                raise ZygoteGone(f"the {self.runtime} zygote is gone: {exc}") from exc
        pid = started.result(FORK_TIMEOUT_SECONDS)
        with self.lock:
            return pid, self.exits.get(pid) or done_future(None)

    def stop(self) -> None:
        """End the zygote (it kills its environments when its input closes)."""
        if self.alive():
            self.process.stdin.close()
            try:
                self.process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Zygote:
    """The zygote of one runtime, started on first use and again if it died."""

    def __init__(self, runtime: str) -> None:
        self.runtime = runtime
        self.lock = threading.Lock()
        self.current: ZygoteProcess | None = None

    def fork(self, spec: dict) -> tuple[int, Future]:
        """A new environment (see ZygoteProcess.fork); a zygote that died meanwhile is replaced once."""
        process = self.running()
        try:
            return process.fork(spec)
        except ZygoteGone:
            process.process.wait(STOP_GRACE_SECONDS)  # then running() sees it ended and starts a new one
            return self.running().fork(spec)

    def running(self) -> ZygoteProcess:
        """The running zygote process, started now if there is none (it preloads while requests queue)."""
        with self.lock:
            if self.current and not self.current.alive():
                LOG.warning("The %s zygote exited with %s; starting a new one",
                            self.runtime, self.current.process.returncode)
                self.current = None
            if self.current is None:
                self.current = ZygoteProcess(self.runtime)
            return self.current


def never_delivered(exc: requests.exceptions.ConnectionError) -> bool:
    """Whether a failed POST never reached the other side (nothing listened on the port)."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError) or isinstance(exc.__context__, ConnectionRefusedError)


def done_future(value) -> Future:
    """A future that already holds a value."""
    future = Future()
    future.set_result(value)
    return future


ZYGOTES: dict[str, Zygote] = {}
ZYGOTES_LOCK = threading.Lock()


def zygote_for(runtime: str) -> Zygote:
    """The zygote of one runtime (created on first use)."""
    with ZYGOTES_LOCK:
        if runtime not in ZYGOTES:
            ZYGOTES[runtime] = Zygote(runtime)
        return ZYGOTES[runtime]


class LocalProcessExecutor(RuntimeExecutor):
    """One execution environment = one process forked by its runtime's zygote, answering on 127.0.0.1."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.endpoint = ExecutorEndpoint(self.id, container_address=LOCALHOST)
        self.pid: int | None = None
        self.exited: Future = done_future(None)  # the environment's exit code, once it has ended
        self.session = requests.Session()
        self.session.trust_env = False  # never through a proxy
        self.env_vars: dict[str, str] = {}
        temp = Path(tempfile.gettempdir())
        self.log_path = temp / "lambda-env-logs" / f"{id}.log"
        self.tmp_dir = temp / "lambda-env-tmp" / id  # the environment's own /tmp, as each Lambda sandbox has

    # lifecycle
    def start(self, env_vars: dict[str, str]) -> None:
        """Fork the environment and wait until it reports ready."""
        self.env_vars = env_vars
        self.endpoint.start()
        self.spawn()
        self.endpoint.wait_for_startup()

    def spawn(self) -> None:
        """Have the zygote fork an environment with the function's code, layers, variables and folder."""
        code_dir = str(self.function_version.config.code.get_unzipped_code_location())
        port = get_free_tcp_port()
        self.endpoint.container_port = port
        shutil.rmtree(self.tmp_dir, ignore_errors=True)  # a new sandbox starts with an empty /tmp
        self.tmp_dir.mkdir(parents=True)
        env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
        env.update({k: str(v) for k, v in self.env_vars.items()})
        env.update({"LAMBDA_TASK_ROOT": code_dir, "TMPDIR": str(self.tmp_dir)})
        env.update(xray_env())
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        spec = {"cwd": code_dir, "env": env, "sys_path": [code_dir, *layer_paths(self.function_version)],
                "log": str(self.log_path), "port": port, "tmpdir": str(self.tmp_dir),
                "pycache": str(self.log_path.parent.parent / "lambda-pycache")}
        self.pid, self.exited = zygote_for(self.function_version.config.runtime).fork(spec)
        LOG.debug("Lambda environment %s forked as pid %s on port %s", self.id, self.pid, port)

    def alive(self) -> bool:
        """Whether the environment's process is still running."""
        return self.pid is not None and not self.exited.done()

    def exit_code(self, wait: float) -> int | None:
        """The environment's exit code, waiting up to `wait` seconds; None if it still runs."""
        try:
            return self.exited.result(wait)
        except FutureTimeout:
            return None

    def kill(self) -> None:
        """Stop the environment and anything it started (its process group)."""
        self.session.close()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not self.alive():
                return
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                return
            self.exit_code(STOP_GRACE_SECONDS)
        if self.alive():
            LOG.warning("Lambda environment %s (pid %s) did not exit after SIGKILL", self.id, self.pid)

    def stop(self) -> None:
        """Stop the environment and remove its log and temporary folder."""
        self.kill()
        try:
            self.endpoint.shutdown()
        except Exception as exc:  # already unregistered
            LOG.debug("Endpoint shutdown for %s: %s", self.id, exc)
        self.log_path.unlink(missing_ok=True)
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def restart(self) -> None:
        """Replace a killed environment with a fresh one (a new sandbox after a timeout, as on AWS)."""
        self.kill()
        self.endpoint.startup_future = Future()
        self.spawn()
        self.endpoint.wait_for_startup()

    # invocation
    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        """Send one invocation and wait for its answer; kill the environment when it runs past the timeout."""
        if not self.alive():
            self.restart()
        request_id = payload["invoke-id"]
        timeout = float(self.function_version.config.timeout)
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        try:
            answer = self.post(payload, timeout)
        except requests.exceptions.ReadTimeout:
            self.kill()
            return InvocationResult(request_id, timeout_body(request_id, timeout), is_error=True,
                                    logs=self.printed_since(log_offset)
                                    + self.end_lines(request_id, timeout, "timeout"))
        except (requests.exceptions.RequestException, ValueError) as exc:
            # No answer, or not JSON: the environment died, or is alive but broken (then it is ended here, so
            # the next invocation gets a fresh one, and nothing is left waiting on a process that still runs).
            code = self.exit_code(STOP_GRACE_SECONDS)
            if code is None:
                self.kill()
                code = self.exit_code(0)
            LOG.warning("Lambda environment %s (pid %s) gave no answer to %s (%s: %s); exit status %s",
                        self.id, self.pid, request_id, type(exc).__name__, exc, code)
            body = json.dumps({"errorType": "Runtime.ExitError",
                               "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                                               f"exit status {code}"}).encode()
            return InvocationResult(request_id, body, is_error=True,
                                    logs=self.printed_since(log_offset) + self.end_lines(request_id, 0, "error"))
        return InvocationResult(request_id, answer["body"].encode(), is_error=answer["outcome"] == "error",
                                logs=answer["logs"])

    def post(self, payload: dict[str, str], timeout: float) -> dict:
        """POST the invocation; an environment that died before it accepted the request is replaced first.

        Each invocation opens its own connection (a kept-alive one to a process that has since died fails
        ambiguously), so a refused connection means the request never reached a handler, e.g. the environment
        died with its zygote between two invocations; Lambda would have placed the call on a live environment.
        """
        for attempt in (1, 2):
            url = f"http://{LOCALHOST}:{self.endpoint.container_port}/invoke"
            try:
                return self.session.post(url, json=payload, timeout=(5, timeout),
                                         headers={"Connection": "close"}).json()
            except requests.exceptions.ConnectionError as exc:
                if attempt == 2 or not never_delivered(exc):
                    raise
                self.restart()
        raise AssertionError("unreachable")

    def printed_since(self, offset: int) -> str:
        """What the environment printed since an offset of its log (the child mirrors its output there)."""
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return log.read(1024 * 1024).decode(errors="replace")

    @staticmethod
    def end_lines(request_id: str, seconds: float, status: str) -> str:
        """The END and REPORT lines Lambda writes for an invocation that did not return."""
        return (f"\nEND RequestId: {request_id}\n"
                f"REPORT RequestId: {request_id}\tDuration: {seconds * 1000:.2f} ms\tStatus: {status}\n")

    # addresses
    def get_address(self) -> str:
        return LOCALHOST

    def get_endpoint_from_executor(self) -> str:
        return LOCALHOST

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        return f"http://{LOCALHOST}:{port}{self.endpoint.get_endpoint_prefix()}"

    def get_logs(self) -> str:
        """The environment's own output (crashes before a handler ran show up here)."""
        try:
            return self.log_path.read_text(errors="replace")[-20000:]
        except FileNotFoundError:
            return ""

    # versions
    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        """Check the runtime and unpack the code (the function goes to Failed with our message otherwise)."""
        check_runtime(function_version)
        zygote_for(function_version.config.runtime).running()  # it imports boto3 while the function becomes Active
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()
        layer_paths(function_version)

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing to clean: LocalStack removes unpacked code itself."""

    @classmethod
    def validate_environment(cls) -> bool:
        return Path(sys.executable).exists()


class LocalProcessExecutorPlugin(RuntimeExecutorPlugin):
    """Registers LocalProcessExecutor as LAMBDA_RUNTIME_EXECUTOR=local-process."""

    name = "local-process"

    def load(self, *args, **kwargs):
        return LocalProcessExecutor
