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
    ("unit", {"from": "uur", "to": "minuut", "decimal": ","}, "2,5", "150"),
    ("unit", {"from": "dagdeel", "to": "uur"}, "3", "12"),
    ("unit", {"from": "minuut", "to": "uur", "places": 2}, "45", "0.75"),
    ("multiply", 60, "3", "180"),
    ("multiply", {"by": "2,5", "decimal": ","}, "1,2", "3"),
    ("divide", {"by": 4}, "12", "3"),
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


UNIT_CASES: list[tuple[str, Any, str]] = [
    ("unit", {"from": "uur", "to": "minuut", "decimal": ","}, "2,5"),
    ("unit", {"from": "uur", "to": "minuut", "decimal": ","}, "1.250,25"),
    ("unit", {"from": "dagdeel", "to": "uur"}, "3"),
    ("unit", {"from": "week", "to": "etmaal"}, "2"),
    ("unit", {"from": "minuut", "to": "uur", "places": 2}, "45"),
    ("multiply", 60, "3"),
    ("multiply", {"by": 0.5}, "8"),
    ("divide", {"by": 4, "decimal": ","}, "12"),
]


@pytest.mark.parametrize(("name", "arg", "value"), UNIT_CASES, ids=lambda v: str(v)[:20])
def test_unit_and_arithmetic_transforms_round_trip_exactly(name: str, arg: Any, value: str) -> None:
    transform = tf.REGISTRY[name]
    prepared = transform.prepare(arg)
    forward = transform.apply(value, prepared)
    assert transform.reverse is not None
    back_name, back_arg = transform.reverse(prepared)
    back = tf.REGISTRY[back_name].apply(forward, back_arg)
    sep = arg.get("decimal", ".") if isinstance(arg, dict) else "."
    assert _as_number(back, sep) == _as_number(value, sep)


def _as_number(text: str, sep: str) -> float:
    return float(text.replace(".", "").replace(",", ".") if sep == "," else text)


@pytest.mark.parametrize(("name", "arg", "value"), [
    ("unit", {"from": "uur", "to": "minuut", "decimal": ","}, "1,01"),  # 60,6 minutes
    ("unit", {"from": "minuut", "to": "uur"}, "90"),  # 1,5 hours is not whole
    ("unit", {"from": "minuut", "to": "uur", "places": 1}, "100"),  # 1,666... hours
    ("multiply", {"by": 0.5}, "3"),
    ("divide", 3, "10"),
])
def test_unit_and_arithmetic_transforms_refuse_rather_than_round(name: str, arg: Any, value: str) -> None:
    with pytest.raises(tf.TransformError, match=r"does not convert exactly.*refused rather than rounded"):
        _run(name, arg, value)


def test_the_reverse_of_a_whole_result_refuses_an_inexact_value() -> None:
    transform = tf.REGISTRY["unit"]
    back_name, back_arg = transform.reverse(transform.prepare({"from": "uur", "to": "minuut", "decimal": ","}))
    assert tf.REGISTRY[back_name].apply("150", back_arg) == "2,5"
    with pytest.raises(tf.TransformError, match="does not convert exactly"):
        tf.REGISTRY[back_name].apply("100", back_arg)  # 1,666... hours


@pytest.mark.parametrize(("name", "arg", "why"), [
    ("unit", {"from": "uur"}, "expects {from: UNIT, to: UNIT}"),
    ("unit", {"from": "uur", "to": "jaar"}, "unknown unit 'jaar'"),
    ("multiply", 0, "greater than 0"),
    ("multiply", "zestig", "not a number"),
    ("divide", {"by": 2, "round": True}, "unknown setting"),
    ("unit", {"from": "uur", "to": "minuut", "places": 12}, "places is a whole number"),
])
def test_unit_and_arithmetic_arguments_are_checked_at_compile_time(name: str, arg: Any, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        tf.REGISTRY[name].prepare(arg)


REFUSING = [("zeropad", 8), ("code", 2), ("integer", None), ("extract", r"^Q(\d)$"), ("date", "dd-mm-yyyy"),
            ("format_date", "dd-mm-yyyy"), ("time", "hhmmss"), ("format_time", "hhmmss"), ("number", None),
            ("number", {"decimal": ",", "scale": -1}), ("multiply", {"by": 0.5}), ("divide", 7),
            ("unit", {"from": "minuut", "to": "uur"})]


@pytest.mark.parametrize(("name", "arg"), REFUSING, ids=[f"{n}-{i}" for i, (n, _) in enumerate(REFUSING)])
def test_a_refused_value_is_told_by_its_shape_never_quoted(name: str, arg: Any) -> None:
    """A value in the wrong format may be a BSN or a name typed into the wrong column (docs/mapping-reference.md)."""
    refused = 0
    for value in ("123456782", "Castricum", "123456782,5", "-123456782", "1234567825"):
        try:
            _run(name, arg, value)
        except tf.TransformError as exc:
            refused += 1
            assert "123456782" not in str(exc) and "Castricum" not in str(exc) and "12345" not in str(exc), str(exc)
    assert refused, name
