"""Every date, time and number format of the transform registry, with values written out by hand (issue 18).

Each date case has a day above 12 (a swapped day and month is then no date at all) and one with both
at most 12 but different (a swap gives another valid date), so a format with day and month the wrong
way round fails here either way. A test also checks that no named format is missing from this table.
"""

from __future__ import annotations

from typing import Any

import pytest

from gateway.mapping import transforms as tf

# format name -> (text for 15 February 2016, text for 7 March 2016)
DATES = {
    "iso": ("2016-02-15", "2016-03-07"),
    "yyyy-mm-dd": ("2016-02-15", "2016-03-07"),
    "yyyymmdd": ("20160215", "20160307"),
    "dd-mm-yyyy": ("15-02-2016", "07-03-2016"),
    "dd/mm/yyyy": ("15/02/2016", "07/03/2016"),
    "ddmmyyyy": ("15022016", "07032016"),
    "dd.mm.yyyy": ("15.02.2016", "07.03.2016"),
}
ISO = ("2016-02-15", "2016-03-07")
TIMES = {"iso": "13:45:09", "hh:mm:ss": "13:45:09", "hhmmss": "134509", "hh:mm": "13:45"}
TIME_ISO = {"hh:mm": "13:45:00"}


def apply(name: str, arg: Any, value: str) -> Any:
    transform = tf.REGISTRY[name]
    return transform.apply(value, transform.prepare(arg))


def test_every_named_format_has_hand_written_values() -> None:
    assert set(DATES) == set(tf.DATE_FORMATS)
    assert set(TIMES) == set(tf.TIME_FORMATS)


@pytest.mark.parametrize("fmt", sorted(DATES))
@pytest.mark.parametrize("which", [0, 1], ids=["day-15", "day-7-month-3"])
def test_date_reads_each_format(fmt: str, which: int) -> None:
    assert apply("date", fmt, DATES[fmt][which]) == ISO[which]


@pytest.mark.parametrize("fmt", sorted(DATES))
@pytest.mark.parametrize("which", [0, 1], ids=["day-15", "day-7-month-3"])
def test_format_date_writes_each_format(fmt: str, which: int) -> None:
    assert apply("format_date", fmt, ISO[which]) == DATES[fmt][which]


@pytest.mark.parametrize("fmt", sorted(f for f in DATES if f not in ("iso", "yyyy-mm-dd")))
def test_a_day_month_swap_is_refused_not_accepted(fmt: str) -> None:
    """15 as a month is no date: the input written month-first must be refused, not read as another date."""
    swapped = DATES[fmt][0].replace("15", "##").replace("02", "15").replace("##", "02")
    with pytest.raises(tf.TransformError):
        apply("date", fmt, swapped)


@pytest.mark.parametrize("fmt", sorted(TIMES))
def test_time_formats_both_ways(fmt: str) -> None:
    assert apply("time", fmt, TIMES[fmt]) == TIME_ISO.get(fmt, "13:45:09")
    assert apply("format_time", fmt, "13:45:09") == TIMES[fmt]


NUMBERS = [  # (argument, text, canonical whole number)
    (None, "1234", "1234"),
    (None, " 1,234 ", "1234"),
    ({"decimal": "."}, "1,234,567", "1234567"),
    ({"decimal": ","}, "1.234.567", "1234567"),
    ({"decimal": ",", "scale": 2}, "1.234,56", "123456"),
    ({"decimal": ".", "scale": 2}, "1,234.56", "123456"),
    ({"decimal": ",", "scale": 2}, "12,5", "1250"),
    ({"decimal": ".", "scale": 1}, "-3.7", "-37"),
]


@pytest.mark.parametrize(("arg", "text", "expected"), NUMBERS)
def test_number_formats(arg: Any, text: str, expected: str) -> None:
    assert apply("number", arg, text) == expected


@pytest.mark.parametrize(("arg", "canonical", "written"), [
    (None, "1234", "1234"),
    ({"decimal": ",", "scale": 2}, "123456", "1234,56"),
    ({"decimal": ".", "scale": 2}, "123456", "1234.56"),
    ({"decimal": ",", "scale": 1}, "-37", "-3,7"),
])
def test_format_number_writes_decimal_and_scale(arg: Any, canonical: str, written: str) -> None:
    assert apply("format_number", arg, canonical) == written


@pytest.mark.parametrize(("arg", "text"), [({"decimal": ","}, "12,5"), ({"decimal": ".", "scale": 1}, "1.25"),
                                           (None, "twelve")])
def test_number_refuses_fractions_and_words(arg: Any, text: str) -> None:
    with pytest.raises(tf.TransformError):
        apply("number", arg, text)
