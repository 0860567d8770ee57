"""Documented facts the chapters quote next to what they measure, kept as data with a source per row."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


def load(name: str) -> dict:
    """One facts file from code/ocbook/data (without its `_about` note)."""
    facts = json.loads((DATA / f"{name}.json").read_text())
    facts.pop("_about", None)
    return facts
