"""One message -> its profile: structure, value shapes, the dialect it is closest to and how it deviates.

A profile is what a worker sends back for each message: small (at most :data:`MAX_PATHS` paths, shapes, a
few short values) and picklable, so discover can run over a process pool and the parent only ever aggregates.
Values of personal elements never leave the worker: a profile carries one example per personal element,
told by its shape only (``9 digits``), and short values of other elements as themselves (scaffold builds
value maps from them; the report shows only those :func:`gateway.discover.shapes.shown` allows).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from gateway.ingest import InputError, read
from gateway.mapping import Compiled, ConversionError, MappingError, Registry, map_source
from gateway.mapping.registry import builtin_dir
from gateway.model.codes import BERICHTCODES, BERICHTNUMMERS

from .compare import Summary, formats, structural
from .expect import Tags, expectation, local
from .shapes import described, example, personal, scrub, shape

MAX_VALUES_PER_PATH = 8
"""Values kept per path and message; a message with 500 products says no more about its shapes than 8."""
MAX_PATHS = 2_000
"""Distinct element and attribute paths profiled per message (and kept per cluster): the largest real message
(tests/fixtures/iwmo21/families/Full-WMO302_alle_elementen.xml, every element of the schema) has 170, the
samples 60 to 100, so a real dialect stays far below; past it a message is not profiled (measured:
docs/performance.md, Discover)."""
MAX_DEPTH = 40
"""Levels of elements below the root: real messages have at most 9 (an envelope adds a few)."""
_TOO_MANY = "too many distinct elements: more than {:,} element and attribute paths; not profiled"
_CACHED_PATHS = 50_000
"""Paths the per-path-set caches may hold together before they start afresh (a few MB)."""
STRUCTURAL = ("extra", "renamed", "attribute", "missing", "format")
"""Deviation kinds that make a message another dialect (a cluster of its own); codes do not."""


@dataclass(slots=True)
class Profile:
    """What one message looks like: paths with counts, value shapes, codes (non-personal) and masked examples."""

    key: str
    fmt: str  # xml | ei | unreadable
    namespace: str = ""
    root: str = ""
    encoding: str = ""
    layout: tuple[str, ...] = ()
    counts: dict[Tags, int] = field(default_factory=dict)
    values: dict[Tags, list[str]] = field(default_factory=dict)
    shapes: dict[Tags, Counter[str]] = field(default_factory=dict)
    masked: dict[Tags, str] = field(default_factory=dict)
    mapping: str | None = None
    reference: str | None = None
    builtin: str | None = None
    fingerprint: tuple[str, ...] = ()
    converted: bool | None = None
    problem: str | None = None
    warnings: tuple[str, ...] = ()


def reason(exc: Exception) -> str:
    """Why a message failed, without its file name (so equal reasons count together) and masked."""
    message = getattr(exc, "message", None) or str(exc)
    where = getattr(exc, "field", None)
    return scrub(f"{where}: {message}" if where else message)


class Unprofiled(Exception):
    """A message past a bound of :func:`walk`: too many distinct element paths, or too deep."""


def walk(root: etree._Element, max_paths: int = MAX_PATHS,
         max_depth: int = MAX_DEPTH) -> tuple[dict[Tags, int], dict[Tags, list[str]]]:
    """Every element and attribute path below the root with its count, and the leaf texts per path.

    Raises :class:`Unprofiled` past ``max_paths`` distinct paths or ``max_depth`` levels, so one hostile message
    costs bounded memory (and a path tuple at most ``max_depth`` long)."""
    counts: Counter[Tags] = Counter()
    values: dict[Tags, list[str]] = {}

    def keep(path: Tags, text: str) -> None:
        got = values.setdefault(path, [])
        if len(got) < MAX_VALUES_PER_PATH:
            got.append(text)

    def visit(el: etree._Element, path: Tags) -> None:
        if len(path) > max_depth:
            raise Unprofiled(f"too deep: more than {max_depth} levels of elements; not profiled")
        if len(counts) > max_paths:  # checked per element (its own path is the one it adds) and per attribute
            raise Unprofiled(_TOO_MANY.format(max_paths))
        for name, value in el.attrib.items():
            if not name.startswith("{http://www.w3.org/"):
                attr = (*path, f"@{name}")
                counts[attr] += 1
                if len(counts) > max_paths:
                    raise Unprofiled(_TOO_MANY.format(max_paths))
                keep(attr, value.strip())
        leaf = True
        for child in el:
            if not isinstance(child.tag, str):
                continue
            leaf = False
            sub = (*path, child.tag)
            counts[sub] += 1
            visit(child, sub)
        if leaf and el.text and el.text.strip() and path:
            keep(path, el.text.strip())

    visit(root, ())
    return dict(counts), values


def split_personal(values: dict[Tags, list[str]]) -> tuple[dict[Tags, list[str]], dict[Tags, str]]:
    """(short values of non-personal elements, one example per personal element and per long value's element,
    each by its shape). The short values may still be anything: the report shows them only by
    :func:`gateway.discover.shapes.shown`'s rule; scaffold needs them as they are for value maps."""
    codes: dict[Tags, list[str]] = {}
    masked: dict[Tags, str] = {}
    for path, texts in values.items():
        name = local(path[-1]).lstrip("@")
        for text in texts:
            if personal(name, text):
                masked.setdefault(path, example(text))
            elif len(text) > 40:
                masked.setdefault(path, described(text))
            else:
                codes.setdefault(path, []).append(text)
    return codes, masked


def summary_of(counts: dict[Tags, int], values: dict[Tags, list[str]]) -> Summary:
    """A one-message :class:`Summary`, so a message is compared with a dialect exactly like a cluster."""
    shapes = {p: Counter(shape(v) for v in vs) for p, vs in values.items()}
    return Summary(1, dict.fromkeys(counts, 1), shapes, {})


class Profiler:
    """Profiles messages against one registry; caches the closest built-in dialect per root."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or Registry()
        root = builtin_dir().resolve()
        self.builtins = [m for m in self.registry.all() if Path(m.file).resolve().is_relative_to(root)]
        self._closest: dict[tuple[str, str, str, str], str | None] = {}
        self._builtin: dict[str, Compiled | None] = {}
        self._structure: dict[tuple[str, frozenset[Tags], frozenset[Tags]], tuple[str, ...]] = {}
        self._structure_paths = 0
        self._theirs: dict[str, set[tuple[str, ...]]] = {}

    def profile(self, key: str, data: bytes) -> Profile:
        try:
            source = read(data, key)
        except InputError as exc:
            return Profile(key, "unreadable", problem=reason(exc))
        root = source.root
        try:
            counts, values = walk(root)
        except Unprofiled as exc:
            return Profile(key, "unprofiled", source.namespace, source.root_name, problem=str(exc))
        summary = summary_of(counts, values)
        codes, masked = split_personal(values)
        prof = Profile(key, source.format, source.namespace, source.root_name, _encoding(data, source.format, root),
                       _layout(data) if source.format == "ei" else (), counts, codes, summary.shapes, masked)
        try:
            matched = self.registry.match(root, source.format, source.route, source=key)
        except ConversionError as exc:
            matched, prof.problem = None, reason(exc)
        builtin = self._builtin_for(matched, prof)
        prof.mapping = matched.name if matched else None
        prof.builtin = builtin.name if builtin else None
        reference = matched or builtin
        prof.reference = reference.name if reference else None
        if reference is not None:
            prof.fingerprint = self._fingerprint(reference, summary, values)
        if matched is not None:
            self._convert(matched, root, prof)
        return prof

    def _fingerprint(self, reference: Compiled, summary: Summary, values: dict[Tags, list[str]]) -> tuple[str, ...]:
        """How this message deviates from its reference mapping, as signatures. The structural part depends only
        on the set of paths, so it is computed once per distinct set (a dialect has a handful)."""
        exp = expectation(reference)
        key = (reference.name, frozenset(summary.presence), frozenset(values))
        found = self._structure.get(key)
        if found is None:
            self._structure_paths += len(key[1]) + len(key[2])
            if len(self._structure) > 4096 or self._structure_paths > _CACHED_PATHS:
                self._structure.clear()
                self._structure_paths = len(key[1]) + len(key[2])
            found = self._structure[key] = tuple(d.signature() for d in structural(summary, exp))
        return tuple(sorted({*found, *(d.signature() for d in formats(summary, exp))}))

    def _convert(self, mapping: Compiled, root: etree._Element, prof: Profile) -> None:
        try:
            result = map_source(mapping, root, source=prof.key, track_unmapped=False)
        except (ConversionError, MappingError, ValueError) as exc:
            prof.converted, prof.problem = False, reason(exc)
            return
        prof.converted = True
        prof.warnings = tuple(scrub(f"{w.field}: {w.message}") for w in result.warnings)

    def _builtin_for(self, matched: Compiled | None, prof: Profile) -> Compiled | None:
        if matched is not None:
            if matched.name not in self._builtin:
                by_file = {Path(c.file).resolve(): c for c in self.builtins}
                chain = [by_file.get(Path(f).resolve()) for f in [matched.file, *matched.chain]]
                self._builtin[matched.name] = next((c for c in chain if c is not None), None)
            if self._builtin[matched.name] is not None:
                return self._builtin[matched.name]
        cache_key = (prof.fmt, prof.namespace, prof.root, prof.layout[0] if prof.layout else "")
        if cache_key not in self._closest:
            if len(self._closest) > 4096:  # a root or namespace of its own per message must not grow it
                self._closest.clear()
            self._closest[cache_key] = self._score(prof)
        name = self._closest[cache_key]
        return self.registry.get(name) if name else None

    def _score(self, prof: Profile) -> str | None:
        """The built-in dialect of the same format whose paths overlap most with this message's (by local name)."""
        mine = {_locals(p) for p in prof.counts}
        hints = {v for p, vs in prof.values.items() for v in vs[:1]
                 if "code" in p[-1].lower() or "versie" in p[-1].lower()}
        families = {f"{BERICHTCODES[c][0]}:{BERICHTNUMMERS[BERICHTCODES[c][1]]}" for c in hints if c in BERICHTCODES}
        best, best_score = None, 0.0
        for candidate in self.builtins:
            if candidate.format != prof.fmt:
                continue
            theirs = self._theirs.get(candidate.name)
            if theirs is None:
                theirs = self._theirs[candidate.name] = {_locals(p) for p in expectation(candidate).known()}
            score = len(mine & theirs) / (len(mine | theirs) or 1)
            score += 0.5 * (candidate.match.root == prof.root) + 0.5 * (candidate.match.namespace == prof.namespace)
            score += 1.0 * (f"{candidate.wet}:{candidate.bericht}" in families) + 0.2 * (candidate.versie in hints)
            if score > best_score:
                best, best_score = candidate.name, score
        return best


def _locals(path: Tags) -> tuple[str, ...]:
    return tuple(t.rpartition("}")[2].lower() for t in path)


def _encoding(data: bytes, fmt: str, root: etree._Element) -> str:
    bom = "+BOM" if data.startswith(b"\xef\xbb\xbf") else ""
    if fmt == "ei":
        return ("ascii" if data.isascii() else "latin-1") + bom
    declared = root.getroottree().docinfo.encoding or "UTF-8"
    return declared.upper() + bom


def _layout(data: bytes) -> tuple[str, ...]:
    """EI record layout: ``"02:310"`` per record type and line length seen, sorted."""
    seen = {f"{line[:2].decode('latin-1')}:{len(line)}" for line in data.splitlines() if line.strip()}
    return tuple(sorted(seen))
