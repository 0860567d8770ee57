"""JupyterLab on the chapters (`make lab`): a LocalStack first, then Lab; an engine started here stops with Lab.

    python -m ocbook.lab --port 8888
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from ocbook.endpoints import DEFAULT, EndpointError, answers, endpoint, explicit, start_embedded
from ocbook.paths import LAUNCHER, REPO

CONFIG_DIR = REPO / ".jupyter"  # jupyter_server_config.py, labconfig/ (chapters open as notebooks)
READY_TIMEOUT = 90.0


def front_matter(text: str) -> tuple[str, str]:
    """Split a MyST file into its YAML header (with the --- lines) and the rest; no header gives ''."""
    if not text.startswith("---\n"):
        return "", text
    end = text.find("\n---\n", 3)
    return (text[:end + 5], text[end + 5:]) if end > 0 else ("", text)


def header_meaning(header: str) -> dict | None:
    """The header as data, minus what Lab restates on every save: jupytext's version, the kernel's label."""
    try:
        data = yaml.safe_load(header.strip().strip("-")) or {}
    except yaml.YAMLError:
        return None
    data.get("jupytext", {}).get("text_representation", {}).pop("jupytext_version", None)
    data.get("kernelspec", {}).pop("display_name", None)
    return data


def keep_front_matter(model: dict, path: str, contents_manager, **kwargs) -> None:
    """Pre-save hook: keep a chapter's header byte for byte when Lab only restated it (order, label, version)."""
    if model.get("type") != "file" or not path.endswith(".md") or not isinstance(model.get("content"), str):
        return
    on_disk = Path(contents_manager._get_os_path(path))
    if not on_disk.is_file():
        return
    old_header, _ = front_matter(on_disk.read_text(encoding="utf-8"))
    new_header, body = front_matter(model["content"])
    if old_header and new_header and header_meaning(old_header) == header_meaning(new_header):
        model["content"] = old_header + body


def port_is_free(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:port."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def lab_environment(token: str) -> dict[str, str]:
    """The environment Lab runs in: the project's config only, the venv's kernel first."""
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(CONFIG_DIR), JUPYTER_PREFER_ENV_PATH="1", JUPYTER_TOKEN=token)
    env.setdefault("JUPYTERLAB_SETTINGS_DIR", str(CONFIG_DIR / "lab" / "user-settings"))
    env.setdefault("JUPYTERLAB_WORKSPACES_DIR", str(CONFIG_DIR / "lab" / "workspaces"))
    return env


def wait_ready(lab: subprocess.Popen, url: str, timeout: float = READY_TIMEOUT) -> bool:
    """Poll Lab's status API until it answers; False if Lab exited or the timeout passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and lab.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    return False


def run(port: int) -> int:
    """Ensure a LocalStack, run Lab until it stops, stop the engine if this started it."""
    if not port_is_free(port):
        print(f"error: port {port} is taken; choose another one: make lab LAB_PORT={port + 1}", file=sys.stderr)
        return 1
    started = False
    try:
        if not explicit() and not answers(DEFAULT):
            start_embedded()
            started = True
        url = endpoint()
    except EndpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_urlsafe(24)
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.port={port}"]
    try:
        lab = subprocess.Popen(command, cwd=REPO, env=lab_environment(token))
        # Ctrl-C reaches Lab directly (same terminal): it asks, shuts its kernels down, exits; we then clean up.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for stop in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(stop, lambda signum, frame: lab.send_signal(signal.SIGTERM))
        if wait_ready(lab, f"http://127.0.0.1:{port}/api/status?token={token}"):
            engine = f"{url} (embedded, stops with JupyterLab)" if started else url
            print(f"\n[lab] JupyterLab: http://127.0.0.1:{port}/lab?token={token}\n"
                  f"[lab] chapters open as notebooks (kernel: the book's .venv); LocalStack: {engine}\n"
                  "[lab] stop with Ctrl-C twice\n", flush=True)
        elif lab.poll() is None:
            print(f"error: JupyterLab did not answer on port {port} within {READY_TIMEOUT:.0f} s", file=sys.stderr)
            lab.terminate()
        code = lab.wait()
        return 0 if -code in (signal.SIGINT, signal.SIGTERM) else code  # stopped the usual way: not a failure
    finally:
        if started:
            subprocess.call([sys.executable, str(LAUNCHER), "stop"])


def main(argv: list[str]) -> int:
    """Parse the port and run."""
    parser = argparse.ArgumentParser(prog="python -m ocbook.lab", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8888)
    return run(parser.parse_args(argv).port)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
