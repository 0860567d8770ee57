"""Where LocalStack is: an explicit endpoint wins, then one already running, then the embedded engine."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from urllib.parse import urlparse

from ocbook.paths import LAUNCHER

# The embedded engine's address; OCBOOK_ENGINE_PORT moves it (a second engine, a busy 4566).
DEFAULT = f"http://127.0.0.1:{os.environ.get('OCBOOK_ENGINE_PORT', '4566')}"
EXPLICIT_VARIABLES = ("AWS_ENDPOINT_URL", "LOCALSTACK_ENDPOINT")
AWS_DOMAINS = ("amazonaws.com", "amazonaws.com.cn", "api.aws")
# LocalStack's health answer maps service names to these states (localstack.services.plugins.ServiceState).
SERVICE_STATES = {"unknown", "available", "disabled", "starting", "running", "stopping", "stopped", "error"}
KNOWN_SERVICES = {"s3", "sqs", "sns", "lambda", "dynamodb", "events", "kinesis", "stepfunctions", "iam", "sts",
                  "logs", "apigateway", "cloudwatch", "cloudformation"}


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


def is_localstack_health(document: object) -> bool:
    """True if a document has the shape of LocalStack's health answer: service names mapped to service states.

    Anything else that happens to serve JSON with a `services` key (another tool on the port) is not accepted.
    """
    if not isinstance(document, dict):
        return False
    services = document.get("services")
    return (isinstance(services, dict) and bool(KNOWN_SERVICES & set(services))
            and all(isinstance(state, str) and state in SERVICE_STATES for state in services.values()))


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
