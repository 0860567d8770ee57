"""Where things are in the repository."""

from pathlib import Path

CODE = Path(__file__).resolve().parents[1]
REPO = CODE.parent
FUNCTIONS = CODE / "functions"
LAUNCHER = CODE / "engine" / "ocbook_engine" / "launcher.py"
