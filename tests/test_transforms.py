"""Value transforms one by one: what each makes of real values, and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.mapping import transforms as tf

CASES: list[tuple[str, Any, Any, Any]] = [
    ("trim", None, "  07A03 \t", "07A03"),
    ("upper", None, "abc", "ABC"),
    ("lower", None, "ABC", "abc"),
    ("zeropad", 9, "12345672", "012345672"),
    ("code", 2, "7", "07"),
    ("strip_zeros", None, "0384", "384"),
    ("strip_zeros", None, "000", "0"),
    ("integer", None, "+000100001", "100001"),
    ("integer", None, " 425386123 ", "425386123"),
    ("integer", None, "0000", "0"),
    ("integer", None, "-0", "0"),
    ("substring", [0, 2], "07A03", "07"),
    ("prefix", "VND-", "123", "VND-123"),
    ("strip_prefix", "AGB-", "AGB-98025566", "98025566"),
    ("extract", r"^(\d+\.\d+)", "2.1.3", "2.1"),
    ("replace", {"pattern": r"[.\s]", "with": ""}, "D. H. R.", "DHR"),
    ("split", ", ", "Gaastra, D.H.R.", ["Gaastra", "D.H.R."]),
    ("join", ".", ["2", "1"], "2.1"),
    ("index", -1, ["a", "b"], "b"),
    ("date", "dd-mm-yyyy", "15-02-2016", "2016-02-15"),
    ("format_date", "yyyymmdd", "2016-02-15", "20160215"),
    ("time", "hh:mm", "14:23", "14:23:00"),
    ("format_time", "hhmmss", "14:23:26", "142326"),
    ("number", {"decimal": ",", "scale": 2}, "1.234,50", "123450"),
    ("format_number", {"scale": 2}, "123450", "1234.50"),
]


def _run(name: str, arg: Any, value: Any) -> Any:
    transform = tf.REGISTRY[name]
    return transform.apply(value, transform.prepare(arg))


@pytest.mark.parametrize(("name", "arg", "value", "expected"), CASES, ids=lambda v: str(v)[:20])
def test_transform_values(name: str, arg: Any, value: Any, expected: Any) -> None:
    assert _run(name, arg, value) == expected


def test_every_transform_has_a_case_here() -> None:
    assert {name for name, *_ in CASES} == set(tf.REGISTRY)


@pytest.mark.parametrize(("value", "why"), [("-5", "negative"), ("12a", "not a whole number"),
                                            ("1.0", "not a whole number"), ("", "not a whole number"),
                                            ("+-1", "not a whole number")])
def test_integer_refuses_what_is_no_natural_number(value: str, why: str) -> None:
    with pytest.raises(tf.TransformError, match=why):
        _run("integer", None, value)


def test_integer_writes_digits_back_as_they_are() -> None:
    """Any string of digits is an xs:integer of the same value, so a 2.0 number with leading zeros is
    written into 2.1 as it is rather than dropped as "not in normal form"."""
    transform = tf.REGISTRY["integer"]
    assert not transform.normalises
    assert transform.reverse is not None and transform.reverse(None) is None  # identity on the way back
