"""The zygote: one process per Python runtime that has imported what AWS's runtime provides and forks environments.

Started by the executor as a child of the engine::

    python -I -S -u -B zygote.py RUNTIME_SITE

``-I -S``: no site-packages and no PYTHON* variables, so its module path is
the runtime's own packages (``RUNTIME_SITE``: boto3, botocore and their
dependencies, linked from the engine venv) then the standard library, as in
AWS's Python runtime. It imports boto3 and builds one throwaway client (so
botocore's lazy imports are done) with the garbage collector off, freezes
its view of those objects (``gc.freeze()``: children then do not dirty the
shared pages when a collection runs; they turn it back on) and waits.

Protocol, one JSON object a line: the executor writes ``{"token", "cwd",
"env", "sys_path", "log", "port", "tmpdir"}`` on stdin; the zygote forks a
child for it and answers ``{"token", "pid"}`` on stdout, then
``{"exited": pid, "status": code}`` when that child ends (it reaps them
through pidfds). The zygote is single-threaded, which is what makes forking
it safe.

Ending: on end of stdin (the engine closed the pipe, or died and the kernel
closed it) or SIGTERM, the zygote kills its children and exits. Each child
asks the kernel for SIGKILL when the zygote dies (``PR_SET_PDEATHSIG``), so
no environment outlives the engine, and none is told the engine's pid. (The
zygote itself does not use PDEATHSIG: it fires when the engine *thread* that
started it ends, not the engine.)
"""

from __future__ import annotations

import ctypes
import gc
import importlib.metadata
import importlib.util
import json
import os
import re
import selectors
import shutil
import signal
import sys
import tempfile
import traceback
import uuid
from pathlib import Path

PR_SET_PDEATHSIG = 1
# Top-level names of the runtime's own packages: purged in a child whose code or layers ship their own.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3",
                    "aws_durable_execution_sdk_python")
# What AWS's Python runtime ships besides the standard library (their dependencies are followed): boto3, and
# the durable execution SDK ("Lambda Node.js and Python runtimes include the durable execution SDK").
RUNTIME_DISTRIBUTIONS = ("boto3", "aws-durable-execution-sdk-python")
# Clients and resources whose models the zygote parses once for every environment: what the book's functions
# use, and the messaging services a saga step commonly calls. Each costs the zygote 1-4 MB; s3, kinesis, logs,
# lambda and sts would add 12 MB that no chapter's function needs (they still work, parsed in the environment).
PRELOADED_CLIENTS = ("dynamodb", "events", "sqs", "sns", "stepfunctions")
PRELOADED_RESOURCES = ("dynamodb",)
# Standard-library modules (part of what the runtime provides) that the runtime itself does not need but common
# handler libraries import: asyncio and pkgutil by the X-Ray SDK under Powertools' Tracer. Imported here, they
# are shared; imported in each traced environment, they cost it about 2 MB (measured: 13 -> 11 MB private).
PRELOADED_STDLIB = ("asyncio", "pkgutil")
# A package the function ships is compared with the runtime's copy file by file up to this many files (jmespath
# has 7); a bigger one (botocore has thousands) always counts as the function's own.
MAX_COMPARED_FILES = 200
RUNTIME_SITE: str | None = None  # the runtime's packages (set by main)


# ---------------------------------------------------------------- the engine's side: the runtime's packages
def requirements(distribution: importlib.metadata.Distribution) -> list[str]:
    """Names of the distributions one distribution needs (extras left out)."""
    names = []
    for requirement in distribution.requires or []:
        if "extra ==" not in requirement:
            names.append(re.match(r"[A-Za-z0-9._-]+", requirement).group(0))
    return names


def top_level_names(distribution: importlib.metadata.Distribution) -> set[str]:
    """The importable top-level packages and modules a distribution installs, and its metadata folder."""
    names = set()
    for file in distribution.files or []:
        first = file.parts[0]
        if first not in ("..", "__pycache__") and (len(file.parts) > 1 or first.endswith(".py")):
            names.add(first)
    return names


def build_runtime_site(folder: Path) -> Path:
    """A folder of links to boto3 and everything it needs from the engine venv: the runtime's own packages."""
    todo, seen, names = list(RUNTIME_DISTRIBUTIONS), set(), set()
    while todo:
        distribution = importlib.metadata.distribution(todo.pop())
        if distribution.metadata["Name"].lower() in seen:
            continue
        seen.add(distribution.metadata["Name"].lower())
        root = Path(distribution.locate_file(""))
        names |= {(root, name) for name in top_level_names(distribution)}
        todo += requirements(distribution)
    building = folder.with_name(f"{folder.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}")
    building.mkdir(parents=True)
    for root, name in names:
        (building / name).symlink_to(root / name)
    shutil.rmtree(folder, ignore_errors=True)
    building.rename(folder)
    return folder


# ---------------------------------------------------------------- the zygote process
def die_with_parent(signal_number: int = signal.SIGKILL) -> None:
    """Ask Linux to send us a signal when our parent (the thread that forked us) ends."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal_number, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: end of stdin still stops the zygote
        pass


class UniquePaths(list):
    """A search path list that ignores a folder it already holds (boto3 appends its own at every Session)."""

    def append(self, item) -> None:
        if item not in self:
            super().append(item)


def share_botocore_loader() -> None:
    """One botocore data loader for every session of the process, so models parsed here serve every child.

    Parsing botocore's JSON (endpoints, each service's model and rule set) is most of what creating a
    client costs: about 0.3 s and 10 MB per session. Loaded once in the zygote, it is shared with every
    environment copy-on-write. A session given its own data path (AWS_DATA_PATH) still gets its own loader,
    and a function that ships its own botocore never sees this (its modules are imported afresh).
    """
    import botocore.loaders
    import botocore.session

    shared = botocore.loaders.create_loader()
    shared._search_paths = UniquePaths(shared.search_paths)  # noqa: SLF001 (no public setter)
    original = botocore.session.create_loader

    def create_loader(search_path_string=None):
        return shared if search_path_string is None else original(search_path_string)

    botocore.session.create_loader = create_loader


def preload() -> None:
    """Import boto3 and build the clients the book's functions use, so children start with them parsed."""
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    share_botocore_loader()
    for module in PRELOADED_STDLIB:
        importlib.import_module(module)
    import boto3.session

    session = boto3.session.Session(aws_access_key_id="zygote", aws_secret_access_key="zygote",
                                    region_name="us-east-1")
    for service in PRELOADED_CLIENTS:
        session.client(service, endpoint_url="http://127.0.0.1:9")
    for service in PRELOADED_RESOURCES:
        session.resource(service, endpoint_url="http://127.0.0.1:9")


def first_copy(folders: list[str], name: str) -> str | None:
    """Where the function's code or layers ship a runtime package (the first on its path wins), or None."""
    for folder in folders:
        for candidate in (os.path.join(folder, name), os.path.join(folder, name + ".py")):
            if os.path.exists(candidate):
                return candidate
    return None


def source_files(path: str) -> dict[str, str] | None:
    """A package's files by relative path (compiled ones left out), or None when it is too big to compare."""
    if os.path.isfile(path):
        return {"": path}
    files = {}
    for root, folders, names in os.walk(path):
        folders[:] = [folder for folder in folders if folder != "__pycache__"]
        for name in names:
            if not name.endswith(".pyc"):
                full = os.path.join(root, name)
                files[os.path.relpath(full, path)] = full
                if len(files) > MAX_COMPARED_FILES:
                    return None
    return files


def same_files(mine: str, runtime: str) -> bool:
    """Whether two copies of a package hold the same files, byte for byte (then either import is the same code)."""
    ours, theirs = source_files(mine), source_files(runtime)
    if ours is None or theirs is None or ours.keys() != theirs.keys():
        return False
    for relative, path in ours.items():
        with open(path, "rb") as one, open(theirs[relative], "rb") as other:
            if one.read() != other.read():
                return False
    return True


# CPython 3.12 and 3.13 (64-bit, with the GIL) leave an object alone in reference counting when its count is this
# (PEP 683, "immortal objects"); None has it, which is how can_immortalize() checks the interpreter agrees.
IMMORTAL_REFCOUNT = 0xFFFFFFFF


def can_immortalize() -> bool:
    """Whether this interpreter has immortal objects laid out the way immortalize() writes them."""
    import sysconfig

    return (sys.version_info[:2] in ((3, 12), (3, 13)) and sys.maxsize > 2**32
            and not sysconfig.get_config_var("Py_GIL_DISABLED") and sys.getrefcount(None) == IMMORTAL_REFCOUNT)


def immortalize() -> None:
    """Make every object the zygote holds immortal, so the children's reference counting does not copy its pages.

    Without it, each environment copies the pages of every object its handler so much as reads (botocore's models
    and rule sets, modules, functions: an increment and a decrement of a count is a write): measured 13 MB of
    private memory per environment after one DynamoDB and one EventBridge call, 7 MB with it. The objects are
    the zygote's for good anyway (it never frees what it preloaded); in a child they now are never freed either,
    which only matters to a function that ships its own boto3 (the pre-imported copy stays in memory, shared).
    Python's advice for pre-fork servers is the same idea (PEP 683); this is what its C API does, from Python.
    """
    import ctypes

    for holder in gc.get_objects():
        for obj in (holder, *gc.get_referents(holder)):
            if sys.getrefcount(obj) < IMMORTAL_REFCOUNT:  # immortal already (or done): no set of seen ids needed
                ctypes.c_ssize_t.from_address(id(obj)).value = IMMORTAL_REFCOUNT


def ships_runtime_packages(folders: list[str], site: str | None = None) -> bool:
    """Whether the function's code or layers bring their own copy of boto3 (or any other runtime package).

    A copy identical to the runtime's (a layer built with Powertools carries jmespath, the very version boto3
    uses) does not count: importing either is the same code, and keeping the pre-imported boto3 saves the
    environment parsing botocore's models again (about 20 MB and 0.3 s each). ``site``: the runtime's packages.
    """
    for name in RUNTIME_PACKAGES:
        mine = first_copy(folders, name)
        if mine is None:
            continue
        runtime = site and first_copy([site], name)
        if not (runtime and same_files(mine, runtime)):
            return True
    return False


def purge_runtime_modules() -> None:
    """Forget the pre-imported runtime packages, so the function's own copies are imported instead."""
    for name in list(sys.modules):
        if name.split(".", 1)[0] in RUNTIME_PACKAGES:
            del sys.modules[name]


def become(spec: dict, zygote_pid: int) -> None:
    """In the forked child: turn into one function environment and serve it (never returns)."""
    os.closerange(3, 1 << 16)  # the zygote's pipes, selector and pidfds
    log = os.open(spec["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    os.setsid()  # its own process group: the executor stops it and whatever the handler started
    die_with_parent()
    if os.getppid() != zygote_pid:  # the zygote died before we asked
        os._exit(0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    gc.enable()  # off in the zygote (see main)
    os.chdir(spec["cwd"])
    os.environ.clear()
    os.environ.update(spec["env"])
    tempfile.tempdir = spec["tmpdir"]
    if ships_runtime_packages(spec["sys_path"], RUNTIME_SITE):
        purge_runtime_modules()
    sys.path[:0] = spec["sys_path"]
    # Compiled function code is kept outside the code folder (read-only on AWS), so the next environment of the
    # same function loads it instead of compiling again: faster and about 1 MB less per environment.
    sys.pycache_prefix, sys.dont_write_bytecode = spec["pycache"], False
    runtime = sys.modules.pop("lambda_runtime")  # not something a handler can import on AWS
    runtime.run(dict(os.environ), spec["port"])


def fork(spec: dict) -> int:
    """Fork one environment; the parent gets its pid."""
    zygote_pid = os.getpid()
    gc.freeze()  # what the zygote allocated since the last fork, too
    pid = os.fork()
    if pid == 0:
        try:
            become(spec, zygote_pid)
        except BaseException:  # noqa: BLE001 (the child must never return into the zygote's loop)
            traceback.print_exc()
            sys.stderr.flush()
        os._exit(1)
    return pid


class Zygote:
    """The zygote's loop: spawn on request, report exits, end with the engine."""

    def __init__(self, answers: int):
        self.answers = answers
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, int] = {}  # pid -> pidfd
        self.pending = b""

    def say(self, message: dict) -> None:
        """One line to the executor."""
        os.write(self.answers, json.dumps(message).encode() + b"\n")

    def on_command(self) -> bool:
        """Read requests from stdin; False at end of input."""
        chunk = os.read(0, 1 << 20)
        if not chunk:
            return False
        self.pending += chunk
        while b"\n" in self.pending:
            line, self.pending = self.pending.split(b"\n", 1)
            spec = json.loads(line)
            pid = fork(spec)
            pidfd = os.pidfd_open(pid)
            self.children[pid] = pidfd
            self.selector.register(pidfd, selectors.EVENT_READ, pid)
            self.say({"token": spec["token"], "pid": pid})
        return True

    def on_exit(self, pid: int) -> None:
        """Reap one child and report its exit code (negative: killed by that signal)."""
        pidfd = self.children.pop(pid)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(pid, 0)
        self.say({"exited": pid, "status": os.waitstatus_to_exitcode(status)})

    def run(self) -> None:
        """Serve until stdin closes, then kill every child."""
        self.selector.register(0, selectors.EVENT_READ, None)
        while True:
            for key, _ in self.selector.select():
                if key.data is None:
                    if not self.on_command():
                        self.stop_children()
                        return
                else:
                    self.on_exit(key.data)

    def stop_children(self) -> None:
        """Kill every environment (their process groups) before the zygote exits."""
        for pid in self.children:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def load_runtime_module() -> None:
    """Import lambda_runtime.py from beside this file (``-I`` leaves this folder off sys.path, as it should)."""
    path = Path(__file__).with_name("lambda_runtime.py")
    spec = importlib.util.spec_from_file_location("lambda_runtime", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["lambda_runtime"] = module
    spec.loader.exec_module(module)


def main() -> None:
    """Entry point: set the module path, preload, serve."""
    # Python's advice for fork without exec: no collection in the parent (it would leave freed holes in pages
    # that every child then fills, copying them), freeze before forking, collect again in the children.
    # Measured: about 1 MB less per environment than collect-then-freeze.
    gc.disable()
    load_runtime_module()
    global RUNTIME_SITE
    RUNTIME_SITE = sys.argv[1]
    sys.path.insert(0, RUNTIME_SITE)  # the runtime's packages, before the standard library
    answers = os.dup(1)
    os.dup2(2, 1)  # anything printed by accident goes to the zygote's log, not into the protocol
    preload()
    if can_immortalize():
        immortalize()
    gc.freeze()
    zygote = Zygote(answers)
    signal.signal(signal.SIGTERM, lambda *_: (zygote.stop_children(), os._exit(0)))
    zygote.run()


if __name__ == "__main__":
    main()
