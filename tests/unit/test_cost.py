"""Prices come from one file with sources; units turn into dollars; the projection swaps only compressed waits."""

import pandas as pd
import pytest

from ocbook import cost, experiment, projection


def test_every_price_has_a_source_a_date_and_a_unit():
    data = cost.prices()
    assert data["region"] == "us-east-1" and data["currency"] == "USD"
    for name, price in data["prices"].items():
        assert price["usd"] > 0 and price["unit"], name
        assert price["source"].startswith("https://aws.amazon.com/"), name
        assert len(price["read"]) == 10, name
    assert set(cost.UNIT_PRICES.values()) <= set(data["prices"])


def test_dollars_price_standard_and_express_apart():
    units = pd.DataFrame([{"transitions_billed": 6, "express_requests": 1, "express_gb_s": 0.05,
                           "lambda_requests": 4, "events_published": 0}])
    standard, express = cost.dollars(units)["total"][0], cost.dollars(units, express=True)["total"][0]
    table = cost.prices()["prices"]
    lam = 4 * table["lambda_request"]["usd"]
    assert standard == pytest.approx(6 * table["stepfunctions_standard_transition"]["usd"] + lam)
    assert express == pytest.approx(table["stepfunctions_express_request"]["usd"]
                                    + 0.05 * table["stepfunctions_express_gb_second"]["usd"] + lam)


def test_express_duration_is_rounded_up_to_100_ms_in_64_mb():
    assert cost.express_units(0.31, 1) == {"express_requests": 1, "express_gb_s": pytest.approx(0.4 * 64 / 1024)}
    assert cost.express_units(0.3, 2)["express_gb_s"] == pytest.approx(0.3 * 64 / 1024)


def records(*runs):
    return pd.DataFrame([dict(zip(("service", "event_in", "started", "ended", "outcome"), r, strict=True))
                         for r in runs]).assign(trip="t1")


def test_projection_replaces_each_measured_async_retry_wait_with_aws_wait():
    runs = records(("hotel", "TripRequested", 0.0, 0.1, "ok"),
                   ("flight", "HotelBooked", 0.2, 0.3, "ServiceUnavailable"),
                   ("flight", "HotelBooked", 1.3, 1.4, "ServiceUnavailable"),
                   ("flight", "HotelBooked", 3.4, 3.5, "ok"))
    found = projection.async_retries(runs, finished=4.0)
    assert [r["retry"] for r in found] == [1, 2]
    assert [round(r["waited_s"], 6) for r in found] == [1.0, 2.0]
    assert projection.projected_latency(4.0, found, [60, 120]) == pytest.approx(4.0 - 3.0 + 180)


def test_projection_leaves_trips_without_async_retries_and_orchestrated_trips_as_measured():
    ok = records(("hotel", "TripRequested", 0.0, 0.1, "ok"), ("flight", "HotelBooked", 0.2, 0.3, "refused"))
    assert projection.async_retries(ok, finished=1.0) == []
    trips = pd.DataFrame([{"trip_id": "t1", "submitted": 0.0, "latency_s": 1.0}])
    failing = records(("flight", "HotelBooked", 0.2, 0.3, "ServiceUnavailable"),
                      ("flight", "HotelBooked", 1.3, 1.4, "ok"))
    assert projection.project(trips, failing, asynchronous=False).tolist() == [1.0]
    assert projection.project(trips, failing, asynchronous=True, waits=[60, 120]).tolist() == [pytest.approx(60.0)]


def test_documented_lambda_waits_are_one_then_two_minutes():
    assert projection.lambda_retry_waits() == [60.0, 120.0]


def test_a_one_in_a_hundred_defect_is_missed_by_500_trips_less_than_one_time_in_a_hundred():
    assert experiment.p_miss(0.01, 500) == pytest.approx(0.99 ** 500) and experiment.p_miss(0.01, 500) < 0.01
    assert experiment.p_miss(0.01, 40) > 0.6


def test_conclusion_states_a_difference_only_when_the_interval_excludes_one():
    table = pd.DataFrame([
        {"figure": "p50_s", "ratio": "b / a", "estimate": 1.1, "low": 0.9, "high": 1.3, "over": "trips",
         "differs": False},
        {"figure": "usd_per_million_trips", "ratio": "b / a", "estimate": 0.1, "low": 0.08, "high": 0.12,
         "over": "trips", "differs": True}])
    first, second = experiment.conclusion(table)
    assert "no measurable difference" in first and "includes 1" in first
    assert "lower in the b saga" in second and "no measurable" not in second


def test_the_price_table_shows_cheap_units_per_million_and_one_reading_date(monkeypatch):
    table = cost.price_table()
    row = table.set_index("price").loc["stepfunctions standard transition"]
    assert row["USD"] == "25 per million" and "read" not in table  # every price read the same day
    assert table.set_index("price").loc["dynamodb storage gb month", "USD"] == "0.25 each"
    real = cost.prices()
    sqs = {**real["prices"]["sqs_request"], "read": "2027-01-01"}
    later = {**real, "prices": {**real["prices"], "sqs_request": sqs}}
    monkeypatch.setattr(cost, "prices", lambda: later)
    assert "read" in cost.price_table() and cost.read_on().endswith("2027-01-01")
