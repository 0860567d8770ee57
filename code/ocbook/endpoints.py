"""Where LocalStack is: an explicit endpoint wins, then one already running, then the embedded engine."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from urllib.parse import urlparse

from ocbook.paths import ENGINE_HEALTH, LAUNCHER

# The embedded engine's address; OCBOOK_ENGINE_PORT moves it (a second engine, a busy 4566).
DEFAULT = f"http://127.0.0.1:{os.environ.get('OCBOOK_ENGINE_PORT', '4566')}"
EXPLICIT_VARIABLES = ("AWS_ENDPOINT_URL", "LOCALSTACK_ENDPOINT")
AWS_DOMAINS = ("amazonaws.com", "amazonaws.com.cn", "api.aws")


def load_health_module():
    """The engine's stdlib-only health check (code/engine/ocbook_engine/health.py): one definition for both venvs."""
    spec = importlib.util.spec_from_file_location("ocbook_engine_health", ENGINE_HEALTH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# LocalStack's health answer: service names mapped to service states (the launcher checks the same)
is_localstack_health = load_health_module().is_localstack_health


class EndpointError(RuntimeError):
    """No usable LocalStack endpoint; the message says what to do."""


def explicit() -> str | None:
    """An endpoint named in the environment, if any."""
    for variable in EXPLICIT_VARIABLES:
        if os.environ.get(variable):
            return os.environ[variable].rstrip("/")
    return None


def refuse_real_aws(url: str) -> None:
    """Never talk to a real AWS account by accident (a fully qualified host's trailing dot changes nothing)."""
    host = (urlparse(url).hostname or "").rstrip(".")
    if host.endswith(AWS_DOMAINS):
        raise EndpointError(f"{url} is a real AWS endpoint; this book only runs against LocalStack. "
                            "Unset AWS_ENDPOINT_URL or point it at a LocalStack.")


def fetch_json(url: str | urllib.request.Request, timeout: float) -> object:
    """The JSON document served at url (or answering a prepared request), or None if there is none."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def answers(url: str, timeout: float = 2.0) -> bool:
    """True if LocalStack answers at url: its health document, and a version (in it, or in /_localstack/info)."""
    health = fetch_json(f"{url}/_localstack/health", timeout)
    if not is_localstack_health(health):
        return False
    if isinstance(health.get("version"), str) and health["version"]:
        return True
    info = fetch_json(f"{url}/_localstack/info", timeout)
    return isinstance(info, dict) and isinstance(info.get("version"), str) and bool(info["version"])


def start_embedded() -> None:
    """Start the book's embedded LocalStack (idempotent)."""
    result = subprocess.run([sys.executable, str(LAUNCHER), "start"], capture_output=True, text=True)
    if result.returncode != 0:
        raise EndpointError(f"LocalStack is not reachable at {DEFAULT} and the embedded engine did not start:\n"
                            f"{result.stderr.strip() or result.stdout.strip()}\n"
                            "Start it by hand with `make engine-start` to see more, or set AWS_ENDPOINT_URL.")


@functools.cache
def endpoint() -> str:
    """The LocalStack endpoint every client uses (cached for the process)."""
    url = explicit()
    if url:
        refuse_real_aws(url)
        if not answers(url):
            raise EndpointError(f"LocalStack is not reachable at {url} (from AWS_ENDPOINT_URL/LOCALSTACK_ENDPOINT); "
                                "start it, or unset the variable to use the book's embedded engine.")
        return url
    if not answers(DEFAULT):
        start_embedded()
    return DEFAULT
