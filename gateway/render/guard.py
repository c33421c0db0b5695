"""The zkn value guard: every data value the zakLk01 writer puts in an output, checked against the XSD type
of its place, instead of parsing each output back and validating it (issue 13: ~95 of 563 µs a message).

The writer decides the structure (element order, required elements, attributes, noValue and xsi:nil), so
tests/test_render_guard.py proves it once: every shape the writer can produce validates against the
official XSD with lxml, and the guard's verdict on generated values agrees with lxml's. What varies per
message are the values; those are checked here, each at its :class:`Place`, with the facets read from the
official XSDs (gateway/render/xsdtypes.py) at first use. A failure raises :class:`OutputInvalid` naming
the place and what the schema expects, never the value (it can be a BSN or a name).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable
from contextvars import ContextVar
from decimal import Decimal

from gateway.reference import ENV, reference_dir

from .schemas import OutputInvalid, SchemaUnavailable
from .xsdtypes import DECIMALS, Facets, Schema

ENTRY = "stuf/_zkn_mutatie_entry.xsd"
ROOT = "ZKN:zakLk01/"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_DECIMAL = re.compile(r"[+-]?(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))")
_INTEGER = re.compile(r"[+-]?([0-9]+)")
_SPACES = re.compile(" +")
_ACTIVE: ContextVar[bool] = ContextVar("zkn_value_guard", default=False)

Check = Callable[[str], "str | None"]
"""A compiled check: None when the value fits, else what the schema expects (no value in it)."""


class Place:
    """One spot of a zakLk01 where the writer puts a data value: the tag it writes and the path (from
    ``ZKN:zakLk01``) of the element whose XSD type the value must fit; ``attribute`` for an attribute value.
    The writer escapes every value (:func:`text`), so the parser reads back the value itself."""

    __slots__ = ("_check", "_required", "attribute", "close", "match", "nil", "open", "path", "tag")

    def __init__(self, path: str, *, attribute: str | None = None) -> None:
        self.path = path
        self.tag = path.rpartition("/")[2]
        self.open, self.close = f"<{self.tag}>", f"</{self.tag}>"
        """The element's start and end tags, made once instead of in every value's f-string."""
        self.nil = {missing: f'<{self.tag} xsi:nil="true" StUF:noValue="{missing}"/>'
                    for missing in ("geenWaarde", "waardeOnbekend")}
        """The empty element with each StUF noValue (StUF 03.01 3.4.1), made once: ~14 an output."""
        self.attribute = attribute
        self._check: Check | None = None
        self.match: Callable[[str], object] = _never
        """The fast path once compiled: a regex's fullmatch that only accepts values the full check
        accepts (a miss goes to :meth:`check`, which decides and explains)."""
        self._required: bool | None = None

    def __repr__(self) -> str:
        return f"Place({self.path!r}{', @' + self.attribute if self.attribute else ''})"

    def where(self) -> str:
        return self.path + (f"/@{self.attribute}" if self.attribute else "")

    def check(self, value: str) -> None:
        """Raise :class:`OutputInvalid` unless ``value``, written here, is valid for the schema."""
        compiled = self._check or self._compile()
        problem = compiled(value)
        if problem is not None:
            raise OutputInvalid("zkn", [f"{self.where()}: the schema expects {problem} (value guard)"])

    def absent(self) -> None:
        """The writer leaves the element out (no value, no noValue): refused where the schema requires it."""
        if self._required is None:
            self._required = schema().required(ROOT + self.path)
        if self._required:
            raise OutputInvalid("zkn", [f"{self.where()}: the schema requires this element, and it has no "
                                        "value (value guard)"])

    def _compile(self) -> Check:
        facets = schema().facets(ROOT + self.path, self.attribute)
        self._check = compile_check(facets, self.attribute is not None)
        fast = fast_pattern(facets, self.attribute is not None)
        if fast is not None:
            self.match = fast.fullmatch
        return self._check


def prepare() -> None:
    """Compile every place's check and read whether it is required, now rather than at the first value written
    there: a sidecar does it before it says ready, so its first messages do not pay ~0.1-0.3 s of XSD reading,
    regex building and the elementpath import (docs/deploy-sidecar.md, *Warm start*)."""
    from .zkn_values import every_place  # the places are made there, at import (it imports this module)

    for place in every_place():
        if place._check is None:
            place._compile()
        if place._required is None:
            place._required = schema().required(ROOT + place.path)


def cold() -> int:
    """How many places are not compiled yet (0 after :func:`prepare`): what a worker reports of its warmth."""
    from .zkn_values import every_place

    return sum(place._check is None or place._required is None for place in every_place())


def active() -> bool:
    """Whether values are guarded in this thread or task (set by :func:`guarding`)."""
    return _ACTIVE.get()


class guarding:
    """Guard the values the zkn writer writes inside the block (a context variable: per thread and task).
    A class, not a generator: it runs once per message (~0.3 µs against ~2 µs)."""

    __slots__ = ("_on", "_token")

    def __init__(self, on: bool = True) -> None:
        self._on = on

    def __enter__(self) -> None:
        self._token = _ACTIVE.set(self._on)

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.reset(self._token)


_lock = threading.Lock()
_schemas: dict[str | None, Schema] = {}


def schema() -> Schema:
    """The StUF-ZKN declarations from the reference dir, read once per process (and per reference dir)."""
    key = os.environ.get(ENV)
    found = _schemas.get(key)
    if found is None:
        with _lock:
            found = _schemas.get(key)
            if found is None:
                entry = reference_dir() / ENTRY
                if not entry.is_file():
                    raise SchemaUnavailable(f"schema {entry} not found: set {ENV} to the reference folder")
                found = _schemas[key] = Schema(entry)
    return found


def _never(value: str) -> None:
    return None


_XML_CHAR = "[\t\n\x20-\x21\x23-\x25\x27-\x3b\x3d\x3f-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
"""A character XML 1.0 allows, carriage return left out (the parser turns it into a line feed), and none that
the writer escapes (``& < > "``): a value the fast path accepts is written as it is (see :func:`text`)."""


def fast_pattern(f: Facets, attribute: bool = False) -> re.Pattern[str] | None:
    """One regex accepting a subset of what :func:`compile_check` accepts, for the types most values have: a
    string kept as written (length, pattern and enumeration facets as lookaheads over legal characters), and
    a date-like decimal (digits only, no range). None for the rest, which always take the full check."""
    if f.builtin == "string" and f.whitespace == "preserve" and not attribute:
        steps = [*f.patterns, *([tuple(re.compile(re.escape(v)) for v in sorted(f.enumeration))]
                                if f.enumeration is not None else [])]
        ahead = "".join(f"(?=(?:{'|'.join(p.pattern for p in step)})\\Z)" for step in steps)
        high = "" if f.max_length is None else str(f.max_length)
        return re.compile(f"{ahead}{_XML_CHAR}{{{f.min_length},{high}}}", re.DOTALL)
    if attribute and f.builtin == "string" and not f.patterns and f.enumeration is None and not f.min_length \
            and f.max_length is None:
        return re.compile(f"{_XML_CHAR}*")
    if f.builtin == "decimal" and f.enumeration is None and f.min_inclusive is None and f.max_inclusive is None \
            and not f.patterns and f.total_digits is not None and f.fraction_digits == 0:
        return re.compile(f"[0-9]{{1,{f.total_digits}}}")
    if f.builtin in DECIMALS and f.builtin != "decimal" and f.enumeration is None and f.min_inclusive in (0, 1):
        return _counting(f)
    return None


def _counting(f: Facets) -> re.Pattern[str] | None:
    """The fast path of a non-negative integer type (an AGB, a huisnummer, a volgnummer: ~2 values a message
    took the full check): unsigned digits, few enough for totalDigits and maxInclusive, not all zeros where 0 is
    too small, the type's patterns as lookaheads (digits are the same after whiteSpace collapse)."""
    digits = f.total_digits
    if f.max_inclusive is not None:  # every number of fewer digits than max + 1 has is at most max
        below = len(str(f.max_inclusive + 1)) - 1
        digits = below if digits is None else min(digits, below)
    if digits is not None and digits < 1:
        return None
    ahead = "".join(f"(?=(?:{'|'.join(p.pattern for p in step)})\\Z)" for step in f.patterns)
    width = "+" if digits is None else f"{{1,{digits}}}"  # leading zeros counted too: a subset either way
    if f.min_inclusive == 1:  # not all zeros
        return re.compile(f"{ahead}(?=[0-9]{width}\\Z)0*[1-9][0-9]*", re.DOTALL)
    return re.compile(f"{ahead}[0-9]{width}", re.DOTALL)


def compile_check(f: Facets, attribute: bool = False) -> Check:
    """A check of one value against facets ``f`` as a parser and libxml2 see it: line ends normalised (and
    in an attribute tabs and newlines as spaces), then the type's whiteSpace, then lexical form and facets."""
    numeric = f.builtin in DECIMALS
    lexical = _DECIMAL if f.builtin == "decimal" else _INTEGER
    low, high = f.min_length, f.max_length
    name = f" ({f.name})" if f.names else ""

    def check(value: str) -> str | None:
        if _NOT_XML.search(value):
            return "only characters XML 1.0 allows"
        if "\r" in value:
            value = value.replace("\r\n", "\n").replace("\r", "\n")
        if attribute or f.whitespace != "preserve":
            value = value.replace("\t", " ").replace("\n", " ")
        if f.whitespace == "collapse":
            value = _SPACES.sub(" ", value.strip(" "))
        if numeric:
            problem = _number(value, f, lexical)
            if problem is not None:
                return problem + name
        elif not low <= len(value) <= (len(value) if high is None else high):
            return _length(low, high) + name
        for step in f.patterns:
            if not any(p.fullmatch(value) for p in step):
                return "a value of the pattern " + " or ".join(_source(p) for p in step) + name
        if f.enumeration is not None and value not in f.enumeration:
            return "one of " + ", ".join(sorted(f.enumeration)) + name
        return None

    return check


def _length(low: int, high: int | None) -> str:
    if high is None:
        return f"at least {low} characters"
    if low == high:
        return f"exactly {low} characters"
    return f"{low} to {high} characters" if low else f"at most {high} characters"


def _source(pattern: re.Pattern[str]) -> str:
    text = pattern.pattern
    return text.removeprefix("^(").removesuffix(")$(?!\\n\\Z)")


def _number(value: str, f: Facets, lexical: re.Pattern[str]) -> str | None:
    """The lexical form and the digit and range facets of a decimal-derived value (XSD 1.0 decimal)."""
    found = lexical.fullmatch(value)
    kind = "an integer" if lexical is _INTEGER else "a decimal number"
    if found is None:
        return kind
    whole = (found.group(1) or "").lstrip("0")
    fraction = ((found.group(2) or "") + (found.group(3) or "") if lexical is _DECIMAL else "").rstrip("0")
    if f.total_digits is not None and len(whole) + len(fraction) > f.total_digits:
        return f"{kind} of at most {f.total_digits} digits"
    if f.fraction_digits is not None and len(fraction) > f.fraction_digits:
        return f"{kind} with at most {f.fraction_digits} decimals"
    if f.min_inclusive is not None or f.max_inclusive is not None:
        number = Decimal(value)
        if f.min_inclusive is not None and number < f.min_inclusive:
            return f"{kind} of at least {f.min_inclusive}"
        if f.max_inclusive is not None and number > f.max_inclusive:
            return f"{kind} of at most {f.max_inclusive}"
    return None


Parts = list[str]
"""The parts of one message the writer joins: a plain list, or a :class:`Guarded` one."""


class Guarded(list[str]):
    """The parts of a message whose values are guarded (the writer makes one when :func:`active`); a plain
    list is not guarded, and joins without the copy ``str.join`` makes of a list subclass."""

    __slots__ = ()


def parts(first: list[str]) -> Parts:
    """The writer's list of parts for one message, guarded or not as :func:`active` says."""
    return Guarded(first) if _ACTIVE.get() else first


def guarded(out: Parts) -> bool:
    return out.__class__ is Guarded


def text(out: Parts, place: Place, value: str) -> str:
    """``value`` escaped for the element text at ``place``; checked against its XSD type when guarded."""
    if out.__class__ is Guarded:
        if place.match(value) is not None:
            return value  # the fast path's characters need no escaping (_XML_CHAR)
        place.check(value)
    if "&" in value or "<" in value or ">" in value or '"' in value:
        return escape(value)
    return value


def escape(value: str) -> str:
    """Element text and attribute values: ``& < > "`` as entities (what the writer has always done)."""
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if '"' in value:
        value = value.replace('"', "&quot;")
    return value
