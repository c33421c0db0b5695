"""The zaak planner's date and time texts are strftime's, remembered or not, and what is remembered is bounded."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest

from gateway.zaken.units import clock, day

units = importlib.import_module("gateway.zaken.units")  # the package's ``units`` is the function

DATES = [dt.date(1, 1, 1), dt.date(999, 12, 31), dt.date(1000, 1, 1), dt.date(1985, 1, 6), dt.date(2016, 2, 29),
         dt.date(9999, 12, 31), dt.datetime(2026, 3, 4, 10, 20, 30)]


@pytest.mark.parametrize("value", DATES, ids=str)
def test_a_day_is_strftimes_text_the_first_time_and_after(value: dt.date) -> None:
    assert day(value) == value.strftime("%Y%m%d")
    assert day(value) == value.strftime("%Y%m%d")  # remembered


@pytest.mark.parametrize("value", [dt.time(0, 0, 0), dt.time(9, 5, 7), dt.time(23, 59, 59, 999999)], ids=str)
def test_a_clock_is_strftimes_text(value: dt.time) -> None:
    assert clock(value) == value.strftime("%H%M%S")


def test_the_remembered_days_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(units, "DAYS", {})
    monkeypatch.setattr(units, "DAYS_MAX", 10)
    start = dt.date(2020, 1, 1)
    for offset in range(35):
        value = start + dt.timedelta(days=offset)
        assert day(value) == value.strftime("%Y%m%d")
        assert len(units.DAYS) <= 10
