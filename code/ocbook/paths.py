"""Where things are in the repository (and where the embedded engine keeps its log)."""

import os
from pathlib import Path

CODE = Path(__file__).resolve().parents[1]
REPO = CODE.parent
FUNCTIONS = CODE / "functions"
LAUNCHER = CODE / "engine" / "ocbook_engine" / "launcher.py"
ENGINE_HEALTH = LAUNCHER.with_name("health.py")  # stdlib only: shared by the launcher and ocbook.endpoints


def engine_log_file() -> Path:
    """The embedded engine's log for the port in use (the launcher writes logs/localstack-<port>.log)."""
    home = Path(os.environ.get("OCBOOK_ENGINE_HOME") or REPO / ".engine")
    return home / "logs" / f"localstack-{os.environ.get('OCBOOK_ENGINE_PORT') or '4566'}.log"
