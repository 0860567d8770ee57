"""Run many trips through each saga style with concurrency and injected faults; measure; check consistency.

    python -m ocbook.harness --trips 300 --concurrency 8 --levels 1,4,8 --out results/

Each style is deployed in its own Deployment, driven, measured, checked and
torn down, so the two never share a warm function or a table. Ctrl-C stops a
run; what had finished is still written.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from ocbook import saga as sagas
from ocbook import styles, trace, wait
from ocbook.deploy import Deployment

STYLES = styles.names()


@dataclass(frozen=True)
class Settings:
    """One experiment: how many trips, how many in flight at once, which faults."""
    trips: int = 200
    concurrency: int = 8
    permanent: float = 0.1   # probability that a trip has one step that can never be booked
    transient: float = 0.1   # probability, per step, of a transient failure that a retry fixes
    duplicates: float = 0.0  # probability that a trip request is sent twice
    seed: int = 7
    timeout: float = 180     # seconds one trip may take to reach its final status

    def __post_init__(self):
        problems = [f"{name} must be at least 1, got {getattr(self, name)}"
                    for name in ("trips", "concurrency") if getattr(self, name) < 1]
        problems += [f"{name} must be a probability between 0 and 1, got {getattr(self, name)}"
                     for name in ("permanent", "transient", "duplicates") if not 0 <= getattr(self, name) <= 1]
        if problems:
            raise ValueError("; ".join(problems))


class Interrupted(Exception):
    """Ctrl-C while trips were being driven; carries the trips that had finished by then (not measured)."""

    def __init__(self, style: str, driven: list[dict]):
        super().__init__(f"{style} interrupted after {len(driven)} finished trip(s)")
        self.style, self.driven = style, driven


class Stopped(Exception):
    """A trip's wait was abandoned because the run is stopping."""


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


def submit(saga: styles.Style, trip: dict) -> None:
    """Request a trip (twice when it is planned as a duplicate)."""
    request = {k: v for k, v in trip.items() if k != "duplicate"}
    for _ in range(2 if trip["duplicate"] else 1):
        saga.request(request)


def final_status(saga: styles.Style, trip_id: str, timeout: float, stop: threading.Event | None = None) -> str:
    """Wait for the trip's final status (give up at once when `stop` is set)."""
    def status():
        if stop is not None and stop.is_set():
            raise Stopped(trip_id)
        return saga.status(trip_id)

    return wait.poll(status, timeout, interval=0.1, what=f"trip {trip_id} to finish")


def drive(saga: styles.Style, trip: dict, timeout: float, stop: threading.Event | None = None) -> dict:
    """Submit one trip and wait for its end; the client's view of its latency."""
    submitted = time.time()
    submit(saga, trip)
    status = final_status(saga, trip["trip_id"], timeout, stop)
    return {"trip_id": trip["trip_id"], "submitted": submitted, "seen_final": time.time(), "status": status}


def deploy(style: str, deployment: Deployment) -> styles.Style:
    """Deploy one style (by its registered name)."""
    return styles.get(style).deploy(deployment, progress=False)  # its template as a stack, quietly


def settle(saga: styles.Style, quiet_for: float = 1.5, timeout: float = 120) -> None:
    """Wait until no handler has run for `quiet_for` seconds (duplicates and retries have played out)."""
    last = [0, time.monotonic()]

    def quiet():
        count = len(wait.items(saga.trace))
        if count != last[0]:
            last[:] = [count, time.monotonic()]
        return time.monotonic() - last[1] >= quiet_for

    wait.poll(quiet, timeout, interval=0.5, what="the saga to go quiet")


def measure(saga: styles.Style, driven: list[dict], plans: dict[str, dict]) -> pd.DataFrame:
    """Per trip: latency, invocations, the style's work units (0 for other styles' units), time to compensate."""
    records = trace.records(saga.trace)
    rows = []
    for run in driven:
        trip_id = run["trip_id"]
        mine = records[records["trip"] == trip_id]
        refused = mine[mine["outcome"] == "refused"]
        injected = ",".join(f"{k}:{v}" for k, v in sorted(plans[trip_id]["fail"].items()))
        row = {**run, "style": saga.name, "injected": injected, "duplicate": plans[trip_id]["duplicate"],
               "invocations": len(mine), **dict.fromkeys(styles.units(), 0)}
        work = saga.work(trip_id, mine, requests=2 if plans[trip_id]["duplicate"] else 1)
        finished = work.pop("finished")
        finished = run["seen_final"] if finished is None else finished  # no record of the end: the client's view
        row.update(work)
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
        driven: list[dict] = []
        stop = threading.Event()
        pool = ThreadPoolExecutor(settings.concurrency)
        try:
            futures = [pool.submit(drive, saga, trip, settings.timeout, stop) for trip in trips]
            for future in tqdm(as_completed(futures), total=len(futures), desc=style, disable=not progress,
                               mininterval=1.0):
                driven.append(future.result())
        except KeyboardInterrupt:
            stop.set()  # trips in flight stop waiting; trips not started are cancelled
            raise Interrupted(style, driven) from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        wall = max(r["seen_final"] for r in driven) - began
        settle(saga)
        frame = measure(saga, driven, plans)
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
        "confirmed": int((frame["status"] == "CONFIRMED").sum()),
        "cancelled": int((frame["status"] == "CANCELLED").sum()),
        "p50_s": round(float(latency.quantile(0.50)), 3), "p95_s": round(float(latency.quantile(0.95)), 3),
        "p99_s": round(float(latency.quantile(0.99)), 3),
        "compensate_p50_s": round(float(compensated.median()), 3) if len(compensated) else None,
        "throughput_per_s": round(len(frame) / result.wall_seconds, 2),
        "invocations_per_trip": round(float(frame["invocations"].mean()), 2),
        **{f"{unit}_per_trip": round(float(frame[unit].mean()), 2) for unit in styles.units()},
        "violations": len(result.violations),
    }


def compare(settings: Settings, progress: bool = True) -> list[Result]:
    """Both styles under the same settings (the same planned trips and faults)."""
    return [run_style(style, settings, progress) for style in STYLES]


def ratios(results: list[Result]) -> pd.DataFrame:
    """Each figure for every style, and each later style's ratio to the first (e.g. choreographed / orchestrated)."""
    table = pd.DataFrame([r.summary for r in results]).set_index("style").astype(object).T  # keep ints as ints
    numeric = table.apply(pd.to_numeric, errors="coerce")
    first, *others = list(table.columns)
    for other in others:
        table[f"{other} / {first}"] = (numeric[other] / numeric[first]).where(numeric[first] != 0).round(2)
    return table


def machine() -> str:
    """Where the figures come from: this machine and the LocalStack really used."""
    return (f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores), Python {platform.python_version()}, "
            f"{engine_used()}")


def engine_used() -> str:
    """The endpoint in use and what it is: the book's embedded engine, an explicit endpoint, or another LocalStack."""
    from ocbook import engine
    from ocbook.endpoints import endpoint, explicit, fetch_json

    url = endpoint()
    health = fetch_json(f"{url}/_localstack/health", timeout=5)
    version = health.get("version") if isinstance(health, dict) else None
    ours = engine.time_scale() is not None
    kind = ("the book's embedded engine" if ours and not explicit()
            else "the book's engine, named by AWS_ENDPOINT_URL/LOCALSTACK_ENDPOINT" if ours
            else "a LocalStack named by AWS_ENDPOINT_URL/LOCALSTACK_ENDPOINT" if explicit()
            else "a LocalStack already running")
    return f"LocalStack {version or '(version unknown)'} at {url}, {kind}"


def at_least_one(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def probability(text: str) -> float:
    """argparse type: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value:g}")
    return value


def level_list(text: str) -> list[int]:
    """argparse type: comma-separated concurrency levels, each >= 1."""
    try:
        levels = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be whole numbers separated by commas (e.g. 1,4,8), got {text!r}") \
            from None
    if min(levels) < 1:
        raise argparse.ArgumentTypeError(f"every level must be at least 1, got {text!r}")
    return levels


def parser() -> argparse.ArgumentParser:
    """The command line; defaults come from Settings, so the function and the CLI agree."""
    default = {f.name: f.default for f in dataclasses.fields(Settings)}
    cli = argparse.ArgumentParser(prog="python -m ocbook.harness", description=__doc__.splitlines()[0],
                                  formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    cli.add_argument("--trips", type=at_least_one, default=default["trips"], help="trips per style and level")
    cli.add_argument("--concurrency", type=at_least_one, default=default["concurrency"], help="trips in flight")
    cli.add_argument("--levels", type=level_list, default=argparse.SUPPRESS,
                     help="comma-separated concurrency levels to sweep, e.g. 1,4,8 (default: --concurrency only)")
    cli.add_argument("--permanent", type=probability, default=default["permanent"],
                     help="probability that a trip has a step that can never be booked")
    cli.add_argument("--transient", type=probability, default=default["transient"],
                     help="probability per step of a failure that a retry fixes")
    cli.add_argument("--duplicates", type=probability, default=default["duplicates"],
                     help="probability that a trip request is sent twice")
    cli.add_argument("--seed", type=int, default=default["seed"], help="seed of the planned trips and faults")
    cli.add_argument("--timeout", type=float, default=default["timeout"], help="seconds one trip may take")
    cli.add_argument("--out", default="results", help="folder for trips.csv and summary.json")
    return cli


def write(out: Path, frames: list[pd.DataFrame], report: dict) -> list[Path]:
    """Write trips.csv (if any trip finished) and summary.json; return the files written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if frames:
        pd.concat(frames).to_csv(out / "trips.csv", index=False)
        written.append(out / "trips.csv")
    (out / "summary.json").write_text(json.dumps(report, indent=2, default=str))
    return [*written, out / "summary.json"]


def main(argv: list[str] | None = None) -> int:
    """Command line: run the comparison, optionally at several concurrency levels; write CSV and JSON."""
    args = parser().parse_args(argv)
    levels = getattr(args, "levels", None) or [args.concurrency]
    summaries: list[dict] = []
    frames: list[pd.DataFrame] = []
    runs = [Settings(args.trips, level, args.permanent, args.transient, args.duplicates, args.seed, args.timeout)
            for level in levels]
    interrupted, where, level = None, "deployment", levels[0]
    try:
        for settings in runs:
            level = settings.concurrency
            for style in STYLES:
                where = f"{style} at concurrency {level}"
                result = run_style(style, settings)
                summaries.append({**result.summary, "violations_list": result.violations})
                frames.append(result.trips.assign(concurrency=level))
                print(json.dumps(result.summary), flush=True)
    except Interrupted as stop:
        interrupted = f"interrupted during {where}; {len(stop.driven)} of its trips had finished (not measured)"
        if stop.driven:
            frames.append(pd.DataFrame(stop.driven).assign(style=stop.style, concurrency=level, measured=False))
    except KeyboardInterrupt:
        interrupted = f"interrupted during {where} (deploying, settling or measuring)"
    report = {"machine": machine(), "settings": asdict(runs[0]), "levels": levels, "results": summaries,
              "interrupted": interrupted}
    files = write(Path(args.out), frames, report)
    if interrupted:
        print(f"{interrupted}; wrote the {len(summaries)} finished run(s) to {' and '.join(map(str, files))}",
              file=sys.stderr)
        return 130
    print(f"wrote {' and '.join(map(str, files))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
