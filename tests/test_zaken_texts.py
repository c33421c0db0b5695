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


@pytest.mark.parametrize("value", [dt.time(0, 0, 0), dt.time(9, 5, 7), dt.time(23, 59, 59, 999999),
                                   dt.time(12, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
                                   dt.time(1, 2, 3, 4, tzinfo=dt.UTC, fold=1)], ids=str)
def test_a_clock_is_strftimes_text(value: dt.time) -> None:
    assert clock(value) == value.strftime("%H%M%S")


def test_every_second_of_a_day_and_its_microseconds_and_offsets_read_as_strftime() -> None:
    """clock() cuts ``HH:MM:SS`` out of isoformat: whatever follows it (microseconds, an offset) is not part of
    the text, for every second of the day."""
    offset = dt.timezone(dt.timedelta(hours=-2, minutes=-30))
    for second in range(0, 24 * 3600, 7):
        hour, rest = divmod(second, 3600)
        plain = dt.time(hour, *divmod(rest, 60))
        for value in (plain, plain.replace(microsecond=second % 1000000 or 1), plain.replace(tzinfo=offset)):
            assert clock(value) == value.strftime("%H%M%S"), value


def test_the_remembered_days_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(units, "DAYS", {})
    monkeypatch.setattr(units, "DAYS_MAX", 10)
    start = dt.date(2020, 1, 1)
    for offset in range(35):
        value = start + dt.timedelta(days=offset)
        assert day(value) == value.strftime("%Y%m%d")
        assert len(units.DAYS) <= 10


@pytest.mark.parametrize("key", ["product:0363:1234567890:12345678:07:07A03:20160101", "jw-aanvraag:0363:a b",
                                 "bericht:0363:x:y:0:0", "aanvraag:0363:" + "r" * 200])
def test_a_hashed_zaak_identificatie_is_sha256_of_its_key(key: str) -> None:
    """The hash is made from a copy of an empty sha256 object (no algorithm fetch a zaak): the same digest."""
    import hashlib

    from gateway.zaken.units import Unit, zaak_identificatie

    digest = hashlib.sha256(key.encode()).hexdigest()[:10].upper()
    ident = zaak_identificatie(Unit("aanvraag", "verzoek", 0, 0, "0363", "1", (key,)))
    assert ident.endswith("-" + digest)
    assert units._sha256(key.encode()).digest() == hashlib.sha256(key.encode()).digest()
    assert units._sha256(b"").hexdigest() == hashlib.sha256(b"").hexdigest()  # the empty one is never changed
