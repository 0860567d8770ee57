"""Run a command with a LocalStack available; stop the embedded engine afterwards if this started it.

    python -m ocbook.with_engine -- jupyter-book build .
"""

from __future__ import annotations

import subprocess
import sys

from ocbook.endpoints import DEFAULT, EndpointError, answers, endpoint, explicit, start_embedded
from ocbook.paths import LAUNCHER


def main(argv: list[str]) -> int:
    """Ensure an engine, run argv, stop what we started; exit with the command's code."""
    command = argv[1:] if argv[:1] == ["--"] else argv
    if not command:
        print("usage: python -m ocbook.with_engine -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    started = False
    if not explicit() and not answers(DEFAULT):
        try:
            start_embedded()
        except EndpointError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        started = True
    try:
        url = endpoint()
    except EndpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"[book] using LocalStack at {url}" + (" (embedded, started for this command)" if started else ""),
          flush=True)
    try:
        return subprocess.call(command)
    finally:
        if started:
            subprocess.call([sys.executable, str(LAUNCHER), "stop"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
