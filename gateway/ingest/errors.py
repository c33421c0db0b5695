"""The one error type of ingest: which input, which line, which field, what was expected.

And what was found, told so that no personal data travels with it. Error texts end up in report.jsonl,
quarantine ``.reason`` files, Fo03 replies and on the terminal; the value that broke a rule can be a
BSN or a name typed into the wrong field or shifted into a neighbouring position. So a found value is
given by :func:`found`: quoted only when it has the shape of a code (:func:`quotable`), else described
by its shape alone (:func:`shape`: ``9 digits``, ``12 characters: letters and spaces``, ``10 characters
in the form dddd-dd-dd``). Where even a code-shaped value may be personal (a house number, the content of
a field that holds names), callers use :func:`shape` directly.
"""

from __future__ import annotations

import re
from typing import Any

TOO_LARGE = "StUF058"
"""The code of an input over a size limit: the only StUF058 ingest raises. StUF 03.01 files a message too large
under StUF058, which elsewhere means a fault in processing (the server's); this one is the sender's to fix."""


class InputError(ValueError):
    """Bad input that no mapping can fix. ``code`` is a StUF-style fault code (StUF055, ... :data:`TOO_LARGE`)."""

    def __init__(
        self,
        message: str,
        *,
        source: str = "<input>",
        line: int | None = None,
        field: str | None = None,
        code: str = "StUF055",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.line = line
        self.field = field
        self.code = code

    def __str__(self) -> str:
        where = self.source + (f":{self.line}" if self.line else "")
        field = f" [{self.field}]" if self.field else ""
        return f"{where}{field}: {self.message}"


# A value that may be quoted: at most four digits (a BerichtCode, a gemeentecode, a count), at most two
# capitals or digits (a record type, Geslacht 'V'), three to five letters and digits with both in it (a
# product code 02A01, a StUF code Du01), a short decimal ('2,5'), or up to five marks of markup (no letter
# or digit at all). Too short and too plain to be a BSN or a recognisable part of one, a birth date, a
# postcode, a phone number or a name (a word of letters only is never quoted).
_QUOTABLE = re.compile(r"\d{1,4}|[0-9A-Z]{1,2}|(?=.*\d)(?=.*[A-Za-z])[0-9A-Za-z]{3,5}|[-+]?\d{1,3}[.,]\d{1,2}"
                       r"|[!-/:-@\[-`{-~]{1,5}", re.ASCII)
_DIGITS = frozenset("0123456789")
_FORM_MARKS = frozenset("-./:,+")
_FORM_MAX = 20
"""A value of letters, digits and these marks, up to this long, is shown in its form (``dddd-dd-dd``): a
date, time, amount or vendor code in the wrong notation is recognisable from it, and no letter or digit of
it is given."""


def quotable(value: str) -> bool:
    """True when ``value`` has the shape of a code and nothing of a person can be in it (see ``_QUOTABLE``)."""
    return _QUOTABLE.fullmatch(value) is not None


def shape(value: Any) -> str:
    """What a value looks like, never what it is: its length and kinds of character.

    ``9 digits``, ``9 letters``, ``12 spaces``; a value of letters or digits with the marks ``- . / : , +``
    (at most 20 characters, no spaces) in its form, each digit a ``d`` and each letter an ``a``: ``10
    characters in the form dddd-dd-dd``, ``8 characters in the form aa-aaaaa``; else ``N characters:
    letters, digits, spaces and other characters`` (the kinds present). ``nothing`` for an empty value.
    """
    text = str(value)
    n = len(text)
    if not text:
        return "nothing"
    letters = any(c.isalpha() for c in text)
    digits = any(c in _DIGITS for c in text)
    spaces = " " in text
    other = any(not (c.isalpha() or c in _DIGITS or c == " ") for c in text)
    if not (letters or digits or other):
        return _count(n, "space")
    if n == 1 and other:
        return "1 other character"
    if not (letters or spaces or other):
        return _count(n, "digit")
    if not (digits or spaces or other):
        return _count(n, "letter")
    if other and not spaces and n <= _FORM_MAX and all(c.isalpha() or c in _DIGITS or c in _FORM_MARKS for c in text):
        return f"{n} characters in the form {''.join('d' if c in _DIGITS else 'a' if c.isalpha() else c for c in text)}"
    kinds = [k for k, present in (("letters", letters), ("digits", digits), ("spaces", spaces),
                                  ("other characters", other)) if present]
    listed = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]
    return f"{_count(n, 'character')}: {listed}"


def found(value: Any) -> str:
    """A found value as an error may give it: quoted (``'02A01'``) when :func:`quotable`, else its
    :func:`shape` (``9 digits``). Numbers and booleans count as their text; a value of another kind (a
    list, a mapping) is described as ``a <type>``."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, dict | list | tuple | set):
        return f"a {type(value).__name__} of {len(value)}"
    text = value if isinstance(value, str) else str(value)
    return repr(value) if quotable(text) else shape(text)


_XSD_VALUE = re.compile(
    r"(?<=[Vv]alue )'(.*)'(?= (?:is not|is less|is greater|has|does not))"
    r"|(?<=: )'(.*)'(?= is not a valid value)"
    r"|(?<=key-sequence )\[(.*)\](?= (?:of|in) )")
"""Where libxml2's schema messages quote the document: ``The value '%s' is not accepted by the pattern``, ``Element
'x': '%s' is not a valid value of the atomic type``, ``key-sequence [%s] of keyref``. Greedy up to the last text
that follows the value, so a value holding a quote (``D'Souza``) or those words is taken whole."""


def xsd_message(message: str) -> str:
    """A libxml2 schema-validation message with each value it quotes from the document told by its :func:`shape`
    (``The value (8 characters: letters, digits and spaces) is not accepted by the pattern '...'``). The element
    and the schema's own words (its pattern, its list) stay: they say what to fix. Such messages reach Fo03
    replies, batch reports and the terminal, and the value may be a postcode, a name or a BSN."""
    return _XSD_VALUE.sub(lambda m: f"({shape(next(g for g in m.groups() if g is not None))})", message)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
