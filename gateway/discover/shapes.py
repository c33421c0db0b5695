"""Value shapes and masking: what a value looks like, without keeping what it is.

Discover reads years of archives full of BSNs, names and birth dates. It must say "this vendor
writes dates as dd-mm-yyyy and codes with an HH- prefix" without ever putting a person in a
report, so every value is reduced to a *shape* first, and only values that cannot be personal
data (short codes under non-personal element names) are counted as themselves.
"""

from __future__ import annotations

import re
from functools import lru_cache

from gateway.ingest.errors import quotable
from gateway.ingest.errors import shape as described
from gateway.model import bsn_like
from gateway.model.codes import BERICHTCODES, CODE_LISTS, PRODUCTCATEGORIE_JW, PRODUCTCATEGORIE_WMO

DATE_SHAPES: list[tuple[str, re.Pattern[str]]] = [
    ("yyyy-mm-dd", re.compile(r"^(\d{4})-(\d\d)-(\d\d)$")),
    ("dd-mm-yyyy", re.compile(r"^(\d\d)-(\d\d)-(\d{4})$")),
    ("dd/mm/yyyy", re.compile(r"^(\d\d)/(\d\d)/(\d{4})$")),
    ("dd.mm.yyyy", re.compile(r"^(\d\d)\.(\d\d)\.(\d{4})$")),
]
"""Date formats by the names ``gateway/mapping/transforms.py`` accepts for ``date:``."""

_DATETIME = re.compile(r"^(\S+)[ T](\d\d:\d\d(?::\d\d)?)$")
_TIME = {"hh:mm:ss": re.compile(r"^\d\d:\d\d:\d\d$"), "hh:mm": re.compile(r"^\d\d:\d\d$")}
_DECIMAL_COMMA = re.compile(r"^-?\d{1,3}(?:\.\d{3})*,\d+$|^-?\d+,\d+$")
_DECIMAL_POINT = re.compile(r"^-?\d+\.\d+$")
_PREFIX = re.compile(r"^([A-Za-z]{1,6}[-_:])([A-Za-z0-9]+)$")
_NAME_COMMA = re.compile(r"^[^\d,]+, ?(?:[A-Z]\.?\s?)+$")
_PHONE = re.compile(r"^\+?\d[\d\s-]{6,}$")

PERSONAL_PARTS = ("naam", "namen", "bsn", "burger", "straat", "plaats", "postcode", "huis", "telefoon", "mail",
                  "geboor", "geboren", "voorletter", "voorvoegsel", "tussenvoegsel", "adres", "casemanager", "audit")
"""Fragments of element names whose values are (or may be) about a person: never counted, only told by their
shape (``namen``: a vendor's ``Voornamen`` holds no ``naam``)."""
PERSONAL_NAMES = frozenset({"datum", "nummer", "organisatie", "clientnummer", "relatienummer", "naam"})
"""Whole names that are personal only as a whole: ``Geboortedatum/Datum``, a relation's ``Nummer``."""
NOT_PERSONAL = frozenset({"naamgebruik", "naamcode"})
"""Code fields whose names contain a personal fragment; their values are COD700 codes."""


def date_format(value: str) -> str | None:
    """The name of the date format ``value`` is written in, or None; checks it is a real date too."""
    if len(value) == 8 and value.isdigit():
        y, m, d = int(value[:4]), int(value[4:6]), int(value[6:])
        if 1850 <= y <= 2200 and 1 <= m <= 12 and 1 <= d <= 31:
            return "yyyymmdd"
        d, m, y = int(value[:2]), int(value[2:4]), int(value[4:])
        return "ddmmyyyy" if 1850 <= y <= 2200 and 1 <= m <= 12 and 1 <= d <= 31 else None
    for name, pattern in DATE_SHAPES:
        found = pattern.match(value)
        if found:
            a, b, c = (int(g) for g in found.groups())
            y, m, d = (a, b, c) if name.startswith("yyyy") else (c, b, a)
            return name if 1 <= m <= 12 and 1 <= d <= 31 else None
    return None


def code_mask(value: str) -> str:
    """``02A01`` -> ``99A99``: the layout of a code without its value."""
    return "".join("9" if ch.isdigit() else "A" if ch.isalpha() else ch for ch in value)


_TITLE_WORD = re.compile(r"[A-Z][a-z]+")


def _name_like(value: str) -> bool:
    """Whether a value of a prefixed code's shape is written as names are: a part that is a capitalised word
    (``Smit-Jansen``, a double surname). A code's letters are all of one case (``HH-BASIS``), and its prefix is
    named in reports and drafts (``prefix:HH-``), which would give a name's first part."""
    return any(_TITLE_WORD.fullmatch(part) for part in re.split(r"[-_:]", value))


def local_code(value: str) -> bool:
    """Whether ``value`` may be listed as a vendor's own code (``HH-BASIS``) in a draft's value map: a prefixed
    code's shape (so not written as a name is, see :func:`_name_like`) and no run of six digits."""
    return shape(value).startswith("prefix:") and not _DIGITS.search(value)


@lru_cache(maxsize=1 << 16)
def shape(value: str) -> str:
    """One short label for what a value looks like: ``date:dd-mm-yyyy``, ``digits:9``, ``prefix:HH-`` ..."""
    text = value.strip()
    if not text:
        return "empty"
    found = date_format(text)
    if found:
        return f"date:{found}"
    both = _DATETIME.match(text)
    if both and date_format(both.group(1)):
        return f"datetime:{date_format(both.group(1))} hh:mm{':ss' if both.group(2).count(':') == 2 else ''}"
    for name, pattern in _TIME.items():
        if pattern.match(text):
            return f"time:{name}"
    if text.isdigit():
        return f"digits:{len(text)}"
    if _DECIMAL_COMMA.match(text):
        return "decimal:comma" + (":thousands" if "." in text else "")
    if _DECIMAL_POINT.match(text):
        return "decimal:point"
    prefixed = _PREFIX.match(text)
    if prefixed and any(ch.isalpha() for ch in prefixed.group(1)) and not _name_like(text):
        return f"prefix:{prefixed.group(1)}"
    if _NAME_COMMA.match(text):
        return "name:comma-initials"
    if _PHONE.match(text):
        return "phone:separators"
    if len(text) <= 12 and " " not in text:
        return f"code:{code_mask(text)}" if any(ch.isdigit() for ch in text) else "word"
    return "words" if len(text) <= 40 else "text"


@lru_cache(maxsize=4096)
def personal_name(local_name: str) -> bool:
    """Whether values under this element name may identify a person (cached: names repeat endlessly)."""
    name = local_name.lower()
    if name in NOT_PERSONAL:
        return False
    return name in PERSONAL_NAMES or any(part in name for part in PERSONAL_PARTS)


def personal(local_name: str, value: str = "") -> bool:
    """Whether a value under this element name may identify a person (or is a BSN wherever it is, also one
    that lost its leading zero: :func:`gateway.model.checks.bsn_like`)."""
    return personal_name(local_name) or (len(value) >= 8 and bsn_like(value.strip()))


def example(value: str) -> str:
    """What a report gives of a personal value: its shape only (``9 digits``, ``7 letters``, ``10 characters in
    the form dd-dd-dddd``), as ingest's errors give it. No character of it survives: a first letter or a BSN's
    last two digits narrow a person down in a small archive, so nothing that is not a code is ever partly shown."""
    text = value.strip()
    return described(text) if text else ""


_DIGITS = re.compile(r"\d{6,}")


def scrub(text: str) -> str:
    """A text fit for a report: long digit runs (a BSN, a beschikkingnummer) masked whole, length capped."""
    return _DIGITS.sub(lambda m: "*" * len(m.group()), text)[:200]


KEY_WORDS = frozenset({
    "bericht", "berichten", "message", "messages", "export", "exports", "import", "archief", "archive", "batch",
    "casus", "wmo", "iwmo", "jw", "ijw", "ei", "xml", "txt", "dat", "zip", "tar", "gz", "tgz", "json", "sample",
    "samples", "voorbeeld", "fixtures", "examples", "variants", "toewijzing", "intrekking", "herindicatie",
    "verzoek", "start", "stop", "retour", "wijziging", "correctie", "verwijderen", "nieuweaanlevering", "akkoord",
    "alle", "elementen", "full", "in", "out", "input", "inputs",
})
"""Words of message file names that say nothing about a person; any other word of a key is masked."""
_KEY_TOKEN = re.compile(r"\d+|[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[^\W\d_]+")
_KEY_PART = re.compile(r"[^\W_]+")
_KEY_DIGITS = 5
"""A run of this many digits in a file name is masked: longer than any code :func:`quotable` shows."""


def mask_key(key: str, fill: str = "*") -> str:
    """A member key (``export.zip/2016/Gaastra_D_123456782.xml``) as a shared report or a file name may hold it.

    File names of exports often carry a client's name, initials and BSN, so nothing of those is shown, not even
    a first letter or a number's last digits: each word that is not in :data:`KEY_WORDS`, each run of five or
    more digits and each initial (one or two letters standing alone) becomes ``fill`` once per character, as
    its shape. Kept are the key words, short numbers and a letter or two glued to one of those (``CasusA``,
    ``WMO301``): ``*******_*_*********_toewijzing.xml``."""

    def part(found: re.Match[str]) -> str:
        tokens = _KEY_TOKEN.findall(found.group())
        anchored = any(t.lower() in KEY_WORDS or (t.isdigit() and len(t) < _KEY_DIGITS) for t in tokens)

        def kept(word: str) -> bool:
            if word.isdigit():
                return len(word) < _KEY_DIGITS
            return word.lower() in KEY_WORDS or (len(word) <= 2 and anchored)

        shown_ = "".join(t if kept(t) else fill * len(t) for t in tokens)
        return shown_ if len(shown_) == len(found.group()) else fill * len(found.group())  # a token missed

    return _KEY_PART.sub(part, key)


KNOWN_CODES = frozenset({v for _name, values in CODE_LISTS.values() for v in values}
                        | PRODUCTCATEGORIE_WMO | PRODUCTCATEGORIE_JW | set(BERICHTCODES))
"""Every value of a code list Overstap knows: such a value may be shown wherever it turns up."""


def shown(value: str, allowed: frozenset[str] | None = None) -> str | None:
    """``value`` when a shared report may show it as itself, else None (then it is :func:`told` by its shape).

    ``allowed`` is what the dialect rule reading the element accepts (its code list or value map), None when no
    rule maps the element to a code. A value is shown when it is in ``allowed``, or when it has the strict shape
    of a code (:func:`gateway.ingest.errors.quotable`: short, no spaces, never nine digits, a date or a word of
    letters only) and the element is a code element or the value a code of a list Overstap knows. Anything else
    (a name in a code column, a diagnosis in a vendor extension) may be personal."""
    text = value.strip()
    if allowed is not None and text in allowed and not date_format(text) and not _DIGITS.search(text):
        return text
    if quotable(text) and (allowed is not None or text in KNOWN_CODES):
        return text
    return None


def told(value: str, allowed: frozenset[str] | None = None) -> str:
    """A value for a sentence of a shared report: quoted when :func:`shown`, else its shape (``(7 letters)``)."""
    text = shown(value, allowed)
    return repr(text) if text is not None else f"({described(value.strip())})"
