"""Start, stop and inspect the book's embedded LocalStack (stdlib only; runs under any Python >= 3.9).

    python code/engine/ocbook_engine/launcher.py setup|start|stop|status|logs|bench|env

Everything the engine writes stays under ``.engine/`` at the top of the
repository: its venv, state, temp files, caches and log.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ENGINE_SRC = Path(__file__).resolve().parents[1]
REPO = ENGINE_SRC.parents[1]
HOME = Path(os.environ.get("OCBOOK_ENGINE_HOME", REPO / ".engine"))
VENV = Path(os.environ.get("OCBOOK_ENGINE_VENV", HOME / "venv"))
LOG_FILE = HOME / "logs" / "localstack.log"
PID_FILE = HOME / "localstack.pid"
STAMP = VENV / ".ocbook-stamp"
HOST = "127.0.0.1"
PORT = int(os.environ.get("OCBOOK_ENGINE_PORT", "4566"))
ENDPOINT = f"http://{HOST}:{PORT}"
READY_TIMEOUT = float(os.environ.get("OCBOOK_ENGINE_READY_TIMEOUT", "90"))
# Idle function environments are stopped after this long (AWS keeps them for minutes too; memory matters here).
DEFAULT_KEEPALIVE_MS = "60000"
# The services the book uses. CloudWatch is left out on purpose: with it, every Lambda invoke publishes a
# metric through the gateway (warm invoke measured 34 ms with it, 25 ms without). Override with SERVICES.
DEFAULT_SERVICES = ("s3,sqs,sns,events,lambda,logs,dynamodb,dynamodbstreams,kinesis,stepfunctions,iam,sts,"
                    "apigateway")


class EngineError(Exception):
    """A problem the person running the engine can act on; the message says how."""


def say(message: str) -> None:
    """Print a launcher message."""
    print(f"[engine] {message}", flush=True)


# ---------------------------------------------------------------- Python 3.13 and the venv
def python313_candidates() -> list[str]:
    """Places a Python 3.13 interpreter may be found, most explicit first."""
    found = [os.environ.get("OCBOOK_ENGINE_PYTHON", "")]
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    found += sorted((str(p) for p in Path(pyenv_root, "versions").glob("3.13*/bin/python3.13")), reverse=True)
    found += [shutil.which("python3.13") or "", "/usr/bin/python3.13", "/usr/local/bin/python3.13"]
    return [c for c in found if c]


def is_python313(candidate: str) -> bool:
    """True if the interpreter runs and is 3.13."""
    try:
        out = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.stdout.strip() == "True"


def find_python313() -> str:
    """The first working Python 3.13, or a message saying how to get one."""
    for candidate in python313_candidates():
        if is_python313(candidate):
            return candidate
    raise EngineError(
        "the embedded LocalStack needs Python 3.13 (localstack-core 2026.3.0 requires it) and none was found.\n"
        "  Get one with `pyenv install 3.13` or your distribution's python3.13 package, or point\n"
        "  OCBOOK_ENGINE_PYTHON at an interpreter. Alternatively, start any LocalStack yourself\n"
        "  (e.g. the Docker image) on localhost:4566 or set AWS_ENDPOINT_URL: the book then uses it.")


def fingerprint(name: str) -> str:
    """A hash of one file the venv is built from."""
    return hashlib.sha256((ENGINE_SRC / name).read_bytes()).hexdigest()


def venv_python() -> Path:
    """The engine venv's interpreter."""
    return VENV / "bin" / "python"


def run_logged(cmd: list[str], what: str, env: dict | None = None) -> None:
    """Run a setup step; on failure show the tail of its output."""
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-25:])
        raise EngineError(f"{what} failed (exit {result.returncode}):\n{tail}")


def read_stamps() -> dict:
    """What the venv was built from (empty if there is no usable venv)."""
    try:
        stamps = json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return {}
    return stamps if isinstance(stamps, dict) and venv_python().exists() else {}


LOCK = "requirements.lock"  # every package of the engine venv, exact versions (`make lock` regenerates it)


def installer() -> list[str]:
    """uv from the book's venv (fast), else pip; both install from the same lock file."""
    uv = Path(sys.executable).parent / "uv"
    if uv.exists():
        return [str(uv), "pip", "install", "-q", "--python", str(venv_python())]
    return [str(venv_python()), "-m", "pip", "install", "--disable-pip-version-check", "-q"]


def create_venv(python: str) -> None:
    """An empty venv for the engine (uv's is made in a fraction of a second; pip's needs ensurepip)."""
    uv = Path(sys.executable).parent / "uv"
    if uv.exists():
        run_logged([str(uv), "venv", "-q", "--seed", "--python", python, str(VENV)], "creating the engine venv")
    else:
        run_logged([python, "-m", "venv", str(VENV)], "creating the engine venv")


def setup() -> None:
    """Create the engine venv from the lock file, (re)install our plugins, pre-install kinesis-local."""
    stamps = read_stamps()
    if stamps.get(LOCK) != fingerprint(LOCK):
        python = find_python313()
        say(f"creating the engine venv in {VENV} with {python} (first use, or {LOCK} changed)")
        if VENV.exists():
            shutil.rmtree(VENV)
        create_venv(python)
        run_logged(installer() + ["-r", str(ENGINE_SRC / LOCK)], "installing localstack-core from the lock file")
        install_kinesis_local()
        stamps = {LOCK: fingerprint(LOCK)}
        STAMP.write_text(json.dumps(stamps))
    if stamps.get("pyproject.toml") != fingerprint("pyproject.toml"):
        run_logged(installer() + ["--no-deps", "-e", str(ENGINE_SRC)], "installing the book's engine plugins")
        stamps["pyproject.toml"] = fingerprint("pyproject.toml")
        STAMP.write_text(json.dumps(stamps))
        say("engine venv ready")


def install_kinesis_local() -> None:
    """Install kinesis-local now (LocalStack would fetch it from npm on first Kinesis call)."""
    if not shutil.which("npm"):
        say("npm not found: Kinesis will not work until Node.js and npm are installed")
        return
    code = "from localstack.services.kinesis.packages import kinesismock_package as p; p.install()"
    run_logged([str(venv_python()), "-c", code], "installing kinesis-local from npm", env=engine_env())


# ---------------------------------------------------------------- settings
def time_scale() -> str:
    """OCBOOK_TIME_SCALE checked here, so a bad value stops the start with one line (see clock.py)."""
    try:
        from ocbook_engine import clock
    except ImportError:  # run as a script: this file's folder is on sys.path
        import clock
    try:
        return repr(clock.scale())
    except ValueError as exc:
        raise EngineError(str(exc)) from None


def engine_env() -> dict[str, str]:
    """The environment the engine runs with (see README: 'Engine settings')."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LOCALSTACK_"))}
    for sub in ("state", "tmp", "cache", "logs"):
        (HOME / sub).mkdir(parents=True, exist_ok=True)
    env.update({
        "OVERRIDE_IN_DOCKER": "0",
        "FILESYSTEM_ROOT": str(HOME / "state"),
        "TMPDIR": str(HOME / "tmp"),
        "XDG_CACHE_HOME": str(HOME / "cache"),
        "GATEWAY_LISTEN": f"{HOST}:{PORT}",
        "GATEWAY_SERVER": "hypercorn",
        "LOCALSTACK_HOST": f"{HOST}:{PORT}",
        "SQS_ENDPOINT_STRATEGY": "path",
        "DNS_ADDRESS": "0",
        "DISABLE_EVENTS": "1",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        "KINESIS_LATENCY": "0",
        "LAMBDA_RUNTIME_EXECUTOR": "local-process",
        "PROVIDER_OVERRIDE_DYNAMODB": "moto",
        "PROVIDER_OVERRIDE_DYNAMODBSTREAMS": "moto",
        "PROVIDER_OVERRIDE_S3": "local-tmp",
        "PROVIDER_OVERRIDE_LAMBDA": "local-process",
        "PROVIDER_OVERRIDE_EVENTS": "ocbook",
        "OCBOOK_TIME_SCALE": time_scale(),
        "LAMBDA_KEEPALIVE_MS": os.environ.get("LAMBDA_KEEPALIVE_MS", DEFAULT_KEEPALIVE_MS),
        "SERVICES": os.environ.get("SERVICES", DEFAULT_SERVICES),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


# ---------------------------------------------------------------- probing
def health(endpoint: str = ENDPOINT, timeout: float = 2.0) -> dict | None:
    """LocalStack's health document, or None if nothing LocalStack-like answers."""
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=timeout) as response:
            doc = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and "services" in doc else None


def port_in_use(port: int = PORT) -> bool:
    """True if something accepts connections on the port."""
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((HOST, port)) == 0


def read_pid() -> int | None:
    """The pid of the engine we started, if it is still alive."""
    try:
        pid = int(PID_FILE.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def log_tail(lines: int = 30) -> str:
    """The last lines of the engine log."""
    if not LOG_FILE.exists():
        return "(no log yet)"
    return "\n".join(LOG_FILE.read_text(errors="replace").splitlines()[-lines:])


# ---------------------------------------------------------------- commands
def start() -> bool:
    """Start the engine in the background and wait until ready; True if this call started it."""
    if read_pid() and health():
        say(f"already running at {ENDPOINT} (pid {read_pid()}); log: {LOG_FILE}")
        return False
    if read_pid():  # alive but not answering: a crashed or hung run
        say("a previous engine process is not answering; stopping it first")
        stop()
    if health():
        say(f"a LocalStack not started by the book already answers at {ENDPOINT}; using it as is")
        return False
    if port_in_use():
        raise EngineError(f"port {PORT} is taken by something that is not LocalStack; free it, or set "
                          "OCBOOK_ENGINE_PORT to start the engine elsewhere (and AWS_ENDPOINT_URL to match)")
    setup()
    LOG_FILE.parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    with open(LOG_FILE, "ab") as log:
        log.write(f"\n===== engine start {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
        log.flush()
        process = subprocess.Popen([str(venv_python()), "-m", "localstack.runtime.main"], env=engine_env(),
                                   cwd=str(HOME), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    PID_FILE.write_text(str(process.pid))
    wait_ready(process, began)
    say(f"ready at {ENDPOINT} in {time.monotonic() - began:.1f} s (pid {process.pid}); log: {LOG_FILE}")
    return True


def wait_ready(process: subprocess.Popen, began: float) -> None:
    """Poll the health endpoint until ready; on death or timeout show the log and clean up."""
    while time.monotonic() - began < READY_TIMEOUT:
        if process.poll() is not None:
            PID_FILE.unlink(missing_ok=True)
            raise EngineError(f"the engine exited with code {process.returncode} before it was ready.\n"
                              f"Last lines of {LOG_FILE}:\n{log_tail()}")
        if health(timeout=0.5):
            return
        time.sleep(0.05)
    stop(quiet=True)
    raise EngineError(f"the engine was not ready after {READY_TIMEOUT:.0f} s; stopped it.\n"
                      f"Last lines of {LOG_FILE}:\n{log_tail()}")


def engine_processes() -> list[int]:
    """Pids of processes of this engine: command line under its home, or running inside its temp folder
    (function environments run with their unpacked code there as working directory)."""
    home, temp = str(HOME), str(HOME / "tmp")
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if int(entry.name) not in (os.getpid(), os.getppid()) and (home in cmdline or cwd.startswith(temp)):
            pids.append(int(entry.name))
    return pids


def stop(quiet: bool = False) -> None:
    """Stop the engine (SIGTERM, then SIGKILL) and anything it left behind."""
    pid = read_pid()
    if pid:
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and read_pid():
            time.sleep(0.1)
        if read_pid():
            os.killpg(pid, signal.SIGKILL)
    leftovers = engine_processes()
    for leftover in leftovers:
        try:
            os.kill(leftover, signal.SIGKILL)
        except ProcessLookupError:
            pass
    PID_FILE.unlink(missing_ok=True)
    if not quiet:
        extra = f" and {len(leftovers)} leftover process(es)" if leftovers else ""
        say(f"stopped{extra}" if pid or leftovers else "not running")


def tree_pids(pid: int) -> list[int]:
    """A process and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def memory_kb(pid: int, field: str) -> int:
    """One memory figure of a process in kB: 'Rss' or 'Pss' (shared pages divided among their users)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of a process tree in MB; RSS counts shared pages once per process, PSS once in all."""
    pids = tree_pids(pid)
    return (sum(memory_kb(p, "Rss") for p in pids) / 1024, sum(memory_kb(p, "Pss") for p in pids) / 1024)


def status() -> int:
    """Print whether the engine runs, where, and how much memory it uses; exit 0 if it answers."""
    pid, doc = read_pid(), health()
    if pid and doc:
        running = sorted(name for name, state in doc["services"].items() if state == "running")
        rss, pss = tree_memory_mb(pid)
        say(f"running at {ENDPOINT} (pid {pid}; with its children {rss:.0f} MB RSS, {pss:.0f} MB PSS); "
            f"log: {LOG_FILE}")
        say(f"services running: {', '.join(running) or 'none yet (they start on first use)'}")
        return 0
    if doc:
        say(f"a LocalStack not started by the book answers at {ENDPOINT}")
        return 0
    say("not running" + (f" (process {pid} exists but does not answer; `stop` cleans it up)" if pid else ""))
    return 1


def logs(lines: int, follow: bool) -> None:
    """Show the end of the engine log, optionally following it."""
    print(log_tail(lines))
    if follow and LOG_FILE.exists():
        with open(LOG_FILE, errors="replace") as log:
            log.seek(0, os.SEEK_END)
            while True:
                line = log.readline()
                if line:
                    print(line, end="", flush=True)
                else:
                    time.sleep(0.2)


def peak(command: list[str], interval: float = 0.25) -> int:
    """Run a command while sampling the engine tree's memory; print the peaks; return the command's exit code."""
    pid = read_pid()
    if not pid:
        raise EngineError("the embedded engine is not running; start it with `make engine-start`")
    process = subprocess.Popen(command)
    peak_rss = peak_pss = 0.0
    while process.poll() is None:
        rss, pss = tree_memory_mb(pid)
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        time.sleep(interval)
    say(f"peak memory of the engine and its children during the command: "
        f"{peak_rss:.0f} MB RSS, {peak_pss:.0f} MB PSS (sampled every {interval} s)")
    return process.returncode


def bench(args: list[str]) -> None:
    """Run the benchmark (it needs boto3, so it runs in the engine venv)."""
    setup()
    env = dict(os.environ, OCBOOK_ENGINE_LAUNCHER=__file__)
    raise SystemExit(subprocess.call([str(venv_python()), "-m", "ocbook_engine.bench", *args], env=env))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("setup", help="create the engine venv (done by start when needed)")
    sub.add_parser("start", help="start in the background and wait until ready")
    sub.add_parser("stop", help="stop the engine and its children")
    sub.add_parser("status", help="is it running, where, how much memory")
    log_parser = sub.add_parser("logs", help="show the engine log")
    log_parser.add_argument("-n", type=int, default=50)
    log_parser.add_argument("-f", "--follow", action="store_true")
    sub.add_parser("env", help="print the settings the engine runs with")
    peak_parser = sub.add_parser("peak", help="run a command and report the engine's peak memory meanwhile")
    peak_parser.add_argument("rest", nargs=argparse.REMAINDER)
    bench_parser = sub.add_parser("bench", help="measure start, invokes, DynamoDB, a state machine, memory")
    bench_parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.command == "setup":
            setup()
            say(f"engine venv at {VENV}")
        elif args.command == "start":
            start()
        elif args.command == "stop":
            stop()
        elif args.command == "status":
            return status()
        elif args.command == "logs":
            logs(args.n, args.follow)
        elif args.command == "env":
            for key, value in sorted(engine_env().items()):
                if key not in os.environ or os.environ[key] != value:
                    print(f"{key}={value}")
        elif args.command == "bench":
            bench(args.rest)
        elif args.command == "peak":
            return peak(args.rest[1:] if args.rest[:1] == ["--"] else args.rest)
    except EngineError as exc:
        print(f"[engine] error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
