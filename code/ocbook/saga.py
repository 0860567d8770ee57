"""The travel-booking saga, whatever its style: its bookings, its invariant, what a change touched.

Deploying and driving a saga is its style's business (ocbook.styles); the functions here work on any style.
"""

from __future__ import annotations

import pandas as pd

from ocbook import wait
from ocbook.deploy import Deployment
from ocbook.styles import SERVICES, Style

__all__ = ["SERVICES", "add_step", "bookings", "changes", "request", "violations", "wait_final", "wiring"]


def request(saga: Style, trip: dict) -> None:
    """Start a trip (the same as saga.request(trip))."""
    saga.request(trip)


def wait_final(saga: Style, trip_ids: list[str], timeout: float = 90) -> dict[str, str]:
    """Wait until every trip has a final status in the trips table; return them (saga.wait_final)."""
    return saga.wait_final(trip_ids, timeout)


def bookings(saga: Style, trip_ids: list[str] | None = None) -> pd.DataFrame:
    """One row per trip: the status of its booking in each service's table and its recorded final status."""
    rows: dict[str, dict] = {}
    for service, table in saga.tables.items():
        for item in wait.items(table):
            if "#" not in item["pk"]:  # skip attempt counters
                rows.setdefault(item["pk"], {})[service] = item["status"]
    for item in wait.items(saga.trips):
        rows.setdefault(item["pk"], {})["trip"] = item["status"]
    frame = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=[*saga.tables, "trip"])
    frame = frame.astype(object).fillna("-")  # a column no trip wrote is all NaN (float): make it text first
    frame.index.name = "trip_id"
    if trip_ids is not None:
        frame = frame.reindex(trip_ids).astype(object).fillna("-")
    return frame.sort_index()


def violations(table: pd.DataFrame, alerted: set[str] = frozenset()) -> list[str]:
    """Trips breaking the invariant: confirmed => all three BOOKED; otherwise none left BOOKED.

    Trips for which a compensation failed and a human was alerted are reported as such, not hidden. A trip
    NEEDS_ATTENTION (a step after the pivot failed for good: the saga stopped without undoing anything) is
    accepted only if a human was alerted about it.
    """
    from booking.definition import NEEDS_ATTENTION

    found = []
    services = [c for c in table.columns if c != "trip"]
    for trip_id, row in table.iterrows():
        booked = [s for s in services if row[s] == "BOOKED"]
        if row["trip"] == NEEDS_ATTENTION:
            if trip_id not in alerted:
                found.append(f"{trip_id}: {NEEDS_ATTENTION} but no human was alerted "
                             f"({', '.join(booked) or 'nothing'} booked)")
        elif row["trip"] == "CONFIRMED" and len(booked) != len(services):
            found.append(f"{trip_id}: confirmed but only {booked or 'nothing'} booked")
        elif row["trip"] != "CONFIRMED" and booked:
            note = " (alerted: waiting for a human)" if trip_id in alerted else ""
            found.append(f"{trip_id}: {row['trip']} but {', '.join(booked)} still booked{note}")
    return found


def add_step(deployment: Deployment, saga: Style, step: str) -> None:
    """Add a booking step after the last one, the way the saga's style has to (saga.add_step)."""
    if deployment is not saga.deployment:
        raise ValueError("add_step: the deployment must be the one the saga was deployed in")
    saga.add_step(step)


def wiring(saga: Style) -> dict[str, str]:
    """What defines the saga's flow, read back from the engine (saga.wiring)."""
    return saga.wiring()


def changes(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str]]:
    """Which artefacts a change added and which it modified."""
    return {"added": sorted(set(after) - set(before)),
            "modified": sorted(k for k in before if k in after and before[k] != after[k])}
