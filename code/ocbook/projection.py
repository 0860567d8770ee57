"""What a trip's latency would have been with AWS's documented waits instead of the engine's shortened ones.

Only waits the engine compresses are replaced: Lambda's asynchronous retry delays (the choreographed
services recover from a transient failure that way) and EventBridge's delivery back-off (no delivery fault
is injected by the harness, so it never occurs here). Step Functions `Retry` intervals run in real time on
both, so an orchestrated trip's projection is its measurement.
"""

from __future__ import annotations

import pandas as pd

from ocbook.facts import load

OK_OUTCOMES = ("ok", "refused")


def lambda_retry_waits() -> list[float]:
    """AWS's waits before the 1st, 2nd ... asynchronous retry, in seconds (from data/prices.json)."""
    return [float(s) for s in load("prices")["aws_waits"]["lambda_async_retry_s"]["values"]]


def async_retries(records: pd.DataFrame, finished: float) -> list[dict]:
    """The asynchronous retries in one trip's trace records that happened before it finished: for each,
    which retry of its event it was (1, 2 ...) and the engine's measured wait (failure's end -> retry's start)."""
    found = []
    runs = records.sort_values("started")
    for (_, _), attempts in runs.groupby(["service", "event_in"], sort=False):
        attempts = attempts.sort_values("started").reset_index(drop=True)
        for n in range(1, len(attempts)):
            failed, retry = attempts.iloc[n - 1], attempts.iloc[n]
            if failed["outcome"] not in OK_OUTCOMES and failed["ended"] <= finished:
                found.append({"retry": n, "waited_s": max(0.0, retry["started"] - failed["ended"])})
    return found


def projected_latency(measured: float, retries: list[dict], waits: list[float] | None = None) -> float:
    """The measured latency with each measured retry wait replaced by AWS's wait for that retry."""
    waits = lambda_retry_waits() if waits is None else waits
    return measured + sum(waits[min(r["retry"], len(waits)) - 1] - r["waited_s"] for r in retries)


def project(trips: pd.DataFrame, records: pd.DataFrame, asynchronous: bool,
            waits: list[float] | None = None) -> pd.Series:
    """Per trip (rows of a measured frame): its AWS-projected latency in seconds. `asynchronous` says whether the
    style recovers through Lambda's asynchronous retries (choreography) rather than a Step Functions Retry."""
    if not asynchronous:
        return trips["latency_s"].astype(float)
    waits = lambda_retry_waits() if waits is None else waits
    by_trip = dict(tuple(records.groupby("trip")))
    projected = []
    for row in trips.itertuples():
        mine = by_trip.get(row.trip_id)
        retries = [] if mine is None else async_retries(mine, row.submitted + row.latency_s)
        projected.append(projected_latency(float(row.latency_s), retries, waits))
    return pd.Series(projected, index=trips.index, dtype=float)
