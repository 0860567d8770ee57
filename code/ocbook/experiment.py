"""Every saga style, run in interleaved repetitions after a warm-up, with bootstrap intervals, AWS-projected
latency, dollars per trip and the consistency check after duplicated and reordered events.

    python -m ocbook.experiment --trips 100 --repetitions 5 --concurrency 8 --out results/experiment

One deployment per style for the whole run; the styles take turns batch by batch (A, B, A, B ...), so a
drift of the machine hits all of them. The warm-up batch (cold starts) is measured and reported apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ocbook import cost, harness, projection, stats, styles, trace
from ocbook import saga as sagas
from ocbook.clients import all_pages, client
from ocbook.deploy import Deployment

WARM_UP = "warm-up"
MEASURED = "measured"
# figure -> (column of the trips frame, statistic, label for sentences)
TRIP_FIGURES = {
    "p50_s": ("latency_s", stats.quantile(0.50), "median latency"),
    "p95_s": ("latency_s", stats.quantile(0.95), "95th-percentile latency"),
    "p99_s": ("latency_s", stats.quantile(0.99), "99th-percentile latency"),
    "projected_p50_s": ("projected_s", stats.quantile(0.50), "AWS-projected median latency"),
    "projected_p95_s": ("projected_s", stats.quantile(0.95), "AWS-projected 95th-percentile latency"),
    "projected_p99_s": ("projected_s", stats.quantile(0.99), "AWS-projected 99th-percentile latency"),
    "compensate_p50_s": ("compensate_s", stats.quantile(0.50), "median time to compensate"),
    "invocations_per_trip": ("invocations", stats.mean, "Lambda invocations per trip"),
    "events_per_trip": ("events", stats.mean, "events published per trip"),
    "transitions_per_trip": ("transitions_billed", stats.mean, "billed state transitions per trip"),
    "durable_operations_per_trip": ("durable_operations", stats.mean, "durable operations per trip"),
    "usd_per_million_trips": ("usd_per_million", stats.mean,
                              "USD per million trips (state machines priced as Standard)"),
    "usd_express_per_million_trips": ("usd_express_per_million", stats.mean,
                                      "USD per million trips (state machines priced as Express)"),
}
BATCH_FIGURES = {"throughput_per_s": ("throughput_per_s", stats.mean, "throughput")}
LABELS = {name: spec[2] for name, spec in {**TRIP_FIGURES, **BATCH_FIGURES}.items()}


@dataclass(frozen=True)
class Design:
    """The experiment: per repetition and style `settings.trips` trips; a warm-up batch first."""
    settings: harness.Settings = harness.Settings(trips=16, concurrency=4, duplicates=0.05)
    repetitions: int = 3
    warmup: int = 4
    reordered: float = 0.05  # probability that a trip gets one of its events again after it closed

    def __post_init__(self):
        if self.repetitions < 1 or self.warmup < 0 or not 0 <= self.reordered <= 1:
            raise ValueError(f"repetitions must be >= 1, warmup >= 0 and reordered in [0, 1]; got "
                             f"{self.repetitions}, {self.warmup}, {self.reordered}")

    @property
    def trips_per_style(self) -> int:
        """Measured trips per style (warm-up not counted)."""
        return self.repetitions * self.settings.trips


@dataclass
class Run:
    """What an experiment produced: every trip of every style, the batches, the checks, where it ran."""
    design: Design
    styles: tuple[str, ...]
    trips: pd.DataFrame
    batches: pd.DataFrame
    violations: dict[str, list[str]]
    disturbed: dict[str, dict]
    about: dict = field(default_factory=dict)


def where() -> dict:
    """The machine, the date (UTC) and the endpoint this run really used."""
    from ocbook import engine

    return {"machine": harness.machine(), "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "endpoint": harness.engine_used(), "time_scale": engine.time_scale()}


def drive_batch(saga: styles.Style, trips: list[dict], concurrency: int, timeout: float) -> tuple[list[dict], float]:
    """Drive a batch of trips with `concurrency` in flight; the client's view of each, and the batch's wall time."""
    began = time.time()
    with ThreadPoolExecutor(concurrency) as pool:
        driven = list(pool.map(lambda trip: harness.drive(saga, trip, timeout), trips))
    return driven, max(r["seen_final"] for r in driven) - began


def lambda_reports(function_name: str) -> tuple[float, float]:
    """Mean billed duration (ms) and memory size (MB) from a function's REPORT lines (0, 0 if none)."""
    lines = all_pages(client("logs"), "filter_log_events", "events", logGroupName=f"/aws/lambda/{function_name}",
                      filterPattern="REPORT")
    billed = [float(m.group(1)) for e in lines
              if (m := re.search(r"Billed Duration: (\d+(?:\.\d+)?) ms", e["message"]))]
    memory = [float(m.group(1)) for e in lines if (m := re.search(r"Memory Size: (\d+) MB", e["message"]))]
    return (float(np.mean(billed)) if billed else 0.0, float(np.mean(memory)) if memory else 0.0)


def queue_messages(url: str) -> int:
    """Messages a queue received and still holds (visible or in flight)."""
    found = client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return sum(int(v) for v in found.values())


def units(saga: styles.Style, frame: pd.DataFrame, records: pd.DataFrame, plans: dict[str, dict]) -> pd.DataFrame:
    """Per trip, the billed units of what ran (see the chapter for what each counts and leaves out): the services'
    (Lambda, events, the bookings' writes, alerts) plus what the style adds (Style.billed)."""
    reports = {service: lambda_reports(fn.name) for service, fn in saga.functions.items()}
    runs = records.groupby(["trip", "service"]).size()
    alerts = queue_messages(saga.alerts.url) / max(len(frame), 1)
    rows = []
    for row in frame.itertuples():
        mine = runs[row.trip_id] if row.trip_id in runs.index.get_level_values(0) else pd.Series(dtype=int)
        invoked = saga.function_runs(mine, row.invocations)
        gb_s = sum(n * reports[f][0] / 1000 * reports[f][1] / 1024 for f, n in invoked.items() if f in reports)
        booking_runs = sum(n for s, n in mine.items() if s in saga.tables)
        counters = sum(1 for s, mode in plans[row.trip_id]["fail"].items() if mode == "transient" and s in mine)
        unit = {"lambda_requests": row.invocations, "lambda_gb_s": gb_s, "events_published": row.events,
                "sqs_requests": alerts, "transitions_billed": 0, "express_requests": 0, "express_gb_s": 0.0,
                "ddb_writes": booking_runs + counters}
        for key, value in saga.billed(row.trip_id, mine, 2 if row.duplicate else 1).items():
            unit[key] = unit.get(key, 0) + value
        rows.append(unit)
    return pd.DataFrame(rows, index=frame.index)


def disturb(saga: styles.Style, trip: dict, records: pd.DataFrame) -> str:
    """Send a closed trip one of its early messages again, after its end (and compensation, if cancelled)."""
    return saga.deliver_late({k: v for k, v in trip.items() if k not in ("duplicate", "reordered")}, records)


def phases(design: Design) -> list[tuple[str, int, slice]]:
    """The batches in order: the warm-up, then each repetition (phase, repetition, which planned trips)."""
    n, w = design.settings.trips, design.warmup
    found = [(WARM_UP, 0, slice(0, w))] if w else []
    return found + [(MEASURED, r + 1, slice(w + r * n, w + (r + 1) * n)) for r in range(design.repetitions)]


def run(design: Design = Design(), styles: tuple[str, ...] = harness.STYLES, progress: bool = True) -> Run:
    """Deploy every style once, drive the batches interleaved, measure, disturb, check, tear down."""
    settings = design.settings
    total = design.warmup + design.trips_per_style
    flags = random.Random(settings.seed + 1)
    reorder = [flags.random() < design.reordered for _ in range(total)]
    about = where()
    with ExitStack() as stack:
        sagas_by_style, plans = {}, {}
        for style in styles:
            deployment = stack.enter_context(Deployment(f"x-{style[:5]}"))
            sagas_by_style[style] = harness.deploy(style, deployment)
            planned = harness.plan(dataclasses.replace(settings, trips=total), f"{style[0]}{deployment.uid}")
            plans[style] = [{**trip, "reordered": flag} for trip, flag in zip(planned, reorder, strict=True)]
        driven = {style: [] for style in styles}
        batches = []
        steps = [(phase, rep, part, style) for phase, rep, part in phases(design) for style in styles]
        for phase, rep, part, style in tqdm(steps, desc="batches", disable=not progress):
            trips = [{k: v for k, v in t.items() if k != "reordered"} for t in plans[style][part]]
            done, wall = drive_batch(sagas_by_style[style], trips, settings.concurrency, settings.timeout)
            driven[style] += [{**r, "phase": phase, "repetition": rep} for r in done]
            batches.append({"style": style, "phase": phase, "repetition": rep, "trips": len(done),
                            "wall_s": wall, "throughput_per_s": len(done) / wall})
        frames, violations, disturbed = [], {}, {}
        for style in styles:
            saga, by_id = sagas_by_style[style], {t["trip_id"]: t for t in plans[style]}
            harness.settle(saga)
            frame = harness.measure(saga, driven[style], by_id)
            records = trace.records(saga.trace)
            frame["projected_s"] = projection.project(frame, records, asynchronous=saga.retries_asynchronously)
            frame = frame.join(units(saga, frame, records, by_id))
            frame["usd_per_million"] = cost.dollars(frame)["total"] * 1e6
            frame["usd_express_per_million"] = cost.dollars(frame, express=True)["total"] * 1e6
            frame["reordered"] = [by_id[t]["reordered"] for t in frame["trip_id"]]
            before = sagas.bookings(saga, list(by_id))
            outcomes = [disturb(saga, by_id[t], records) for t in frame.loc[frame["reordered"], "trip_id"]]
            harness.settle(saga, quiet_for=1.0)
            after = sagas.bookings(saga, list(by_id))
            changed = [f"{t}: final status {before.loc[t, 'trip']} -> {after.loc[t, 'trip']} after a late event"
                       for t in after.index if after.loc[t, "trip"] != before.loc[t, "trip"]]
            violations[style] = sagas.violations(after) + changed
            counted = pd.Series(outcomes, dtype=str).value_counts()
            disturbed[style] = {"trips": len(outcomes), "outcomes": {k: int(v) for k, v in counted.items()}}
            frames.append(frame)
    return Run(design, tuple(styles), pd.concat(frames, ignore_index=True), pd.DataFrame(batches), violations,
               disturbed, about)


def measured(run_: Run, style: str) -> pd.DataFrame:
    """The measured (not warm-up) trips of one style."""
    return run_.trips[(run_.trips["style"] == style) & (run_.trips["phase"] == MEASURED)]


def _samples(run_: Run, style: str, figure: str, phase: str = MEASURED) -> tuple[np.ndarray, object, str]:
    """The sample a figure is computed from (trips, or batches for throughput), its statistic and its unit."""
    if figure in BATCH_FIGURES:
        column, statistic, _ = BATCH_FIGURES[figure]
        rows = run_.batches[(run_.batches["style"] == style) & (run_.batches["phase"] == phase)]
        return rows[column].astype(float).to_numpy(), statistic, "repetitions"
    column, statistic, _ = TRIP_FIGURES[figure]
    rows = run_.trips[(run_.trips["style"] == style) & (run_.trips["phase"] == phase)]
    if column not in rows:  # a unit no style of this run counted (e.g. a run written before the unit existed)
        return np.array([]), statistic, "trips"
    return rows[column].astype(float).to_numpy(), statistic, "trips"


def figures(run_: Run, phase: str = MEASURED) -> pd.DataFrame:
    """Every figure per style with its 95 % bootstrap interval (over trips, or over repetitions)."""
    rows = []
    for figure in [*TRIP_FIGURES, *BATCH_FIGURES]:
        for style in run_.styles:
            values, statistic, over = _samples(run_, style, figure, phase)
            if np.isnan(values).all() if values.size else True:
                continue
            found = stats.bootstrap(values, statistic, over=over)
            rows.append({"figure": figure, "style": style, "estimate": found.estimate, "low": found.low,
                         "high": found.high, "over": over, "n": int((~np.isnan(values)).sum())})
    return pd.DataFrame(rows)


def ratios(run_: Run, reference: str | None = None) -> pd.DataFrame:
    """Each other style's figure divided by the reference style's, with its 95 % bootstrap interval."""
    reference = reference or run_.styles[0]
    rows = []
    for style in run_.styles:
        if style == reference:
            continue
        for figure in [*TRIP_FIGURES, *BATCH_FIGURES]:
            top, statistic, over = _samples(run_, style, figure)
            bottom, _, _ = _samples(run_, reference, figure)
            if np.isnan(top).all() or np.isnan(bottom).all():
                continue
            if 0 in (statistic(top[~np.isnan(top)]), statistic(bottom[~np.isnan(bottom)])):
                continue  # a unit only one style uses (events, transitions): no ratio to speak of
            found = stats.ratio(top, bottom, statistic, over=over)
            rows.append({"figure": figure, "ratio": f"{style} / {reference}", "estimate": found.estimate,
                         "low": found.low, "high": found.high, "over": over, "differs": found.excludes(1)})
    return pd.DataFrame(rows)


def costs(run_: Run) -> pd.DataFrame:
    """Dollars per million trips by billed unit, per style, plus the orchestrated saga on an Express workflow."""
    rows = []
    for style in run_.styles:
        frame = measured(run_, style)
        variants = [(style, False)] + ([(f"{style} (Express)", True)] if frame["transitions_billed"].sum() else [])
        for name, express in variants:
            priced = cost.dollars(frame, express=express) * 1e6
            total = stats.bootstrap(priced["total"], stats.mean)
            rows.append({"style": name, **priced.drop(columns="total").mean().round(3).to_dict(),
                         "total": total.estimate, "low": total.low, "high": total.high})
    return pd.DataFrame(rows).fillna(0.0).set_index("style")


def conclusion(ratio_table: pd.DataFrame, wanted: tuple[str, ...] = ("p50_s", "p99_s", "projected_p99_s",
               "throughput_per_s", "compensate_p50_s", "invocations_per_trip", "usd_per_million_trips",
               "usd_express_per_million_trips")) -> list[str]:
    """One sentence per figure: a difference only where the ratio's interval excludes 1."""
    sentences = []
    for row in ratio_table[ratio_table["figure"].isin(wanted)].itertuples():
        style, reference = row.ratio.split(" / ")
        interval = f"ratio {row.estimate:.2f}, 95 % interval {row.low:.2f}–{row.high:.2f} over {row.over}"
        if row.differs:
            more = "higher" if row.estimate > 1 else "lower"
            sentences.append(f"{sentence_case(LABELS[row.figure])}: {more} in the {style} saga than in the "
                             f"{reference} one ({interval}).")
        else:
            sentences.append(f"{sentence_case(LABELS[row.figure])}: no measurable difference between {style} and "
                             f"{reference} ({interval}, which includes 1).")
    return sentences


def sentence_case(text: str) -> str:
    """The text with its first letter in upper case (the rest, e.g. 'AWS', unchanged)."""
    return text[:1].upper() + text[1:]


def p_miss(rate: float, n: int) -> float:
    """The chance that n independent trips all miss a defect that hits one trip in 1/rate."""
    return (1 - rate) ** n


def write(run_: Run, out: Path) -> list[Path]:
    """trips.csv, batches.csv, figures.csv, ratios.csv, costs.csv and summary.json in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"trips.csv": run_.trips.drop(columns=["events_out"], errors="ignore"), "batches.csv": run_.batches,
             "figures.csv": figures(run_), "warmup.csv": figures(run_, WARM_UP), "ratios.csv": ratios(run_),
             "costs.csv": costs(run_).reset_index()}
    for name, frame in files.items():
        frame.to_csv(out / name, index=False)
    summary = {**run_.about, "design": {**dataclasses.asdict(run_.design.settings),
                                        "repetitions": run_.design.repetitions, "warmup": run_.design.warmup,
                                        "reordered": run_.design.reordered},
               "styles": list(run_.styles), "trips_per_style": run_.design.trips_per_style,
               "violations": run_.violations, "disturbed": run_.disturbed,
               "p_miss_1_in_100": p_miss(0.01, run_.design.trips_per_style)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return [out / name for name in files] + [out / "summary.json"]


STORED = Path(__file__).resolve().parents[2] / "results" / "experiment"   # what `make experiment` writes


def load(folder: Path = STORED) -> dict | None:
    """A written experiment, its figures, ratios and costs computed again from its trips and batches (so the
    dollars follow the current price file); None if there is none in `folder`."""
    folder = Path(folder)
    if not (folder / "summary.json").exists():
        return None
    summary = json.loads((folder / "summary.json").read_text())
    trips, batches = pd.read_csv(folder / "trips.csv"), pd.read_csv(folder / "batches.csv")
    trips["usd_per_million"] = cost.dollars(trips)["total"] * 1e6
    trips["usd_express_per_million"] = cost.dollars(trips, express=True)["total"] * 1e6
    shape = summary["design"]
    settings = harness.Settings(**{f.name: shape[f.name] for f in dataclasses.fields(harness.Settings)})
    design = Design(settings, shape["repetitions"], shape["warmup"], shape["reordered"])
    found = Run(design, tuple(summary["styles"]), trips, batches, summary["violations"], summary["disturbed"],
                {k: summary[k] for k in ("machine", "date_utc", "endpoint", "time_scale")})
    return {"summary": summary, "run": found, "figures": figures(found), "warmup": figures(found, WARM_UP),
            "ratios": ratios(found), "costs": costs(found)}


def parser() -> argparse.ArgumentParser:
    """The command line (defaults: the design used by `make experiment`)."""
    cli = argparse.ArgumentParser(prog="python -m ocbook.experiment", description=__doc__.splitlines()[0])
    cli.add_argument("--trips", type=harness.at_least_one, default=100, help="trips per style and repetition")
    cli.add_argument("--repetitions", type=harness.at_least_one, default=5)
    cli.add_argument("--warmup", type=int, default=8, help="warm-up trips per style (reported apart)")
    cli.add_argument("--concurrency", type=harness.at_least_one, default=8)
    cli.add_argument("--permanent", type=harness.probability, default=0.1)
    cli.add_argument("--transient", type=harness.probability, default=0.1)
    cli.add_argument("--duplicates", type=harness.probability, default=0.05)
    cli.add_argument("--reordered", type=harness.probability, default=0.05)
    cli.add_argument("--seed", type=int, default=7)
    cli.add_argument("--out", default="results/experiment")
    return cli


def main(argv: list[str] | None = None) -> int:
    """Run an experiment and write its results."""
    args = parser().parse_args(argv)
    settings = harness.Settings(trips=args.trips, concurrency=args.concurrency, permanent=args.permanent,
                                transient=args.transient, duplicates=args.duplicates, seed=args.seed)
    design = Design(settings, args.repetitions, args.warmup, args.reordered)
    try:
        result = run(design)
    except KeyboardInterrupt:
        print("interrupted: nothing written (every deployment was torn down)", file=sys.stderr)
        return 130
    files = write(result, Path(args.out))
    print(ratios(result).to_string(index=False))
    print("violations:", {s: len(v) for s, v in result.violations.items()})
    print(f"wrote {', '.join(map(str, files))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def table(found: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """Figures (or ratios) for a page: one row per figure, one column per style (or ratio), 'est [low, high]'."""
    column = "style" if "style" in found else "ratio"
    cells = found.assign(value=[f"{r.estimate:.{digits}f} [{r.low:.{digits}f}, {r.high:.{digits}f}]"
                                for r in found.itertuples()])
    shown = cells.pivot(index="figure", columns=column, values="value")
    order = [f for f in [*TRIP_FIGURES, *BATCH_FIGURES] if f in shown.index]
    shown = shown.reindex(order)
    shown.index = [f"{LABELS[f]} ({f})" for f in order]
    shown.columns.name = None
    return shown
