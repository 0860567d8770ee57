"""Dollars per trip from the units each trip was billed for, priced from one data file (data/prices.json)."""

from __future__ import annotations

import math

import pandas as pd

from ocbook.facts import load

# the counted columns of a trip (ocbook.experiment) and the price each is billed at
UNIT_PRICES = {
    "transitions_billed": "stepfunctions_standard_transition",
    "express_requests": "stepfunctions_express_request",
    "express_gb_s": "stepfunctions_express_gb_second",
    "lambda_requests": "lambda_request",
    "lambda_gb_s": "lambda_gb_second",
    "durable_operations": "lambda_durable_operation",
    "events_published": "eventbridge_custom_event",
    "ddb_writes": "dynamodb_write_request_unit",
    "ddb_reads": "dynamodb_read_request_unit",
    "sqs_requests": "sqs_request",
    "sns_publishes": "sns_publish",
}
EXPRESS_MEMORY_GB = 64 / 1024   # billed in 64 MB chunks; a small definition and payload fit in one


def prices() -> dict:
    """The price file: region, currency and one entry per billed unit (usd, unit, date read, source)."""
    return load("prices")


def price_table() -> pd.DataFrame:
    """The prices as a table for a page: what, dollars (per million units, or per unit for the dearer ones),
    unit, source (marked when the price could not be read from the source itself); the date each was read is
    a column only when they differ (read_on() says it otherwise)."""
    data = prices()["prices"]
    rows = [{"price": name.replace("_", " "),
             "USD": f"{p['usd'] * 1e6:.4g} per million" if p["usd"] < 0.01 else f"{p['usd']:g} each",
             "unit": p["unit"], "read": p["read"],
             "source": p["source"] + ("" if p.get("verified", True) else " (NOT VERIFIED: see its note)")}
            for name, p in data.items()]
    table = pd.DataFrame(rows)
    return table.drop(columns="read") if table["read"].nunique() == 1 else table


def read_on() -> str:
    """The date(s) the prices were read, e.g. '2026-11-28'."""
    return ", ".join(sorted({p["read"] for p in prices()["prices"].values()}))


def express_units(duration_s: float, starts: int) -> dict:
    """What an Express workflow would bill for one execution: requests and GB-seconds (100 ms, 64 MB)."""
    billed_s = math.ceil(round(duration_s * 10, 6)) / 10
    return {"express_requests": starts, "express_gb_s": billed_s * EXPRESS_MEMORY_GB}


def dollars(units: pd.DataFrame, express: bool = False) -> pd.DataFrame:
    """Per row (trip): dollars per billed unit kind present, plus a `total`. A state machine is priced as
    Standard (its transitions) or, with `express`, as Express (its requests and duration), never both."""
    table = prices()["prices"]
    skip = {"transitions_billed"} if express else {"express_requests", "express_gb_s"}
    priced = pd.DataFrame({column: units[column].astype(float) * table[name]["usd"]
                           for column, name in UNIT_PRICES.items() if column in units and column not in skip},
                          index=units.index)
    priced["total"] = priced.sum(axis=1)
    return priced


def monthly(per_trip_usd: float, trips_per_month) -> object:
    """Dollars a month at a number (or array) of trips per month, at a constant cost per trip (no free tier)."""
    return per_trip_usd * trips_per_month
