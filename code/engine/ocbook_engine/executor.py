"""A LocalStack Lambda runtime executor that runs each function environment as a local child process.

Selected with ``LAMBDA_RUNTIME_EXECUTOR=local-process``. The child process
(``ocbook_engine.lambda_runtime``) plays the runtime side: it reports ready
through LocalStack's ``ExecutorEndpoint``, then answers each ``POST /invoke``
with the outcome and logs in the same HTTP exchange. This module also enforces
the function timeout, which the Go init would enforce in Docker, and reports
a child that dies mid-invocation the way Lambda does (``Runtime.ExitError``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import Future
from pathlib import Path

import requests
from localstack import config
from localstack.services.lambda_.invocation.executor_endpoint import ExecutorEndpoint
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import RuntimeExecutor
from localstack.utils.net import get_free_tcp_port

LOG = logging.getLogger(__name__)

SUPPORTED_RUNTIMES = ("python3.11", "python3.12", "python3.13")
LOCALHOST = "127.0.0.1"
STOP_GRACE_SECONDS = 2
# Environment the child inherits from the engine; everything else comes from Lambda's own variables.
INHERITED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


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


class LocalProcessExecutor(RuntimeExecutor):
    """One execution environment = one child Python process on 127.0.0.1."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.endpoint = ExecutorEndpoint(self.id, container_address=LOCALHOST)
        self.process: subprocess.Popen | None = None
        self.session = requests.Session()
        self.session.trust_env = False  # never through a proxy
        self.env_vars: dict[str, str] = {}
        self.log_path = Path(tempfile.gettempdir()) / "lambda-env-logs" / f"{id}.log"

    # lifecycle
    def start(self, env_vars: dict[str, str]) -> None:
        """Spawn the child and wait until it reports ready."""
        self.env_vars = env_vars
        self.endpoint.start()
        self.spawn()
        self.endpoint.wait_for_startup()

    def spawn(self) -> None:
        """Start the child process with the function's code and layers on its path."""
        code_dir = str(self.function_version.config.code.get_unzipped_code_location())
        port = get_free_tcp_port()
        self.endpoint.container_port = port
        engine_root = str(Path(__file__).resolve().parent.parent)
        env = {k: os.environ[k] for k in INHERITED_ENV if k in os.environ}
        env.update({k: str(v) for k, v in self.env_vars.items()})
        env.update({
            "LAMBDA_TASK_ROOT": code_dir,
            "OCBOOK_SYS_PATH": os.pathsep.join([code_dir, *layer_paths(self.function_version)]),
            "OCBOOK_INVOKE_PORT": str(port),
            "OCBOOK_PARENT_PID": str(os.getpid()),
            "PYTHONPATH": engine_root,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        })
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ocbook_engine.lambda_runtime"],
                cwd=code_dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        LOG.debug("Lambda environment %s started as pid %s on port %s", self.id, self.process.pid, port)

    def kill(self) -> None:
        """Stop the child and anything it started (its process group)."""
        self.session.close()
        if not self.process or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(STOP_GRACE_SECONDS)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        """Stop the environment."""
        self.kill()
        try:
            self.endpoint.shutdown()
        except Exception as exc:  # already unregistered
            LOG.debug("Endpoint shutdown for %s: %s", self.id, exc)
        self.log_path.unlink(missing_ok=True)

    def restart(self) -> None:
        """Replace a killed child with a fresh one (a new sandbox after a timeout, as on AWS)."""
        self.kill()
        self.endpoint.startup_future = Future()
        self.spawn()
        self.endpoint.wait_for_startup()

    # invocation
    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        """Send one invocation and wait for its answer; kill the child when it runs past the timeout."""
        if self.process is None or self.process.poll() is not None:
            self.restart()
        request_id = payload["invoke-id"]
        timeout = float(self.function_version.config.timeout)
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        url = f"http://{LOCALHOST}:{self.endpoint.container_port}/invoke"
        try:
            answer = self.session.post(url, json=payload, timeout=(5, timeout)).json()
        except requests.exceptions.ReadTimeout:
            self.kill()
            return InvocationResult(request_id, timeout_body(request_id, timeout), is_error=True,
                                    logs=self.printed_since(log_offset) + self.end_lines(request_id, timeout, "timeout"))
        except (requests.exceptions.ConnectionError, ValueError):
            code = self.process.wait(STOP_GRACE_SECONDS) if self.process else None
            body = json.dumps({"errorType": "Runtime.ExitError",
                               "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: "
                                               f"exit status {code}"}).encode()
            return InvocationResult(request_id, body, is_error=True,
                                    logs=self.printed_since(log_offset) + self.end_lines(request_id, 0, "error"))
        return InvocationResult(request_id, answer["body"].encode(), is_error=answer["outcome"] == "error",
                                logs=answer["logs"])

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
