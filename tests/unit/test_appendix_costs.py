"""The appendix's dollars per million trips are the stored experiment's, priced with the current price file."""

from __future__ import annotations

import re

import pytest

from ocbook import appendix, cost, experiment


@pytest.fixture(scope="module")
def stored() -> dict:
    found = experiment.load()
    assert found is not None, "no stored run in results/experiment: run `make experiment`"
    return found


def shown(text: str) -> dict[str, float]:
    """The cost table of a page: stack -> USD per million trips."""
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^\| ([^|]+?) \| ([\d.]+) \|", text, re.M)}


def test_the_appendix_shows_the_stored_runs_costs(stored):
    text = appendix.PAGE.read_text()
    assert appendix.block(stored) in text, "the appendix's cost table is stale: run `make appendix` and commit it"
    rows = shown(text)
    assert set(rows) == set(appendix.ROWS.values()), rows
    for style, row in appendix.ROWS.items():
        assert rows[row] == round(float(stored["costs"].loc[style, "total"]), 2), (row, stored["costs"]["total"])


def test_a_price_change_makes_the_table_stale(stored, monkeypatch):
    text = appendix.PAGE.read_text()
    assert appendix.block(stored) in text  # positive control: current as committed
    prices = cost.prices()
    dearer = {**prices, "prices": {**prices["prices"], "stepfunctions_standard_transition": {
        **prices["prices"]["stepfunctions_standard_transition"], "usd": 5e-05}}}
    monkeypatch.setattr(cost, "prices", lambda: dearer)
    changed = {**stored, "costs": experiment.costs(stored["run"])}  # priced again, as load() prices them
    assert appendix.block(changed) not in text
    assert shown(appendix.block(changed))["orchestrated (Standard workflow)"] > \
        shown(text)["orchestrated (Standard workflow)"]


def test_rewriting_replaces_only_the_part_between_the_markers():
    page = f"before\n{appendix.BEGIN}\nold table\n{appendix.END}\nafter\n"
    assert appendix.written(page, f"{appendix.BEGIN}\nnew\n{appendix.END}") == \
        f"before\n{appendix.BEGIN}\nnew\n{appendix.END}\nafter\n"
    with pytest.raises(ValueError, match="markers"):
        appendix.written("no markers here", "x")
