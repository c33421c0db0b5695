"""Declared unit and arithmetic transforms: ``unit``, ``multiply``, ``divide``.

"2,5 uur per week" must reach a whole iWmo volume in minutes without an XPath arithmetic trick, and
it must never be rounded: a value that does not convert exactly (100 minutes as whole hours, 2,55 uur
as whole minutes) is refused with the reason. Arithmetic runs on exact fractions, so each transform
has an exact reverse (``multiply`` <-> ``divide``, ``unit`` from/to swapped) for ``convert --reverse``.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from gateway.ingest.errors import found

from .transforms import TransformError, Value, _register, _text

MINUTES: dict[str, Fraction] = {
    "minuut": Fraction(1),
    "kwartier": Fraction(15),
    "uur": Fraction(60),
    "dagdeel": Fraction(240),  # the usual convention in Wmo contracts: one dagdeel is 4 hours
    "etmaal": Fraction(1440),
    "dag": Fraction(1440),
    "week": Fraction(10080),
}
"""Time units by their length in minutes. A contract with another dagdeel length uses ``multiply``."""

ANY_PLACES = 9
"""Decimal places a reverse may write: the exact inverse of a whole result needs a few (150 min = 2,5 uur)."""


def _factor(raw: Any) -> Fraction:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError("the factor is a number, e.g. 60 or 2.5")
    try:
        factor = Fraction(str(raw).replace(",", "."))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"the factor {raw!r} is not a number") from None
    if factor <= 0:
        raise ValueError("the factor must be greater than 0")
    return factor


def _common(arg: dict[str, Any], allowed: set[str]) -> tuple[str, int]:
    extra = set(arg) - allowed
    if extra:
        raise ValueError(f"unknown setting(s) {', '.join(sorted(extra))} (known: {', '.join(sorted(allowed))})")
    decimal = arg.get("decimal", ".")
    if decimal not in (",", "."):
        raise ValueError("decimal must be ',' or '.'")
    places = arg.get("places", 0)
    if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= ANY_PLACES:
        raise ValueError(f"places is a whole number from 0 to {ANY_PLACES}")
    return decimal, places


def _prepared(factor: Fraction, read: str, write: str, places: int, label: str) -> dict[str, Any]:
    return {"factor": factor, "read": read, "write": write, "places": places, "label": label}


def _prep_scale(name: str) -> Any:
    def prepare(arg: Any) -> dict[str, Any]:
        if not isinstance(arg, dict):
            arg = {"by": arg}
        decimal, places = _common(arg, {"by", "decimal", "places"})
        if "by" not in arg:
            raise ValueError(f"{name} needs by: N, e.g. {{{name}: {{by: 60}}}} or {name}: 60")
        by = _factor(arg["by"])
        return _prepared(by if name == "multiply" else 1 / by, decimal, ".", places, f"{name} by {arg['by']}")
    return prepare


def _prep_unit(arg: Any) -> dict[str, Any]:
    if not isinstance(arg, dict) or "from" not in arg or "to" not in arg:
        raise ValueError("expects {from: UNIT, to: UNIT}, e.g. {from: uur, to: minuut}; units: "
                         + ", ".join(MINUTES))
    decimal, places = _common(arg, {"from", "to", "decimal", "places"})
    units = []
    for key in ("from", "to"):
        unit = str(arg[key])
        if unit not in MINUTES:
            raise ValueError(f"unknown unit {unit!r} (known: {', '.join(MINUTES)})")
        units.append(unit)
    return _prepared(MINUTES[units[0]] / MINUTES[units[1]], decimal, ".", places, f"{units[0]} to {units[1]}")


def _inverse(arg: dict[str, Any]) -> dict[str, Any]:
    """The exact way back: divide by the factor, read canonical '.', write the dialect's separator."""
    return _prepared(1 / arg["factor"], arg["write"], arg["read"], ANY_PLACES, f"the reverse of {arg['label']}")


def _parse(text: str, sep: str) -> Fraction:
    cleaned = text.strip().replace(" ", "")
    cleaned = cleaned.replace(".", "").replace(",", ".") if sep == "," else cleaned.replace(",", "")
    try:
        return Fraction(cleaned)
    except (ValueError, ZeroDivisionError):
        raise TransformError(f"{found(text)} is not a number") from None


def _format(number: Fraction, places: int, sep: str) -> str | None:
    """``number`` written with at most ``places`` decimals, exactly; None when that would round."""
    scaled = number * 10 ** places
    if scaled.denominator != 1:
        return None
    digits = str(abs(scaled.numerator)).rjust(places + 1, "0")
    whole, frac = (digits[:-places], digits[-places:].rstrip("0")) if places else (digits, "")
    return ("-" if number < 0 else "") + whole + (sep + frac if frac else "")


def _scale(value: Value, arg: dict[str, Any]) -> Value:
    text = _text(value, "unit")
    result = _parse(text, arg["read"]) * arg["factor"]
    out = _format(result, arg["places"], arg["write"])
    if out is None:
        want = "a whole number" if arg["places"] == 0 else f"at most {arg['places']} decimal(s)"
        raise TransformError(f"{found(text)} does not convert exactly ({arg['label']} gives "
                             f"{found(f'{float(result):g}')}, not {want}); refused rather than rounded")
    return out


_register("multiply", "Multiply by a constant, exactly; refuse a result with more decimals than places: (0).",
          prepare=_prep_scale("multiply"), reverse=lambda arg: ("multiply", _inverse(arg)))(_scale)
_register("divide", "Divide by a constant, exactly; refuse a result with more decimals than places: (0).",
          prepare=_prep_scale("divide"), reverse=lambda arg: ("divide", _inverse(arg)))(_scale)
_register("unit", "Convert between time units (minuut, kwartier, uur, dagdeel = 4 uur, etmaal, dag, week), "
          "exactly; refuse what does not convert to a whole number (or places: N).",
          prepare=_prep_unit, reverse=lambda arg: ("unit", _inverse(arg)))(_scale)
