"""Find mapping files by name or path, compile each once, and pick the one a message matches.

Built-in base dialects live in ``dialects/``, vendor and example mappings in ``mappings/``. A
reload compiles everything anew and swaps only when all of it compiled, so a broken edit never
replaces working mappings.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from . import chain, compiler
from .casepaths import data_root as _data_root
from .compiler import FORMAT_KEY
from .errors import ConversionError, MappingError, Problem, suggest
from .privacy import shown
from .rules import Compiled, FieldRule


def builtin_dir() -> Path:
    """The folder of the dialects shipped with Overstap (iWmo/iJw per version), as opposed to vendor mappings."""
    return _data_root() / "dialects"


def examples_dir() -> Path:
    """The example vendor mappings shipped with Overstap: documentation, not dialects of anyone's
    messages, so detection never picks one unless it is asked for (see :func:`discover`)."""
    return _data_root() / "mappings" / "examples"


def default_dirs() -> list[Path]:
    """The built-in ``dialects/`` and ``mappings/`` (without ``mappings/examples/``), then the folders of
    ``OVERSTAP_MAPPING_PATH``: the variable adds vendor folders (or the examples, to opt in to them), it
    never hides the built-in dialects their mappings extend."""
    root = _data_root()
    env = os.environ.get("OVERSTAP_MAPPING_PATH", "")
    return [root / "dialects", root / "mappings", *(Path(p) for p in env.split(os.pathsep) if p)]


def is_mapping_file(path: Path) -> bool:
    if path.suffix not in (".yaml", ".yml") or not path.is_file():
        return False
    with path.open(encoding="utf-8", errors="replace") as fh:
        head = fh.read(2048)
    return any(line.startswith(FORMAT_KEY + ":") for line in head.splitlines())


def discover(dirs: Iterable[Path], *, examples: bool = False) -> list[Path]:
    """The mapping files in ``dirs``. A folder that merely contains ``mappings/examples/`` does not give its
    files (they would take part in detection by default); naming that folder itself, or one in it, does.
    ``examples=True`` (the ``mapping test``/``check`` tools): every file of every folder."""
    found: list[Path] = []
    seen: set[Path] = set()
    shipped = examples_dir().resolve()
    for folder in dirs:
        if folder.is_dir():
            inside = folder.resolve()
            skip = None if examples or inside.is_relative_to(shipped) or not shipped.is_relative_to(inside) \
                else shipped
            for path in sorted(p for p in folder.rglob("*.y*ml") if is_mapping_file(p)):
                real = path.resolve()  # once a path: a reload runs this over every file
                if skip is not None and real.is_relative_to(skip):
                    continue
                if real not in seen:  # a folder listed twice (or inside another) counts once
                    seen.add(real)
                    found.append(path)
    return found


def fingerprint(dirs: Iterable[Path], files: Iterable[Path] = ()) -> dict[str, tuple[int, int]]:
    """Modification time and size of every YAML file under ``dirs`` and of ``files``, and each folder's own
    time: what the mapping watcher compares every second. Nothing is opened (``discover`` reads the head of
    each file), so a poll costs a ``stat`` a file; any YAML edit counts, mapping file or not."""
    out: dict[str, tuple[int, int]] = {}
    for folder in dirs:
        with contextlib.suppress(OSError):
            out[str(folder)] = (os.stat(folder).st_mtime_ns, 0)
        for path in folder.rglob("*.y*ml") if folder.is_dir() else ():
            with contextlib.suppress(OSError):
                st = path.stat()
                out[str(path)] = (st.st_mtime_ns, st.st_size)
    for path in files:
        with contextlib.suppress(OSError):
            st = path.stat()
            out[str(path)] = (st.st_mtime_ns, st.st_size)
    return out


@dataclass(frozen=True, slots=True)
class Candidate:
    mapping: Compiled
    specificity: tuple[int, int]


Routes = tuple[dict[tuple[str, str | None, str | None], list[Compiled]], dict[tuple[str, str, str | None], Compiled]]
"""The detection table (see ``Registry._dispatch``)."""
DECIDED_MAX = 256
"""Detections kept by (format, tag, route): a sender's odd tags cannot grow it without bound."""
DECIDED_KEY_MAX = 512
"""Characters of tag and route above which a detection is not kept: a tag holds its namespace URI, which a
sender chooses and may make as long as the message, so 256 kept tags could otherwise hold ~2.5 GB."""


class Registry:
    """All mappings known to a process, compiled once; thread-safe swaps on reload."""

    def __init__(self, dirs: Iterable[Path] | None = None, files: Iterable[Path] = ()) -> None:
        self.dirs = list(dirs) if dirs is not None else default_dirs()
        self.extra_files = [Path(f).resolve() for f in files]
        self._lock = threading.Lock()
        self._by_name: dict[str, Compiled] = {}
        self._by_path: dict[Path, Compiled] = {}
        self._paths_by_name: dict[str, Path] = {}
        self.errors: list[MappingError] = []
        self._dialects: dict[tuple[str, str, str], Compiled] | None = None
        self._blanks: bool | None = None
        self._dispatch: Routes = ({}, {})
        """(format, namespace, root) -> candidate mappings, and the detections already decided from the root's tag
        alone (see :meth:`match`): one tuple, replaced whole on a scan, so a reader never pairs old and new."""
        self.scan()

    # -- discovery ------------------------------------------------------------------------------

    def _name_index(self, paths: list[Path]) -> dict[str, Path]:
        index: dict[str, Path] = {}
        for path in paths:
            try:
                doc = chain.read_mapping(path)
            except MappingError:
                continue
            name = doc.get("name")
            if isinstance(name, str):
                index.setdefault(name, path)
        return index

    def _resolver(self, index: dict[str, Path]) -> chain.Resolver:
        def resolve(ref: str, base_dir: Path) -> Path | None:
            candidate = (base_dir / ref)
            if candidate.suffix in (".yaml", ".yml") and candidate.is_file():
                return candidate
            return index.get(ref)

        return resolve

    def scan(self) -> list[MappingError]:
        """Compile every mapping file; keep the previous set if any file fails (and report why)."""
        found = discover(self.dirs)
        known = {p.resolve() for p in found}  # a file named and also on the path (relative) is one file
        paths = found + [p for p in self.extra_files if p not in known]
        index = self._name_index(paths)
        chain.known_names_hint[:] = sorted(index)
        resolve = self._resolver(index)
        by_name: dict[str, Compiled] = {}
        by_path: dict[Path, Compiled] = {}
        errors: list[MappingError] = []
        for path in paths:
            try:
                compiled = compiler.compile_file(path, resolve)
            except MappingError as exc:
                errors.append(exc)
                continue
            if compiled.name in by_name and by_name[compiled.name].file != compiled.file:
                errors.append(MappingError([Problem(str(path), 1, 1, f"mapping name {compiled.name!r} is also "
                                                    f"used by {by_name[compiled.name].file}")]))
                continue
            by_name[compiled.name] = compiled
            by_path[path.resolve()] = compiled
        with self._lock:
            self.errors = errors
            if not errors or not self._by_name:
                self._by_name, self._by_path, self._paths_by_name = by_name, by_path, index
                self._dispatch = (_dispatch_table(by_name.values()), {})
                self._dialects = None
                self._blanks = None
        return errors

    def reload(self) -> list[MappingError]:
        """Recompile; on any error keep serving the old mappings and return the errors."""
        return self.scan()

    # -- lookup ---------------------------------------------------------------------------------

    def _near_misses(self, root: etree._Element, fmt: str, route: str | None,
                     among: Iterable[Compiled] | None, limit: int = 6) -> list[str]:
        """Mappings for the same root element or namespace, each with the condition that failed."""
        q = etree.QName(root)
        pool = list(among) if among is not None else self.all()
        out: list[str] = []
        for m in pool:
            if m.abstract or not (m.match.root == q.localname or (m.match.namespace or None) == q.namespace):
                continue
            reason = why_not(m, root, fmt, route)
            if reason is not None:
                out.append(f"{m.name} ({reason})")
        return out[:limit] + ([f"and {len(out) - limit} more"] if len(out) > limit else [])

    def all(self) -> list[Compiled]:
        with self._lock:
            return sorted(self._by_name.values(), key=lambda m: m.name)

    def blanks_matter(self) -> bool:
        """Whether a mapping here could read the blank text between elements (:mod:`.blanks`): detection may
        pick any of them, so one such mapping makes conversion parse with that text kept."""
        found = self._blanks
        if found is None:
            with self._lock:
                found = self._blanks = any(m.blanks_matter for m in self._by_name.values())
        return found

    def names(self) -> list[str]:
        return [m.name for m in self.all()]

    def dialects(self) -> dict[tuple[str, str, str], Compiled]:
        """The built-in XML dialects by (wet, message family, version): ``("wmo", "301", "2.1")``."""
        with self._lock:
            found = self._dialects
            if found is None:
                root = builtin_dir().resolve()
                found = self._dialects = {
                    (m.wet, m.bericht, m.versie): m for m in sorted(self._by_name.values(), key=lambda m: m.name)
                    if m.format == "xml" and m.wet and m.bericht and m.versie
                    and Path(m.file).resolve().is_relative_to(root)
                }
            return found

    def dialect(self, wet: str, bericht: str, versie: str) -> Compiled:
        """The built-in XML dialect of one message family in one version; ConversionError when there is none."""
        table = self.dialects()
        found = table.get((wet, bericht, versie))
        if found is None:
            versions = sorted(v for w, b, v in table if (w, b) == (wet, bericht))
            there = f"there is one for {', '.join(versions)}" if versions else "there is none in any version"
            raise ConversionError(f"no built-in {wet} {bericht} dialect in version {versie}: {there}",
                                  field="ggk_versie")
        return found

    def get(self, ref: str | Path) -> Compiled:
        """A mapping by name or by file path (a path outside the known folders is compiled on the spot)."""
        with self._lock:
            if isinstance(ref, str) and ref in self._by_name:
                return self._by_name[ref]
            path = Path(ref).resolve()
            if path in self._by_path:
                return self._by_path[path]
            index = dict(self._paths_by_name)
        if path.exists() and not path.is_dir():  # a FIFO or device too: the reader refuses it, naming what it is
            compiled = compiler.compile_file(path, self._resolver(index))
            with self._lock:
                self._by_path[path] = compiled
            return compiled
        hint = suggest(str(ref), self._by_name)
        raise MappingError([Problem(str(ref), 1, 1, f"no mapping named {str(ref)!r} and no such file", hint)])

    def match(self, root: etree._Element, fmt: str = "xml", route: str | None = None,
              among: Iterable[Compiled] | None = None, source: str = "<input>") -> Compiled:
        """The most specific mapping whose ``match:`` accepts this message."""
        decided: dict[tuple[str, str, str | None], Compiled] | None = None
        if among is None:
            tag = root.tag
            table, decided = self._dispatch
            known = decided.get((fmt, tag, route))
            if known is not None:
                return known
            ns, _, local = tag[1:].partition("}") if tag[0] == "{" else ("", "", tag)
            pool = [*table.get((fmt, ns, local), ()), *table.get((fmt, ns, None), ()),
                    *table.get((fmt, None, local), ()), *table.get((fmt, None, None), ())]
            if any(m.match.xpath or m.match.fields for m in pool):
                decided = None  # a candidate looks inside the message: its tag alone does not decide
        else:
            pool = list(among)
        candidates = [m for m in pool if matches(m, root, fmt, route)]
        if not candidates:
            q = etree.QName(root)
            near = self._near_misses(root, fmt, route, among)
            raise ConversionError(
                f"unknown dialect: no mapping recognises root element {q.localname!r} in namespace "
                f"{q.namespace or '(none)'!r}{' (format ' + fmt + ')' if fmt != 'xml' else ''}"
                f"{' on route ' + repr(route) if route else ''}"
                + (f"; near misses: {'; '.join(near)}" if near else ""),
                field="dialect", line=root.sourceline, source=source, code="StUF055",
            )
        scored = sorted(candidates, key=lambda m: (m.match.specificity, len(m.chain)), reverse=True)
        best = scored[0]
        if len(scored) > 1:
            second = scored[1]
            if (second.match.specificity, len(second.chain)) == (best.match.specificity, len(best.chain)):
                raise ConversionError(
                    f"ambiguous dialect: mappings {best.name!r} and {second.name!r} both match; make one "
                    "match: more specific or name the mapping", field="dialect", line=root.sourceline, source=source)
        if decided is not None and len(tag) + len(route or "") <= DECIDED_KEY_MAX:
            # every candidate asked only format, namespace, root and route: the same answer next time
            if len(decided) >= DECIDED_MAX:
                decided.clear()
            decided[fmt, tag, route] = best
        return best


def why_not(mapping: Compiled, root: etree._Element, fmt: str = "xml", route: str | None = None) -> str | None:
    """The first ``match:`` condition of ``mapping`` this message fails, in words; None when it matches."""
    m = mapping.match
    q = etree.QName(root)
    if m.format != fmt:
        return f"format is {fmt}, the mapping reads {m.format}"
    if m.route is not None and m.route != route:
        return f"match.route {m.route!r} (the message came {'on ' + repr(route) if route else 'without a route'})"
    if m.namespace is not None and (q.namespace or "") != m.namespace:
        return f"match.namespace {m.namespace!r}"
    if m.root is not None and q.localname != m.root:
        return f"match.root {m.root!r}"
    for path, expected in m.xpath:
        values = path.run(root)
        if expected is None and not values:
            return f"match.xpath {path.expr!r} must exist"
        texts = [(v.text or "").strip() if isinstance(v, etree._Element) else str(v) for v in values]
        if expected is not None and expected not in texts:
            found = f"found {shown(None, texts[0])}" if texts else "absent"
            return f"match.xpath {path.expr!r} wanted {expected!r}, {found}"
    for target, expected in m.fields.items():
        rule = mapping.top_rule(target)
        if rule is None or _rule_value(rule, root) != expected:
            return f"match.fields {target} wanted {expected!r}"
    return None


def _dispatch_table(mappings: Iterable[Compiled]) -> dict[tuple[str, str | None, str | None], list[Compiled]]:
    """(format, namespace, root) -> the mappings that could match, so detection looks at a handful of
    candidates instead of every mapping known (there are dozens of dialects and vendors)."""
    table: dict[tuple[str, str | None, str | None], list[Compiled]] = {}
    for m in mappings:
        if m.abstract:
            continue  # a base for extends: never detected
        table.setdefault((m.match.format, m.match.namespace, m.match.root), []).append(m)
    return table


def _rule_value(rule: FieldRule, root: etree._Element) -> str | None:
    if rule.constant is not None:
        return rule.constant
    for path in rule.paths:
        for node in path.run(root):
            text = node.text if isinstance(node, etree._Element) else str(node)
            if text and text.strip():
                return text.strip()
    return None


def matches(mapping: Compiled, root: etree._Element, fmt: str = "xml", route: str | None = None) -> bool:
    m = mapping.match
    return why_not(mapping, root, fmt, route) is None and bool(m.namespace or m.root or m.xpath or m.fields
                                                               or m.route)
