"""Start, stop and inspect the book's embedded LocalStack (needs psutil; runs under the book's or the engine's venv).

    python code/engine/ocbook_engine/launcher.py setup|start|stop|status|logs|bench|env|peak

Everything the engine writes stays under ``.engine/`` at the top of the
repository: its venv, caches, logs, and one run folder per engine (per port).

How the launcher knows which processes are its own
---------------------------------------------------
An engine is named by its home and its port (``ENGINE_ID``); engines on
different ports never share a file or a process, whatever their homes.
``start`` writes ``<home>/run/<port>/engine.json`` with the engine's pid, the
process's start time and its ``ENGINE_ID``, and starts the engine with an
environment built from scratch that carries ``OCBOOK_ENGINE_ID=<home>:<port>``
and ``TMPDIR=<home>/run/<port>/tmp``. A process is this engine's when

- it is the recorded pid, *and* its start time is the recorded one, *and* its
  environment holds our ``OCBOOK_ENGINE_ID`` (a pid reused by an unrelated
  process fails the last two checks and is never signalled); or
- it descends from that verified engine process; or
- it is one of our user's processes whose environment holds our
  ``OCBOOK_ENGINE_ID`` (anything the engine spawned with its environment) or
  our ``TMPDIR`` or a folder inside it (function environments and whatever they
  spawned: the executor hands them ``TMPDIR`` and not much else; keep it that
  way, or leftovers of a crashed engine go unnoticed). This finds what a crashed
  engine left behind, after it was re-parented away from the engine.

Command lines and working directories are never used to decide: a ``tail -f``
of the log or a shell in the home folder is not the engine. Signals go to
single verified processes, never to process groups. An engine started by the
earlier launcher (``<home>/localstack.pid``) is recognised by its settings
(``GATEWAY_LISTEN`` and ``FILESYSTEM_ROOT``), never by the pid alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

try:
    import psutil
except ImportError:  # run by an interpreter other than the book's or the engine's venv
    sys.exit("[engine] error: the launcher needs psutil; run it with the book's venv (`make engine-start`), "
             "or `pip install psutil`")

ENGINE_SRC = Path(__file__).resolve().parents[1]
REPO = ENGINE_SRC.parents[1]
# An empty OCBOOK_ENGINE_HOME means the default, never "the current folder" or "everything".
HOME = Path(os.environ.get("OCBOOK_ENGINE_HOME") or REPO / ".engine").absolute()
VENV = Path(os.environ.get("OCBOOK_ENGINE_VENV") or HOME / "venv").absolute()
STAMP = VENV / ".ocbook-stamp"
HOST = "127.0.0.1"
PORT = int(os.environ.get("OCBOOK_ENGINE_PORT") or "4566")
ENDPOINT = f"http://{HOST}:{PORT}"
ENGINE_ID = f"{HOME}:{PORT}"
RUN_DIR = HOME / "run" / str(PORT)          # what one engine owns: its state file, temp files, LocalStack state
STATE_FILE = RUN_DIR / "engine.json"
LEGACY_PID_FILE = HOME / "localstack.pid"  # written by the launcher before state files per port
TEMP_DIR = RUN_DIR / "tmp"
LOG_FILE = HOME / "logs" / f"localstack-{PORT}.log"
READY_TIMEOUT = float(os.environ.get("OCBOOK_ENGINE_READY_TIMEOUT") or "90")
# Idle function environments are stopped after this long (AWS keeps them for minutes too; memory matters here).
DEFAULT_KEEPALIVE_MS = "60000"
# The services the book uses. CloudWatch is left out on purpose: with it, every Lambda invoke publishes a
# metric through the gateway (warm invoke measured 34 ms with it, 25 ms without). Override with SERVICES.
DEFAULT_SERVICES = ("s3,sqs,sns,events,lambda,logs,dynamodb,dynamodbstreams,kinesis,stepfunctions,iam,sts,"
                    "apigateway,cloudformation,xray")  # cloudformation: the SAM templates under templates/
# Variables of the starting shell the engine gets; everything else is set below or not passed at all.
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
# LocalStack settings the README documents as yours to override: (name, default or None for "unset").
# (Lambda's retry delays follow OCBOOK_TIME_SCALE, an OCBOOK_* variable: LAMBDA_RETRY_BASE_DELAY is not used.)
USER_SETTINGS = {"SERVICES": DEFAULT_SERVICES, "LAMBDA_KEEPALIVE_MS": DEFAULT_KEEPALIVE_MS, "DEBUG": None,
                 "LS_LOG": None}
STOP_GRACE_SECONDS = 20


class EngineError(Exception):
    """A problem the person running the engine can act on; the message says how."""


def say(message: str) -> None:
    """Print a launcher message."""
    print(f"[engine] {message}", flush=True)


# ---------------------------------------------------------------- Python 3.13 and the venv
def python313_candidates() -> list[str]:
    """Places a Python 3.13 interpreter may be found (OCBOOK_ENGINE_PYTHON, when set, is the only one)."""
    explicit = os.environ.get("OCBOOK_ENGINE_PYTHON", "")
    if explicit:
        return [explicit]
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    found = sorted((str(p) for p in Path(pyenv_root, "versions").glob("3.13*/bin/python3.13")), reverse=True)
    found += [shutil.which("python3.13") or "", "/usr/bin/python3.13", "/usr/local/bin/python3.13"]
    return [c for c in found if c]


def python_version(candidate: str) -> str | None:
    """The interpreter's "major.minor", or None if it does not run."""
    try:
        out = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def is_python313(candidate: str) -> bool:
    """True if the interpreter runs and is 3.13."""
    return python_version(candidate) == "3.13"


def find_python313() -> str:
    """The first working Python 3.13, or a message saying how to get one."""
    explicit = os.environ.get("OCBOOK_ENGINE_PYTHON", "")
    if explicit and not is_python313(explicit):
        version = python_version(explicit)
        found = f"is Python {version}" if version else "does not run"
        raise EngineError(f"OCBOOK_ENGINE_PYTHON={explicit} {found}, but the embedded LocalStack needs Python 3.13; "
                          "point it at a python3.13, or unset it to let the launcher look for one")
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


def venv_is_current() -> bool:
    """True if setup would change nothing in the venv."""
    stamps = read_stamps()
    return all(stamps.get(name) == fingerprint(name) for name in (LOCK, "pyproject.toml"))


def venv_users() -> list[psutil.Process]:
    """Our user's processes whose interpreter is the engine venv's (running engines and function environments)."""
    prefix = str(VENV) + os.sep
    users = []
    for process in our_processes():
        try:
            argv0 = process.cmdline()[:1]
            argv0 = [os.path.join(process.cwd(), argv0[0])] if argv0 else argv0
        except psutil.Error:
            continue
        if argv0 and os.path.normpath(argv0[0]).startswith(prefix):
            users.append(process)
    return users


def refuse_rebuild_in_use() -> None:
    """Refuse to change the venv under a running engine (it would answer HTTP 500 until it is restarted)."""
    if venv_is_current():
        return
    users = venv_users()
    if users:
        pids = ", ".join(str(p.pid) for p in users[:5])
        raise EngineError(f"the engine venv {VENV} needs rebuilding, but running processes use it (pid {pids}); "
                          "stop the engine(s) using it first (`make engine-stop`, with their OCBOOK_ENGINE_PORT)")


def setup() -> None:
    """Create the engine venv from the lock file, (re)install our plugins."""
    refuse_rebuild_in_use()
    stamps = read_stamps()
    if stamps.get(LOCK) != fingerprint(LOCK):
        python = find_python313()
        say(f"creating the engine venv in {VENV} with {python} (first use, or {LOCK} changed)")
        if VENV.exists():
            shutil.rmtree(VENV)
        create_venv(python)
        # The lock holds every package at its exact version (`make lock`, with overrides.txt), so nothing is
        # resolved again: the durable SDK's boto3 floor is above localstack-core's pin, which the lock keeps.
        run_logged(installer() + ["--no-deps", "-r", str(ENGINE_SRC / LOCK)],
                   "installing localstack-core from the lock file")
        stamps = {LOCK: fingerprint(LOCK)}
        STAMP.write_text(json.dumps(stamps))
    if stamps.get("pyproject.toml") != fingerprint("pyproject.toml"):
        run_logged(installer() + ["--no-deps", "-e", str(ENGINE_SRC)], "installing the book's engine plugins")
        stamps["pyproject.toml"] = fingerprint("pyproject.toml")
        STAMP.write_text(json.dumps(stamps))
        say("engine venv ready")
    service_catalog()


# LocalStack routes a request by an index of every AWS service's API (its "service catalog"). Without the index
# file in its cache folder, the engine builds it on first use by parsing all ~430 botocore models, and keeps
# them in memory for good: about 250 MB of the engine process. So it is built once per venv, in a process of its
# own, and copied into each engine's cache folder before the engine starts.
CATALOG_DIR = VENV / "ocbook-service-catalog"
CATALOG_BUILD = """
import os, sys
from localstack.aws.spec import _get_catalog_filename, build_service_index_cache
path = os.path.join(sys.argv[1], _get_catalog_filename())
if not os.path.exists(path):
    build_service_index_cache(path + ".part")
    os.replace(path + ".part", path)
print(path)
"""


def service_catalog() -> Path:
    """LocalStack's service catalog index for this venv, built once (a few seconds)."""
    built = sorted(CATALOG_DIR.glob("service-catalog-*.dill"))
    if built:
        return built[-1]
    CATALOG_DIR.mkdir(exist_ok=True)
    say("building LocalStack's service index once for this venv (keeps ~250 MB out of the engine process)")
    result = subprocess.run([str(venv_python()), "-c", CATALOG_BUILD, str(CATALOG_DIR)], capture_output=True,
                            text=True, env={k: os.environ[k] for k in PASSED_ENV if k in os.environ})
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-10:])
        raise EngineError(f"building LocalStack's service index failed (exit {result.returncode}):\n{tail}")
    return Path(result.stdout.strip().splitlines()[-1])


def install_service_catalog() -> None:
    """Put the prebuilt service index where this engine's LocalStack looks for it (its cache folder)."""
    catalog = service_catalog()
    cache = RUN_DIR / "state" / "var" / "lib" / "localstack" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / catalog.name).exists():
        shutil.copyfile(catalog, cache / f"{catalog.name}.part")
        (cache / f"{catalog.name}.part").replace(cache / catalog.name)


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
    """The environment the engine runs with, built from scratch (see README: 'Engine settings').

    Only PASSED_ENV, the OCBOOK_* variables and the LocalStack settings in USER_SETTINGS come from the
    starting shell; nothing else is inherited (function code could otherwise read it from /proc).
    """
    for folder in (TEMP_DIR, RUN_DIR / "state", HOME / "cache", LOG_FILE.parent):
        folder.mkdir(parents=True, exist_ok=True)
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update({k: v for k, v in os.environ.items() if k.startswith("OCBOOK_")})
    for name, default in USER_SETTINGS.items():
        value = os.environ.get(name, default)
        if value is not None:
            env[name] = value
    env.setdefault("PATH", os.defpath)
    env.update({
        "OCBOOK_ENGINE_ID": ENGINE_ID,
        "OVERRIDE_IN_DOCKER": "0",
        "FILESYSTEM_ROOT": str(RUN_DIR / "state"),
        "TMPDIR": str(TEMP_DIR),
        "XDG_CACHE_HOME": str(HOME / "cache"),
        "GATEWAY_LISTEN": f"{HOST}:{PORT}",
        "GATEWAY_SERVER": "hypercorn",
        "LOCALSTACK_HOST": f"{HOST}:{PORT}",
        "SQS_ENDPOINT_STRATEGY": "path",
        "DNS_ADDRESS": "0",
        "DISABLE_EVENTS": "1",
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        "LAMBDA_RUNTIME_EXECUTOR": "local-process",
        "PROVIDER_OVERRIDE_DYNAMODB": "moto",
        "PROVIDER_OVERRIDE_DYNAMODBSTREAMS": "moto",
        "PROVIDER_OVERRIDE_KINESIS": "moto",
        "PROVIDER_OVERRIDE_S3": "local-tmp",
        "PROVIDER_OVERRIDE_LAMBDA": "local-process",
        "PROVIDER_OVERRIDE_EVENTS": "ocbook",
        "PROVIDER_OVERRIDE_XRAY": "ocbook",
        "OCBOOK_TIME_SCALE": time_scale(),
        "PYTHONDONTWRITEBYTECODE": "1",
        # glibc gives each thread that allocates its own malloc arena (up to 8 per core), and LocalStack runs
        # dozens of threads (which the GIL serialises anyway); one arena, trimmed at a fixed 128 kB instead of a
        # threshold that grows, kept the engine process at 358 MB PSS at chapter 5's peak (412-421 MB without).
        "MALLOC_ARENA_MAX": "1",
        "MALLOC_TRIM_THRESHOLD_": "131072",
    })
    return env


# ---------------------------------------------------------------- probing
def health(endpoint: str = ENDPOINT, timeout: float = 2.0) -> dict | None:
    """LocalStack's health document, or None if nothing answers with one (same check as ocbook.endpoints)."""
    try:
        from ocbook_engine.health import is_localstack_health
    except ImportError:  # run as a script: this file's folder is on sys.path
        from health import is_localstack_health
    try:
        with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=timeout) as response:
            doc = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return doc if is_localstack_health(doc) else None


def port_in_use(port: int = PORT) -> bool:
    """True if something accepts connections on the port."""
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((HOST, port)) == 0


def log_tail(lines: int = 30) -> str:
    """The last lines of the engine log."""
    if not LOG_FILE.exists():
        return "(no log yet)"
    return "\n".join(LOG_FILE.read_text(errors="replace").splitlines()[-lines:])


# ---------------------------------------------------------------- which processes are ours (see the module doc)
def read_state() -> dict:
    """What `start` recorded about this engine (empty if nothing usable)."""
    try:
        state = json.loads(STATE_FILE.read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) and isinstance(state.get("pid"), int) else {}


def write_state(process: psutil.Process) -> None:
    """Record the engine process: pid, start time and identity."""
    STATE_FILE.write_text(json.dumps({"pid": process.pid, "create_time": process.create_time(),
                                      "engine_id": ENGINE_ID, "port": PORT, "home": str(HOME)}))


def is_ours(process: psutil.Process) -> bool:
    """True if the process carries this engine's identity in its environment (see the module doc)."""
    try:
        env = process.environ()
    except psutil.Error:  # gone, or another user's
        return False
    temp = env.get("TMPDIR", "")
    return env.get("OCBOOK_ENGINE_ID") == ENGINE_ID or temp == str(TEMP_DIR) or temp.startswith(f"{TEMP_DIR}{os.sep}")


def legacy_engine() -> psutil.Process | None:
    """An engine started by the earlier launcher (one pid file per home), if its settings show it is this one."""
    try:
        process = psutil.Process(int(LEGACY_PID_FILE.read_text().strip()))
        env = process.environ()
    except (OSError, ValueError, psutil.Error):
        return None
    ours = env.get("GATEWAY_LISTEN") == f"{HOST}:{PORT}" and env.get("FILESYSTEM_ROOT") == str(HOME / "state")
    return process if ours else None


def engine_process() -> psutil.Process | None:
    """The recorded engine process, if it is alive and verifiably still the one we started."""
    state = read_state()
    if not state:
        return legacy_engine()
    if state.get("engine_id") != ENGINE_ID:
        return None
    try:
        process = psutil.Process(state["pid"])
        same_start = abs(process.create_time() - float(state.get("create_time", 0))) < 0.05
        alive = process.status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, TypeError, ValueError):
        return None
    return process if same_start and alive and is_ours(process) else None


def our_processes() -> list[psutil.Process]:
    """Processes of our user, except this launcher and its ancestors."""
    me = psutil.Process()
    spared = {me.pid, *(p.pid for p in me.parents())}
    uid = os.getuid()
    found = []
    for process in psutil.process_iter(["uids"]):
        uids = process.info.get("uids")
        if process.pid not in spared and uids is not None and uids.real == uid:
            found.append(process)
    return found


def descendants(process: psutil.Process) -> list[psutil.Process]:
    """A process's descendants (empty if it is gone)."""
    try:
        return process.children(recursive=True)
    except psutil.Error:
        return []


def engine_tree() -> tuple[psutil.Process | None, list[psutil.Process]]:
    """(the verified engine process or None, every other process of this engine, including leftovers)."""
    engine = engine_process()
    found = {p.pid: p for p in descendants(engine)} if engine else {}
    for process in our_processes():
        if process.pid not in found and (engine is None or process.pid != engine.pid) and is_ours(process):
            found[process.pid] = process
            found.update((child.pid, child) for child in descendants(process))
    return engine, list(found.values())


def describe(processes: list[psutil.Process]) -> str:
    """'pid name, pid name' for a message."""
    names = []
    for process in processes:
        try:
            names.append(f"{process.pid} {process.name()}")
        except psutil.Error:
            names.append(str(process.pid))
    return ", ".join(names)


def end_processes(processes: list[psutil.Process], grace: float) -> None:
    """SIGTERM the given processes, then SIGKILL those still alive after `grace` seconds."""
    for process in processes:
        try:
            process.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)


# ---------------------------------------------------------------- commands
def start() -> bool:
    """Start the engine in the background and wait until ready; True if this call started it."""
    engine = engine_process()
    if engine and health():
        say(f"already running at {ENDPOINT} (pid {engine.pid}); log: {LOG_FILE}")
        return False
    if engine:  # ours, alive, but not answering: a hung run
        say(f"the engine on port {PORT} (pid {engine.pid}) is not answering; stopping it first")
        stop(quiet=True)
    else:
        clean_leftovers()
    if health():
        say(f"a LocalStack not started from {HOME} already answers at {ENDPOINT}; using it as is")
        return False
    if port_in_use():
        raise EngineError(f"port {PORT} is taken by something that is not LocalStack; free it, or set "
                          "OCBOOK_ENGINE_PORT to start the engine elsewhere (and AWS_ENDPOINT_URL to match)")
    setup()
    # What an earlier engine of this port left in its temporary folder (every function's unpacked code, their
    # compiled modules, logs) is of no use to a new one, which starts with no functions: without this the
    # folder grew by a few hundred MB a day of running chapters.
    shutil.rmtree(TEMP_DIR, ignore_errors=True)
    env = engine_env()
    install_service_catalog()
    began = time.monotonic()
    with open(LOG_FILE, "ab") as log:
        log.write(f"\n===== engine start {time.strftime('%Y-%m-%d %H:%M:%S')} =====\n".encode())
        log.flush()
        process = subprocess.Popen([str(venv_python()), "-m", "localstack.runtime.main"], env=env,
                                   cwd=str(RUN_DIR), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    write_state(psutil.Process(process.pid))
    wait_ready(process, began)
    say(f"ready at {ENDPOINT} in {time.monotonic() - began:.1f} s (pid {process.pid}); log: {LOG_FILE}")
    return True


def clean_leftovers() -> None:
    """End what a crashed engine of this port left behind, and say so."""
    _, leftovers = engine_tree()
    if leftovers:
        say(f"a previous engine on port {PORT} died and left {len(leftovers)} process(es) behind "
            f"({describe(leftovers)}); ending them")
        end_processes(leftovers, grace=2)
    STATE_FILE.unlink(missing_ok=True)


def wait_ready(process: subprocess.Popen, began: float) -> None:
    """Poll the health endpoint until ready; on death or timeout show the log and clean up."""
    while time.monotonic() - began < READY_TIMEOUT:
        if process.poll() is not None:
            clean_leftovers()
            raise EngineError(f"the engine exited with code {process.returncode} before it was ready.\n"
                              f"Last lines of {LOG_FILE}:\n{log_tail()}")
        if health(timeout=0.5):
            return
        time.sleep(0.05)
    stop(quiet=True)
    raise EngineError(f"the engine was not ready after {READY_TIMEOUT:.0f} s; stopped it.\n"
                      f"Last lines of {LOG_FILE}:\n{log_tail()}")


def stop(quiet: bool = False) -> None:
    """Stop this engine and its descendants together (SIGTERM, then SIGKILL), and leftovers of a crashed run."""
    engine, others = engine_tree()
    end_processes(([engine] if engine else []) + others, grace=STOP_GRACE_SECONDS)
    _, late = engine_tree()  # anything started while it was stopping
    end_processes(late, grace=2)
    STATE_FILE.unlink(missing_ok=True)
    if engine is not None or legacy_engine() is None:
        LEGACY_PID_FILE.unlink(missing_ok=True)
    if not quiet:
        say(f"stopped the engine on port {PORT}" if engine else
            f"cleaned up {len(others)} process(es) left behind by an earlier engine on port {PORT}" if others
            else "not running")


def tree_pids(pid: int) -> list[int]:
    """A process and all its descendants."""
    try:
        return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
    except psutil.Error:
        return []


def memory_kb(pid: int, field: str) -> int:
    """One memory figure of a process in kB: 'Rss' or 'Pss' (shared pages divided among their users)."""
    try:
        info = psutil.Process(pid).memory_full_info()
    except psutil.Error:
        return 0
    return int(getattr(info, field.lower(), 0)) // 1024


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of a process tree in MB; RSS counts shared pages once per process, PSS once in all."""
    pids = tree_pids(pid)
    return (sum(memory_kb(p, "Rss") for p in pids) / 1024, sum(memory_kb(p, "Pss") for p in pids) / 1024)


def status() -> int:
    """Print whether the engine runs, where, how much memory it uses, and any leftovers; exit 0 if it answers."""
    engine, others = engine_tree()
    doc = health()
    if engine:
        leftovers = [p for p in others if p.pid not in tree_pids(engine.pid)]
    else:
        leftovers = others
    if leftovers:
        say(f"{len(leftovers)} process(es) left behind by an earlier engine on port {PORT}: "
            f"{describe(leftovers)}; `stop` or `start` ends them")
    if engine and doc:
        running = sorted(name for name, state in doc["services"].items() if state == "running")
        rss, pss = tree_memory_mb(engine.pid)
        say(f"running at {ENDPOINT} (pid {engine.pid}; with its children {rss:.0f} MB RSS, {pss:.0f} MB PSS); "
            f"log: {LOG_FILE}")
        say(f"services running: {', '.join(running) or 'none yet (they start on first use)'}")
        return 0
    if doc:
        say(f"a LocalStack not started from {HOME} answers at {ENDPOINT}")
        return 0
    say("not running" + (f" (process {engine.pid} exists but does not answer; `stop` cleans it up)"
                         if engine else ""))
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


def process_kind(process: psutil.Process, engine_pid: int) -> str:
    """'engine', 'zygote' (a runtime's zygote), 'environment' (a function environment) or 'other'."""
    def forked_by_zygote(candidate: psutil.Process | None) -> bool:
        return candidate is not None and any(part.endswith("zygote.py") for part in candidate.cmdline())

    try:
        if process.pid == engine_pid:
            return "engine"
        if forked_by_zygote(process):  # a zygote, or an environment it forked (same command line)
            return "environment" if forked_by_zygote(process.parent()) else "zygote"
    except psutil.Error:
        pass
    return "other"


def tree_breakdown(pid: int) -> dict[str, list[float]]:
    """Per kind of process in the engine tree: [count, RSS MB, PSS MB, USS MB] (USS: pages no other process has)."""
    kinds: dict[str, list[float]] = {}
    for child in tree_pids(pid):
        try:
            process = psutil.Process(child)
            info = process.memory_full_info()
        except psutil.Error:
            continue
        row = kinds.setdefault(process_kind(process, pid), [0, 0.0, 0.0, 0.0])
        row[0] += 1
        for n, value in enumerate((info.rss, info.pss, info.uss), start=1):
            row[n] += value / 2**20
    return kinds


def peak(command: list[str], interval: float = 0.25) -> int:
    """Run a command while sampling the engine tree's memory; print the peaks; return the command's exit code."""
    engine = engine_process()
    if not engine:
        raise EngineError(f"the embedded engine on port {PORT} is not running; start it with `make engine-start`")
    pid = engine.pid
    process = subprocess.Popen(command)
    peak_rss = peak_pss = 0.0
    at_peak: dict[str, list[float]] = {}
    while process.poll() is None:
        kinds = tree_breakdown(pid)
        rss, pss = sum(row[1] for row in kinds.values()), sum(row[2] for row in kinds.values())
        if pss > peak_pss:
            at_peak = kinds
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        time.sleep(interval)
    say(f"peak memory of the engine and its children during the command: "
        f"{peak_rss:.0f} MB RSS, {peak_pss:.0f} MB PSS (sampled every {interval} s)")
    for kind, (count, rss, pss, uss) in sorted(at_peak.items()):
        say(f"  at the PSS peak: {count:.0f} {kind} process(es): PSS {pss:.0f} MB, USS {uss:.0f} MB, RSS {rss:.0f} MB")
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
    args, unknown = parser.parse_known_args(argv)
    if unknown and args.command != "bench":
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
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
            bench(unknown + args.rest)  # its options (--rounds, --functions) are bench.py's
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
