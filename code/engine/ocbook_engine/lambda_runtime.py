"""The Lambda runtime inside one function environment (a child process of the engine).

It plays the part that LocalStack's Go "runtime init" plays inside a Docker
container: it loads the handler, reports ``/status/<id>/ready`` to LocalStack's
executor endpoint, and takes invocations on ``POST /invoke``. Unlike the Go
init, which reports each outcome with two more callbacks through LocalStack's
gateway (``/invocations/<id>/logs`` then ``/response`` or ``/error``), it
answers the ``/invoke`` request itself with ``{"outcome", "body", "logs"}``:
one round trip instead of three (measured: warm invoke 44 ms -> see bench).
Stdlib only: it runs inside the zygote (``zygote.py``), whose module path
holds only what AWS's Python runtime provides; each forked child calls
``run``.
"""

from __future__ import annotations

import functools
import http.client
import importlib
import io
import json
import logging
import os
import socket
import sys
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

LOG_LIMIT_BYTES = 1024 * 1024
REPORT_FORMAT = (
    "REPORT RequestId: {rid}\tDuration: {ms:.2f} ms\tBilled Duration: {billed} ms\t"
    "Memory Size: {mem} MB\tMax Memory Used: {used} MB\t"
)


class CappedBuffer(io.TextIOBase):
    """A text sink that keeps at most LOG_LIMIT_BYTES and counts what it drops."""

    def __init__(self, mirror):
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0
        self.mirror = mirror

    def write(self, text: str) -> int:
        self.mirror.write(text)
        room = LOG_LIMIT_BYTES - self.size
        if room <= 0:
            self.dropped += len(text)
        else:
            kept = text[:room]
            self.parts.append(kept)
            self.size += len(kept)
            self.dropped += len(text) - len(kept)
        return len(text)

    def flush(self) -> None:
        self.mirror.flush()

    def getvalue(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n[engine] log output truncated: {self.dropped} characters dropped\n"
        return text


class LambdaContext:
    """The context object handed to a Python handler, as on AWS."""

    def __init__(self, request_id: str, invoked_arn: str, deadline: float):
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function times out."""
        return max(0, int((self._deadline - time.time()) * 1000))


def post(url: str, body: bytes) -> None:
    """POST JSON to LocalStack's executor endpoint.

    TCP_NODELAY: http.client writes headers and body separately, and without it
    Nagle's algorithm meets the server's delayed ACK (~40 ms per request).
    """
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port or 80, timeout=30)
    try:
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.request("POST", parsed.path, body=body, headers={"Content-Type": "application/json"})
        connection.getresponse().read()
    finally:
        connection.close()


class RequestIdFilter(logging.Filter):
    """Adds the current request id to log records, like the AWS runtime."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


def peak_memory_mb() -> int:
    """Peak resident memory of this process (VmHWM; ru_maxrss would include the engine's pre-exec copy)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


@functools.cache
def malloc_trim():
    """glibc's malloc_trim, looked up once; None where there is none."""
    try:
        import ctypes

        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def release_free_memory() -> None:
    """Hand the pages malloc keeps free back to the system (glibc only; elsewhere nothing happens)."""
    if trim := malloc_trim():
        trim(0)


def error_body(error_type: str, message: str, stack: list[str] | None = None) -> dict:
    """An error in the shape Lambda reports it."""
    return {"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}


def exception_body(exc: BaseException) -> dict:
    """Lambda's error shape for an exception raised by the handler."""
    frames = traceback.extract_tb(exc.__traceback__)[1:]  # drop our own frame
    stack = traceback.format_list(frames)
    return error_body(type(exc).__name__, str(exc), stack)


def load_handler(handler: str):
    """Import 'module.function' (module may be dotted or a path) and return the function."""
    module_name, _, function_name = handler.rpartition(".")
    if not module_name or not function_name:
        raise HandlerError("Runtime.MalformedHandlerName", f"Bad handler '{handler}': expected 'module.function'")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise HandlerError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}") from exc
    except SyntaxError as exc:
        raise HandlerError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}") from exc
    except Exception as exc:  # an error at import time of user code
        raise HandlerError(type(exc).__name__, str(exc), exception_body(exc)["stackTrace"]) from exc
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise HandlerError("Runtime.HandlerNotFound",
                           f"Handler '{function_name}' missing on module '{module_name}'") from None


class HandlerError(Exception):
    """An error of the runtime itself (bad handler, import failure)."""

    def __init__(self, error_type: str, message: str, stack: list[str] | None = None):
        super().__init__(message)
        self.body = error_body(error_type, message, stack)


class Runtime:
    """One function environment: load the handler once, then run invocations one at a time."""

    def __init__(self, env: dict[str, str]):
        self.endpoint = env["LOCALSTACK_RUNTIME_ENDPOINT"]
        self.runtime_id = env["LOCALSTACK_RUNTIME_ID"]
        self.timeout = float(env.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
        self.memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.request_filter = RequestIdFilter()
        self.init_logs = ""
        self.init_ms: float | None = None  # reported once, on the first REPORT line, as AWS does after a cold start
        self.handler = None
        self.init_error: dict | None = None
        self.real_stdout = sys.stdout

    def post(self, path: str, body: bytes) -> None:
        """POST to LocalStack's executor endpoint (only the ready signal uses it)."""
        post(self.endpoint + path, body)

    def setup_logging(self) -> None:
        """Route the root logger to stdout in the AWS format (its level stays WARNING, as on AWS)."""
        logging.Formatter.converter = time.gmtime
        logging.getLogger().addHandler(StdoutHandler(self.request_filter))

    def init(self, handler_name: str) -> None:
        """Import the handler, capturing what the import prints."""
        started = time.perf_counter()
        buffer = CappedBuffer(self.real_stdout)
        sys.stdout = sys.stderr = buffer
        try:
            self.handler = load_handler(handler_name)
        except HandlerError as exc:
            self.init_error = exc.body
            print(f"[ERROR] {exc.body['errorType']}: {exc.body['errorMessage']}")
        finally:
            sys.stdout, sys.stderr = self.real_stdout, sys.__stderr__
        self.init_logs = buffer.getvalue()
        self.init_ms = (time.perf_counter() - started) * 1000

    def run_one(self, job: dict) -> dict:
        """Run one invocation; return its outcome ('response' or 'error'), body and logs."""
        rid = job["invoke-id"]
        self.request_filter.request_id = rid
        os.environ["_X_AMZN_TRACE_ID"] = job.get("trace-id") or ""
        buffer = CappedBuffer(self.real_stdout)
        buffer.write(self.init_logs)
        self.init_logs = ""
        buffer.write(f"START RequestId: {rid} Version: {self.version}\n")
        started = time.time()
        sys.stdout = sys.stderr = buffer
        try:
            outcome, body = self.outcome(job, started)
        finally:
            sys.stdout, sys.stderr = self.real_stdout, sys.__stderr__
        elapsed_ms = (time.time() - started) * 1000
        buffer.write(f"END RequestId: {rid}\n")
        report = REPORT_FORMAT.format(rid=rid, ms=elapsed_ms, billed=int(elapsed_ms) + 1, mem=self.memory,
                                      used=peak_memory_mb())
        if self.init_ms is not None:
            report += f"Init Duration: {self.init_ms:.2f} ms\t"
            self.init_ms = None
        buffer.write(report + "\n")
        buffer.flush()
        return {"outcome": outcome, "body": body.decode(), "logs": buffer.getvalue()}

    def outcome(self, job: dict, started: float) -> tuple[str, bytes]:
        """Call the handler; return ('response' | 'error', body)."""
        if self.init_error:
            return "error", json.dumps(self.init_error).encode()
        try:
            event = json.loads(job.get("payload") or "null")
        except ValueError as exc:
            body = error_body("Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}")
            return "error", json.dumps(body).encode()
        context = LambdaContext(job["invoke-id"], job.get("invoked-function-arn", ""), started + self.timeout)
        try:
            result = self.handler(event, context)
        except Exception as exc:  # the handler's own error, reported like AWS does
            body = exception_body(exc)
            print(f"[ERROR] {body['errorType']}: {body['errorMessage']}\nTraceback (most recent call last):\n"
                  + "".join(body["stackTrace"]))
            return "error", json.dumps(body).encode()
        try:
            return "response", json.dumps(result).encode()
        except (TypeError, ValueError) as exc:
            body = error_body("Runtime.MarshalError", f"Unable to marshal response: {exc}")
            print(f"[ERROR] Runtime.MarshalError: {body['errorMessage']}")
            return "error", json.dumps(body).encode()

    def serve(self, port: int) -> None:
        """Accept invocations on 127.0.0.1:port and run them in this (main) thread, one at a time."""
        runtime = self

        class InvokeHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: the executor reuses its connection
            disable_nagle_algorithm = True  # headers and body are separate writes

            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                answer = json.dumps(runtime.run_one(json.loads(self.rfile.read(length)))).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                self.wfile.flush()
                release_free_memory()  # between invocations, where AWS would freeze the environment

            def log_message(self, *args):
                pass

        # One thread: the executor sends one invocation at a time over one kept-alive connection, and the
        # handler runs in the main thread (where signals arrive). Each extra thread cost an environment ~0.5 MB.
        server = HTTPServer(("127.0.0.1", port), InvokeHandler)
        self.post(f"/status/{self.runtime_id}/ready", b"{}")
        server.serve_forever()


class StdoutHandler(logging.Handler):
    """Writes records to whatever sys.stdout is at emit time (the invocation's buffer)."""

    def __init__(self, request_filter: RequestIdFilter):
        super().__init__()
        self.setFormatter(logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S"))
        self.addFilter(request_filter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record))
        except Exception:  # logging must never break an invocation
            self.handleError(record)


def run(env: dict[str, str], port: int) -> None:
    """Serve one function environment (the zygote's forked child has already set its path and variables)."""
    runtime = Runtime(env)
    runtime.setup_logging()
    runtime.init(env["_HANDLER"])
    runtime.serve(port)
