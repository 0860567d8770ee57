"""Run many trips through each saga style with concurrency and injected faults; measure; check consistency.

    python -m ocbook.harness --trips 300 --concurrency 8 --levels 1,4,8 --out results/

Each style is deployed in its own Deployment, driven, measured, checked and
torn down, so the two never share a warm function or a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from ocbook import saga as sagas
from ocbook import stepfunctions, trace, wait
from ocbook.clients import client
from ocbook.deploy import Deployment

STYLES = ("orchestrated", "choreographed")


@dataclass(frozen=True)
class Settings:
    """One experiment: how many trips, how many in flight at once, which faults."""
    trips: int = 200
    concurrency: int = 8
    permanent: float = 0.1   # probability that a trip has one step that can never be booked
    transient: float = 0.1   # probability, per step, of a transient failure that a retry fixes
    duplicates: float = 0.0  # probability that a trip request is sent twice
    seed: int = 7
    timeout: float = 180


@dataclass
class Result:
    """What one style did under one Settings."""
    style: str
    settings: Settings
    trips: pd.DataFrame
    violations: list[str]
    wall_seconds: float
    summary: dict = field(default_factory=dict)


def plan(settings: Settings, prefix: str) -> list[dict]:
    """The trips to run: the same for both styles given the same settings (seeded)."""
    rng = random.Random(settings.seed)
    trips = []
    for n in range(settings.trips):
        fail = {}
        if rng.random() < settings.permanent:
            fail[rng.choice(sagas.SERVICES)] = "permanent"
        for step in sagas.SERVICES:
            if step not in fail and rng.random() < settings.transient:
                fail[step] = "transient"
        trips.append({"trip_id": f"{prefix}-{n:04d}", "amount": 100 + rng.randrange(800), "fail": fail,
                      "duplicate": rng.random() < settings.duplicates})
    return trips


def submit(saga: sagas.Saga, trip: dict) -> None:
    """Request a trip (twice when it is planned as a duplicate)."""
    request = {k: v for k, v in trip.items() if k != "duplicate"}
    for _ in range(2 if trip["duplicate"] else 1):
        if saga.state_machine:  # a named execution: starting it again with the same input is a no-op
            client("stepfunctions").start_execution(stateMachineArn=saga.state_machine, name=trip["trip_id"],
                                                    input=json.dumps(request))
        else:
            sagas.request(saga, request)


def final_status(saga: sagas.Saga, trip_id: str, timeout: float) -> str:
    """Wait for the trip's final status in the trips table."""
    ddb = client("dynamodb")

    def status():
        item = ddb.get_item(TableName=saga.trips, Key={"pk": {"S": trip_id}}, ConsistentRead=True).get("Item")
        return item["status"]["S"] if item else None

    return wait.poll(status, timeout, interval=0.1, what=f"trip {trip_id} to finish")


def drive(saga: sagas.Saga, trip: dict, timeout: float) -> dict:
    """Submit one trip and wait for its end; the client's view of its latency."""
    submitted = time.time()
    submit(saga, trip)
    status = final_status(saga, trip["trip_id"], timeout)
    return {"trip_id": trip["trip_id"], "submitted": submitted, "seen_final": time.time(), "status": status}


def deploy(style: str, deployment: Deployment) -> sagas.Saga:
    """Deploy one style."""
    return sagas.orchestrated(deployment) if style == "orchestrated" else sagas.choreographed(deployment)


def settle(saga: sagas.Saga, quiet_for: float = 1.5, timeout: float = 120) -> None:
    """Wait until no handler has run for `quiet_for` seconds (duplicates and retries have played out)."""
    last = [0, time.monotonic()]

    def quiet():
        count = len(wait.items(saga.trace))
        if count != last[0]:
            last[:] = [count, time.monotonic()]
        return time.monotonic() - last[1] >= quiet_for

    wait.poll(quiet, timeout, interval=0.5, what="the saga to go quiet")


def execution_arn(saga: sagas.Saga, trip_id: str) -> str:
    """The ARN of the execution named after a trip."""
    return f"{saga.state_machine.replace(':stateMachine:', ':execution:')}:{trip_id}"


def measure(saga: sagas.Saga, style: str, driven: list[dict], plans: dict[str, dict]) -> pd.DataFrame:
    """Per trip: latency, invocations, events or state transitions, and time to compensate."""
    records = trace.records(saga.trace)
    rows = []
    for run in driven:
        trip_id = run["trip_id"]
        mine = records[records["trip"] == trip_id]
        refused = mine[mine["outcome"] == "refused"]
        row = {**run, "style": style, "injected": ",".join(f"{k}:{v}" for k, v in sorted(plans[trip_id]["fail"].items())),
               "duplicate": plans[trip_id]["duplicate"], "invocations": len(mine)}
        if style == "orchestrated":
            history = stepfunctions.events(execution_arn(saga, trip_id))
            finished = history[-1]["timestamp"].timestamp()
            row.update(transitions=sum(e["type"].endswith("StateEntered") for e in history), events=0)
        else:
            closing = mine[mine["service"] == "trip"]
            finished = closing["ended"].min() if len(closing) else run["seen_final"]
            requests = 2 if plans[trip_id]["duplicate"] else 1
            row.update(transitions=0, events=requests + sum(len(out) for out in mine["events_out"]))
        row["latency_s"] = finished - run["submitted"]
        row["compensate_s"] = finished - refused["ended"].min() if len(refused) else None
        rows.append(row)
    return pd.DataFrame(rows)


def run_style(style: str, settings: Settings, progress: bool = True) -> Result:
    """Deploy one style, drive every planned trip through it, measure, check the invariant, tear down."""
    with Deployment(f"h-{style[:5]}") as deployment:
        saga = deploy(style, deployment)
        trips = plan(settings, f"{style[0]}{deployment.uid}")
        plans = {t["trip_id"]: t for t in trips}
        began = time.time()
        driven = []
        with ThreadPoolExecutor(settings.concurrency) as pool:
            futures = [pool.submit(drive, saga, trip, settings.timeout) for trip in trips]
            for future in tqdm(as_completed(futures), total=len(futures), desc=style, disable=not progress,
                               mininterval=1.0):
                driven.append(future.result())
        wall = max(r["seen_final"] for r in driven) - began
        settle(saga)
        frame = measure(saga, style, driven, plans)
        violations = sagas.violations(sagas.bookings(saga, list(plans)))
        result = Result(style, settings, frame, violations, wall)
        result.summary = summarise(result)
        return result


def summarise(result: Result) -> dict:
    """The figures of one run."""
    frame = result.trips
    latency = frame["latency_s"].astype(float)
    compensated = frame["compensate_s"].dropna().astype(float)
    return {
        "style": result.style, "trips": len(frame), "concurrency": result.settings.concurrency,
        "confirmed": int((frame["status"] == "CONFIRMED").sum()), "cancelled": int((frame["status"] == "CANCELLED").sum()),
        "p50_s": round(float(latency.quantile(0.50)), 3), "p95_s": round(float(latency.quantile(0.95)), 3),
        "p99_s": round(float(latency.quantile(0.99)), 3),
        "compensate_p50_s": round(float(compensated.median()), 3) if len(compensated) else None,
        "throughput_per_s": round(len(frame) / result.wall_seconds, 2),
        "invocations_per_trip": round(float(frame["invocations"].mean()), 2),
        "events_per_trip": round(float(frame["events"].mean()), 2),
        "transitions_per_trip": round(float(frame["transitions"].mean()), 2),
        "violations": len(result.violations),
    }


def compare(settings: Settings, progress: bool = True) -> list[Result]:
    """Both styles under the same settings (the same planned trips and faults)."""
    return [run_style(style, settings, progress) for style in STYLES]


def ratios(results: list[Result]) -> pd.DataFrame:
    """Each figure for both styles and the choreographed/orchestrated ratio."""
    table = pd.DataFrame([r.summary for r in results]).set_index("style").astype(object).T  # keep ints as ints
    numeric = table.apply(pd.to_numeric, errors="coerce")
    ratio = numeric["choreographed"] / numeric["orchestrated"]
    table["choreographed / orchestrated"] = ratio.where(numeric["orchestrated"] != 0).round(2)
    return table


def machine() -> str:
    """Where the figures come from."""
    import os

    return (f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores), LocalStack 2026.3.0 embedded "
            f"engine, Python {platform.python_version()}")


def main(argv: list[str] | None = None) -> None:
    """Command line: run the comparison, optionally at several concurrency levels; write CSV and JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trips", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--levels", default="", help="comma-separated concurrency levels to sweep")
    parser.add_argument("--permanent", type=float, default=0.1)
    parser.add_argument("--transient", type=float, default=0.1)
    parser.add_argument("--duplicates", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default="results")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",") if x] or [args.concurrency]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summaries, frames = [], []
    for level in levels:
        settings = Settings(args.trips, level, args.permanent, args.transient, args.duplicates, args.seed)
        for result in compare(settings):
            summaries.append({**result.summary, "violations_list": result.violations})
            frames.append(result.trips.assign(concurrency=level))
            print(json.dumps(result.summary))
    pd.concat(frames).to_csv(out / "trips.csv", index=False)
    (out / "summary.json").write_text(json.dumps({"machine": machine(), "settings": asdict(settings),
                                                   "levels": levels, "results": summaries}, indent=2, default=str))
    print(f"wrote {out / 'trips.csv'} and {out / 'summary.json'}")


if __name__ == "__main__":
    main()
