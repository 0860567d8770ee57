"""The saga's invariant check over a bookings table (no engine)."""

from __future__ import annotations

import pandas as pd

from ocbook import saga


def bookings(rows: dict[str, tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame.from_dict(rows, orient="index", columns=["hotel", "flight", "car", "trip"])


def test_consistent_trips_have_no_violations():
    table = bookings({"ok": ("BOOKED", "BOOKED", "BOOKED", "CONFIRMED"),
                      "undone": ("CANCELLED", "CANCELLED", "-", "CANCELLED"),
                      "refused-first": ("-", "-", "-", "CANCELLED")})
    assert saga.violations(table) == []


def test_a_confirmed_trip_missing_a_booking_is_a_violation():
    table = bookings({"t1": ("BOOKED", "CANCELLED", "BOOKED", "CONFIRMED")})
    assert saga.violations(table) == ["t1: confirmed but only ['hotel', 'car'] booked"]


def test_a_cancelled_trip_with_a_booking_left_is_a_violation_and_alerts_are_named():
    table = bookings({"t2": ("CANCELLED", "BOOKED", "-", "CANCELLED"), "t3": ("BOOKED", "-", "-", "-")})
    assert saga.violations(table, alerted={"t2"}) == [
        "t2: CANCELLED but flight still booked (alerted: waiting for a human)",
        "t3: - but hotel still booked"]


def test_the_check_follows_the_table_columns_for_an_added_step():
    table = pd.DataFrame({"hotel": ["BOOKED"], "insurance": ["-"], "trip": ["CONFIRMED"]}, index=["t4"])
    assert saga.violations(table) == ["t4: confirmed but only ['hotel'] booked"]
