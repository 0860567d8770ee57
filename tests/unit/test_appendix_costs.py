"""The appendix's dollars per million trips are the stored experiment's, priced with the current price file."""

from __future__ import annotations

import re

from ocbook import experiment
from ocbook.paths import REPO

ROWS = {"orchestrated (Standard workflow)": "orchestrated",
        "orchestrated, the same definition as an Express workflow": "orchestrated (Express)",
        "choreographed": "choreographed", "durable": "durable"}


def appendix_costs() -> dict[str, float]:
    """The cost table of chapters/appendix_aws.md: stack -> USD per million trips."""
    text = (REPO / "chapters" / "appendix_aws.md").read_text()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^\| ([^|]+?) \| ([\d.]+) \|$", text, re.M)}


def test_the_appendix_shows_the_stored_runs_costs():
    stored = experiment.load()
    assert stored is not None, "no stored run in results/experiment: run `make experiment`"
    shown = appendix_costs()
    assert set(shown) == set(ROWS), shown
    for row, style in ROWS.items():
        assert shown[row] == round(float(stored["costs"].loc[style, "total"]), 2), (row, stored["costs"]["total"])
    assert stored["summary"]["date_utc"].startswith("2026-11-28")  # the date the appendix names
