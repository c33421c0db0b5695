"""The GGk envelope's value guard: each value gateway.render.ggk writes into a Di01/Du01 envelope, checked
against the XSD type of its place, instead of parsing the envelope back and validating it (issue 13: ~60 µs a
message in the pipeline, for a text that is fixed but for these values).

The envelope's structure is the writer's fixed text, in two shapes (Di01, Du01), and its payload is base64 of
bytes. tests/test_ggk_guard.py proves both once: every shape validates against the official GGk XSD with lxml,
and the guard's verdict on generated values agrees with lxml's. The facets come from the official XSD
(gateway/render/xsdtypes.py) at first use. A failure raises :class:`OutputInvalid` that names the place and
what the schema expects, never the value. The payload itself keeps its re-parse: mapping files write it.
"""

from __future__ import annotations

import functools
from pathlib import Path

from gateway.reference import ENV, reference_dir

from .guard import Check, compile_check, fast_pattern
from .schemas import SCHEMA_FILES, OutputInvalid, SchemaUnavailable
from .xsdtypes import NS, Schema

GGK_NS = "http://www.stufstandaarden.nl/sectormodel/ggk/0210"
_NAMES = {**NS, "GGK": GGK_NS}
STUUR = "GGK:stuurgegevens/StUF:"
PARAMETERS = "GGK:parameters/GGK:"
WRITTEN = {"&", "<"}
"""What a value written without escaping must not hold (the writer escapes only the parties' names): markup,
or an entity reference, which would read back as another value than the one written."""


class _GgkSchema(Schema):
    """The StUF declarations as the GGk XSD loads them, with its own prefix for paths."""

    @staticmethod
    def _clark(step: str) -> str:
        prefix, _, local = step.partition(":")
        return f"{{{_NAMES[prefix]}}}{local}"


class Place:
    """One value of the envelope: the path (from the root element) of the element whose type it must fit."""

    __slots__ = ("_check", "match", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._check: Check | None = None
        self.match = self._first
        """After the first value: a regex's fullmatch that accepts only values the full check accepts and that
        need no escaping (``guard.fast_pattern``); a miss takes :meth:`check`."""

    def _first(self, value: str) -> None:
        return None

    def compile(self, root: str) -> Check:
        """The full check of this place, from the facets of the GGk XSD; the fast path set beside it."""
        if self._check is None:
            facets = schema().facets(f"GGK:{root}/{self.path}")
            self._check = compile_check(facets)
            fast = fast_pattern(facets)
            if fast is not None:
                self.match = fast.fullmatch
        return self._check

    def check(self, root: str, value: str, escaped: bool) -> None:
        """Raise :class:`OutputInvalid` unless ``value`` (escaped by the writer or not) fits this place."""
        problem = self.compile(root)(value)
        if problem is None and not escaped and not WRITTEN.isdisjoint(value):
            problem = "text without & or < (this value is written as it is)"
        if problem is not None:
            raise OutputInvalid("ggk", [f"{root}/{self.path}: the schema expects {problem} (value guard)"])


ZENDER_ORGANISATIE = STUUR + "zender/StUF:organisatie"
ZENDER_APPLICATIE = STUUR + "zender/StUF:applicatie"
ZENDER_ADMINISTRATIE = STUUR + "zender/StUF:administratie"
ONTVANGER_ORGANISATIE = STUUR + "ontvanger/StUF:organisatie"
ONTVANGER_APPLICATIE = STUUR + "ontvanger/StUF:applicatie"
REFERENTIENUMMER = STUUR + "referentienummer"
TIJDSTIP = STUUR + "tijdstipBericht"
CROSS_REF = STUUR + "crossRefnummer"
FUNCTIE = STUUR + "functie"
VERSIONS = tuple(PARAMETERS + name for name in ("applicatieVersie", "applicatieSubversie", "functieVersie",
                                                 "functieSubversie"))
ESCAPED = (ZENDER_ORGANISATIE, ZENDER_APPLICATIE, ZENDER_ADMINISTRATIE, ONTVANGER_ORGANISATIE, ONTVANGER_APPLICATIE)
"""The places whose values the writer escapes (``zkn.esc``); the others it writes as they are."""
PLAIN = (REFERENTIENUMMER, TIJDSTIP, FUNCTIE, *VERSIONS)
_PLACES: dict[tuple[str, str], Place] = {}


def place(root: str, path: str) -> Place:
    found = _PLACES.get((root, path))
    if found is None:
        found = _PLACES[root, path] = Place(path)
    return found


ROOTS = {"envelopHeenbericht-ggk_Di01": False, "envelopRetourbericht-ggk_Du01": True}
"""The two envelopes (gateway.render.ggk DI01, DU01), and whether the place of a crossRefnummer is checked."""


def _every_place() -> list[tuple[str, Place]]:
    return [(root, place(root, path)) for root, retour in ROOTS.items()
            for path in (*ESCAPED, *PLAIN, *((CROSS_REF,) if retour else ()))]


def prepare() -> None:
    """Compile every place of both envelopes now, not at the first envelope written (a sidecar's warm start)."""
    for root, found in _every_place():
        found.compile(root)


def cold() -> int:
    """How many places of both envelopes are not compiled yet (0 after :func:`prepare`)."""
    return sum(found._check is None for _, found in _every_place())


def check(root: str, escaped: tuple[str, ...], plain: tuple[str, ...], cross_ref: str | None) -> None:
    """Check the values of one ``root`` envelope (``envelopHeenbericht-ggk_Di01`` or its Du01): ``escaped`` in
    the order of :data:`ESCAPED`, ``plain`` in that of :data:`PLAIN`, the Du01's ``cross_ref``."""
    pairs = [*zip(ESCAPED, escaped, strict=True), *zip(PLAIN, plain, strict=True)]
    if cross_ref is not None:
        pairs.append((CROSS_REF, cross_ref))
    for i, (path, value) in enumerate(pairs):
        found = place(root, path)
        if found.match(value) is None:
            found.check(root, value, i < len(ESCAPED))


def schema() -> Schema:
    """The GGk declarations from the reference dir, read once per process (and per reference dir)."""
    return _read(reference_dir() / SCHEMA_FILES["ggk"])


@functools.lru_cache(maxsize=8)
def _read(entry: Path) -> Schema:
    if not entry.is_file():
        raise SchemaUnavailable(f"schema {entry} not found: set {ENV} to the reference folder")
    return _GgkSchema(entry)
