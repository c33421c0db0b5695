"""The closed registry of value transforms a mapping file may name.

A transform takes a string (or a list of strings, for ``split``/``join``) and an argument that is
checked once when the mapping compiles. There is no ``eval``: new transforms are added here, in
Python, each with a test in tests/test_transforms.py, and documented in docs/mapping-reference.md.
Each may declare a reverse so that ``convert --reverse`` can run the rule backwards.

A :class:`TransformError` gives the value it refused through :func:`gateway.ingest.errors.found`: quoted
when code-shaped, else by its shape, since a value in the wrong format may be a BSN or a name.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.ingest.errors import found

from .regex import Regex

Value = str | list[str]


class TransformError(ValueError):
    """A value that a transform cannot handle (an unparsable date, a non-number, ...)."""


@dataclass(frozen=True, slots=True)
class Transform:
    name: str
    doc: str
    prepare: Callable[[Any], Any]  # checks and precompiles the argument; raises ValueError
    apply: Callable[[Value, Any], Value]
    reverse: Callable[[Any], tuple[str, Any] | None] | None = None  # -> the inverse (name, prepared arg)
    takes_arg: bool = True
    normalises: bool = False
    """Only puts a value in a normal form (case, removed characters): written back as is when the canonical
    value is already in that form, which the reverse checks value by value."""


REGISTRY: dict[str, Transform] = {}


def _register(
    name: str,
    doc: str,
    *,
    prepare: Callable[[Any], Any] | None = None,
    reverse: Callable[[Any], tuple[str, Any] | None] | None = None,
    takes_arg: bool = True,
    normalises: bool = False,
) -> Callable[[Callable[[Value, Any], Value]], Callable[[Value, Any], Value]]:
    if normalises:
        reverse = _identity_reverse
    def deco(fn: Callable[[Value, Any], Value]) -> Callable[[Value, Any], Value]:
        REGISTRY[name] = Transform(name, doc, prepare or (lambda arg: arg), fn, reverse, takes_arg, normalises)
        return fn

    return deco


def _text(value: Value, name: str) -> str:
    if isinstance(value, list):
        raise TransformError(f"{name} needs one value, got a list of {len(value)} (use join first)")
    return value


def _no_arg(arg: Any) -> None:
    if arg not in (None, True):
        raise ValueError("takes no argument")


def _identity_reverse(_: Any) -> tuple[str, Any] | None:
    return None


# -- text -----------------------------------------------------------------------------------------

@_register("trim", "Strip leading and trailing white space.", prepare=_no_arg, reverse=_identity_reverse,
           takes_arg=False)
def _trim(value: Value, _: Any) -> Value:
    return [v.strip() for v in value] if isinstance(value, list) else value.strip()


@_register("upper", "Upper-case the value.", prepare=_no_arg, takes_arg=False, normalises=True)
def _upper(value: Value, _: Any) -> Value:
    return _text(value, "upper").upper()


@_register("lower", "Lower-case the value.", prepare=_no_arg, takes_arg=False, normalises=True)
def _lower(value: Value, _: Any) -> Value:
    return _text(value, "lower").lower()


def _prep_width(arg: Any) -> int:
    width = int(arg)
    if not 1 <= width <= 64:
        raise ValueError("width must be 1..64")
    return width


@_register("zeropad", "Left-pad with zeros to the given width (BSN 12345678 -> 012345678).",
           prepare=_prep_width, reverse=lambda width: ("strip_zeros", None))
def _zeropad(value: Value, width: int) -> Value:
    text = _text(value, "zeropad")
    if not text.isdigit():
        raise TransformError(f"zeropad expects digits, got {found(text)}")
    if len(text) > width:
        raise TransformError(f"{found(text)} is longer than {width} digits")
    return text.zfill(width)


@_register("code", "A code of a numeric code list, zero-padded both ways ('7' or '07' -> '07', written back as '07').",
           prepare=_prep_width, reverse=_identity_reverse)
def _code(value: Value, width: int) -> Value:
    """The iWmo 2.1/3.x XSDs type codes like Eenheid and Categorie as xs:integer, so ``7`` is as valid as
    ``07``; the lists spell them with two digits, and so does a message written back."""
    return _zeropad(value, width)


@_register("strip_zeros", "Remove leading zeros (keeps one zero for an all-zero value).", prepare=_no_arg,
           takes_arg=False)
def _strip_zeros(value: Value, _: Any) -> Value:
    text = _text(value, "strip_zeros")
    return text.lstrip("0") or ("0" if text else text)


_INTEGER = re.compile(r"([+-]?)([0-9]+)")


@_register("integer", "An xs:integer as plain digits: white space, a + sign and leading zeros dropped "
           "('+0042' -> '42'); negative numbers are refused.", prepare=_no_arg, reverse=_identity_reverse,
           takes_arg=False)
def _integer(value: Value, _: Any) -> Value:
    """The iWmo/iJw 2.1+ XSDs type numbers like BeschikkingNummer and ToewijzingNummer (LDT_Nummer) as
    xs:integer, whose lexical space allows ``+100001`` and ``000100001``; the canonical model holds the
    value's plain digits, so those arrive as ``100001``. Written back as they are: any string of digits
    (also a 2.0 number with leading zeros) is an xs:integer of the same value."""
    text = _text(value, "integer").strip()
    number = _INTEGER.fullmatch(text)
    if number is None:
        raise TransformError(f"{found(text)} is not a whole number")
    digits = number.group(2).lstrip("0") or "0"
    if number.group(1) == "-" and digits != "0":
        raise TransformError(f"{found(text)} is negative; expected a number of 0 or more")
    return digits


def _prep_slice(arg: Any) -> tuple[int, int | None]:
    if isinstance(arg, list) and 1 <= len(arg) <= 2:
        start = int(arg[0])
        length = int(arg[1]) if len(arg) == 2 else None
        return start, length
    raise ValueError("expects [start] or [start, length] (0-based start)")


@_register("substring", "Take [start, length] characters (0-based start).", prepare=_prep_slice)
def _substring(value: Value, arg: tuple[int, int | None]) -> Value:
    text = _text(value, "substring")
    start, length = arg
    return text[start:] if length is None else text[start:start + length]


def _prep_affix(arg: Any) -> str:
    if not isinstance(arg, str):
        raise ValueError("expects a string")
    return arg


@_register("prefix", "Put a fixed text in front of the value.", prepare=_prep_affix,
           reverse=lambda arg: ("strip_prefix", arg))
def _prefix(value: Value, arg: str) -> Value:
    return arg + _text(value, "prefix")


@_register("strip_prefix", "Remove a fixed text from the front of the value, if present.", prepare=_prep_affix,
           reverse=lambda arg: ("prefix", arg))
def _strip_prefix(value: Value, arg: str) -> Value:
    text = _text(value, "strip_prefix")
    return text[len(arg):] if text.startswith(arg) else text


# -- regular expressions --------------------------------------------------------------------------

def _prep_regex(arg: Any) -> Regex:
    """A mapping regex runs on RE2 (:mod:`.regex`): a sender's value cannot make it backtrack for minutes."""
    if not isinstance(arg, str):
        raise ValueError("expects a regular expression string")
    return Regex(arg)


@_register("extract", "Keep the first capture group (or the whole match) of a regular expression.",
           prepare=_prep_regex)
def _extract(value: Value, pattern: Regex) -> Value:
    text = _text(value, "extract")
    match = pattern.search(text)
    if match is None:
        raise TransformError(f"{found(text)} does not match /{pattern.pattern}/")
    return match.group(1) if pattern.groups else match.group(0)


def _prep_replace(arg: Any) -> tuple[Regex, str]:
    if not isinstance(arg, dict) or set(arg) - {"pattern", "with"} or "pattern" not in arg:
        raise ValueError("expects {pattern: REGEX, with: TEXT}")
    pattern, repl = _prep_regex(arg["pattern"]), str(arg.get("with", ""))
    pattern.template(repl)  # a bad \\1 or \\g<name> is a mapping check error, not a failed message
    return pattern, repl


@_register("replace", "Replace every match of a regular expression: {pattern: '\\s+', with: ' '}.",
           prepare=_prep_replace, normalises=True)
def _replace(value: Value, arg: tuple[Regex, str]) -> Value:
    pattern, repl = arg
    return pattern.sub(repl, _text(value, "replace"))


# -- lists ----------------------------------------------------------------------------------------

def _prep_sep(arg: Any) -> str:
    if arg is None:
        return " "
    if not isinstance(arg, str):
        raise ValueError("expects a separator string")
    return arg


@_register("split", "Split a value on a separator into a list.", prepare=_prep_sep,
           reverse=lambda sep: ("join", sep))
def _split(value: Value, sep: str) -> Value:
    return [part for part in _text(value, "split").split(sep) if part != ""]


@_register("join", "Join a list of values (from several paths, or split) with a separator.",
           prepare=_prep_sep, reverse=lambda sep: ("split", sep))
def _join(value: Value, sep: str) -> Value:
    return sep.join([v for v in value if v]) if isinstance(value, list) else value


def _prep_index(arg: Any) -> int:
    return int(arg)


@_register("index", "Pick one item of a list (0-based; -1 is the last).", prepare=_prep_index)
def _index(value: Value, idx: int) -> Value:
    if not isinstance(value, list):
        return value
    try:
        return value[idx]
    except IndexError:
        raise TransformError(f"no item {idx} in a list of {len(value)}") from None


# -- dates and times ------------------------------------------------------------------------------

DATE_FORMATS: dict[str, str] = {
    "iso": "%Y-%m-%d",
    "yyyy-mm-dd": "%Y-%m-%d",
    "yyyymmdd": "%Y%m%d",
    "dd-mm-yyyy": "%d-%m-%Y",
    "dd/mm/yyyy": "%d/%m/%Y",
    "ddmmyyyy": "%d%m%Y",
    "dd.mm.yyyy": "%d.%m.%Y",
}
TIME_FORMATS: dict[str, str] = {"iso": "%H:%M:%S", "hh:mm:ss": "%H:%M:%S", "hhmmss": "%H%M%S", "hh:mm": "%H:%M"}


def _prep_format(table: dict[str, str]) -> Callable[[Any], str]:
    def prepare(arg: Any) -> str:
        if not isinstance(arg, str):
            raise ValueError(f"expects a format name ({', '.join(table)}) or a strftime pattern")
        fmt = table.get(arg.lower(), arg)
        if "%" not in fmt:
            raise ValueError(f"unknown format {arg!r}: use one of {', '.join(table)} or a strftime pattern")
        return fmt

    return prepare


@_register("date", "Parse a date in a named format (dd-mm-yyyy, yyyymmdd, ...) or strftime pattern to ISO.",
           prepare=_prep_format(DATE_FORMATS), reverse=lambda fmt: ("format_date", fmt))
def _date(value: Value, fmt: str) -> Value:
    text = _text(value, "date")
    if fmt == "%Y-%m-%d" and len(text) == 10:
        return text  # already ISO; pydantic checks it
    try:
        return dt.datetime.strptime(text, fmt).date().isoformat()
    except ValueError:
        raise TransformError(f"{found(text)} is not a date in format {fmt}") from None


@_register("format_date", "Write an ISO date in a named format or strftime pattern (the reverse of date).",
           prepare=_prep_format(DATE_FORMATS), reverse=lambda fmt: ("date", fmt))
def _format_date(value: Value, fmt: str) -> Value:
    text = _text(value, "format_date")
    try:
        return dt.date.fromisoformat(text).strftime(fmt)
    except ValueError:
        raise TransformError(f"{found(text)} is not an ISO date") from None


@_register("time", "Parse a time in a named format (hhmmss, hh:mm, ...) to ISO HH:MM:SS.",
           prepare=_prep_format(TIME_FORMATS), reverse=lambda fmt: ("format_time", fmt))
def _time(value: Value, fmt: str) -> Value:
    text = _text(value, "time")
    try:
        return dt.datetime.strptime(text, fmt).time().isoformat()
    except ValueError:
        raise TransformError(f"{found(text)} is not a time in format {fmt}") from None


@_register("format_time", "Write an ISO time in a named format (the reverse of time).",
           prepare=_prep_format(TIME_FORMATS), reverse=lambda fmt: ("time", fmt))
def _format_time(value: Value, fmt: str) -> Value:
    text = _text(value, "format_time")
    try:
        return dt.time.fromisoformat(text).strftime(fmt)
    except ValueError:
        raise TransformError(f"{found(text)} is not an ISO time") from None


# -- numbers --------------------------------------------------------------------------------------

def _prep_number(arg: Any) -> dict[str, Any]:
    if arg in (None, True):
        return {"decimal": ".", "scale": 0}
    if not isinstance(arg, dict) or set(arg) - {"decimal", "scale"}:
        raise ValueError("expects {decimal: ',' or '.', scale: N} (scale multiplies by 10^N, e.g. euro to cent)")
    decimal = arg.get("decimal", ".")
    if decimal not in (",", "."):
        raise ValueError("decimal must be ',' or '.'")
    return {"decimal": decimal, "scale": int(arg.get("scale", 0))}


@_register("number", "Parse a number, with decimal comma and thousands separators; scale: 2 turns euros "
           "into cents. The result must be whole.", prepare=_prep_number,
           reverse=lambda arg: ("format_number", arg))
def _number(value: Value, arg: dict[str, Any]) -> Value:
    text = _text(value, "number").strip().replace(" ", "")
    decimal = arg["decimal"]
    thousands = "." if decimal == "," else ","
    text = text.replace(thousands, "").replace(decimal, ".")
    try:
        number = Decimal(text).scaleb(arg["scale"])
    except InvalidOperation:
        raise TransformError(f"{found(value)} is not a number") from None
    if number != number.to_integral_value():
        raise TransformError(f"{found(value)} is not a whole number after scaling by 10^{arg['scale']}")
    return str(int(number))


@_register("format_number", "Write a whole number with a decimal separator and scale (the reverse of number).",
           prepare=_prep_number, reverse=lambda arg: ("number", arg))
def _format_number(value: Value, arg: dict[str, Any]) -> Value:
    text = _text(value, "format_number")
    number = Decimal(text).scaleb(-arg["scale"])
    out = f"{number:f}" if arg["scale"] else str(int(number))
    return out.replace(".", arg["decimal"])


def names() -> list[str]:
    return sorted(REGISTRY)
from . import units as _units  # noqa: E402,F401  (registers unit, multiply, divide)
