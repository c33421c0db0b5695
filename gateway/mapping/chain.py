"""Reading a mapping file and the ``extends`` chain behind it, merged into one located document: what
:mod:`.compiler` compiles. Errors carry ``file:line:column``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from gateway.regularfile import NotRegular, open_regular

from .errors import MappingError, Problem, suggest
from .loader import LocatedDict, LocatedList, YamlRefused, load_yaml, location, tag_files

MAX_FILE_BYTES = 8 * 1024 * 1024
"""Bytes a mapping file, value map CSV or config file may hold. The largest shipped mapping holds 30 KB and a
document may stand for at most 1,000,000 characters of values (:data:`.loader.MAX_TEXT`); without a cap
``--mapping /dev/zero`` or ``--config /dev/zero`` read until the process ran out of memory."""


def read_text(path: Path, what: str = "mapping files") -> str:
    """A file's text; raise MappingError naming the file and the first byte that is not UTF-8 (an editor or
    Excel that saved Latin-1 or Windows-1252), why the file cannot be read, or that it holds more than
    :data:`MAX_FILE_BYTES` (read no further: a device or endless pipe costs that much at most)."""
    try:
        with _open_regular(path, what) as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise MappingError([Problem(str(path), 1, 1, f"cannot read: {exc.strerror or exc}")]) from None
    if len(data) > MAX_FILE_BYTES:
        raise MappingError([Problem(str(path), 1, 1, f"more than {MAX_FILE_BYTES:,} bytes: {what} are a few KB "
                                    f"(expected at most {MAX_FILE_BYTES:,})")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise MappingError([Problem(str(path), line, column, f"{what} are UTF-8; byte 0x{data[exc.start]:02X} at "
                                    f"line {line} is not (save the file as UTF-8)")]) from None


def _open_regular(path: Path, what: str) -> BinaryIO:
    """``path`` opened for reading if it is a regular file (:func:`gateway.regularfile.open_regular`: a FIFO as
    ``--config`` or ``--mapping`` hung the command), else MappingError naming what it is."""
    try:
        return open_regular(path)
    except NotRegular as exc:
        raise MappingError([Problem(str(path), 1, 1, f"a {exc.kind}, not a regular file: {what} are read from "
                                    "regular files only")]) from None


def read_mapping(path: Path) -> LocatedDict:
    """Load one mapping file as located YAML; raise MappingError on YAML syntax errors, a file that is not
    UTF-8, and one too large or deep once its aliases are expanded."""
    text = read_text(path)
    try:
        data = load_yaml(text, str(path))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        kind = "YAML" if isinstance(exc, YamlRefused) else "YAML syntax"
        raise MappingError([Problem(str(path), line, col, f"{kind}: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise MappingError([Problem(str(path), 1, 1, f"YAML syntax: {exc}")]) from None
    if not isinstance(data, LocatedDict):
        raise MappingError([Problem(str(path), 1, 1, "a mapping file is a YAML mapping (key: value) at the top")])
    tag_files(data, str(path))
    return data


def _key_files(rules: Any) -> dict[str, str]:
    """Which file declared each rule of a (possibly merged) rules mapping: a shorthand rule (``field: PATH``)
    has no container of its own to carry it, so ``explain`` would name the child file for a base's rule."""
    own = getattr(rules, "key_files", None)
    if own is not None:
        return dict(own)
    file = getattr(rules, "file", None)
    return {k: file for k in rules} if file and isinstance(rules, dict) else {}


def _merge_rules(base: dict[str, Any], child: dict[str, Any], child_order: bool = False) -> LocatedDict:
    """Child rules over base rules. A delta keeps the base's rule order (new rules go last); a group
    that declares its own ``each:`` is a new source structure, so its own rule order comes first."""
    if child_order:
        out = LocatedDict({k: v for k, v in child.items() if v is not None})
        out.update({k: v for k, v in base.items() if k not in child})
    else:
        out = LocatedDict(base)
    out.loc = getattr(child, "loc", getattr(base, "loc", (1, 1)))
    out.key_locs = {**getattr(base, "key_locs", {}), **getattr(child, "key_locs", {})}
    out.value_locs = {**getattr(base, "value_locs", {}), **getattr(child, "value_locs", {})}
    out.file = getattr(child, "file", getattr(base, "file", None))  # type: ignore[attr-defined]
    out.key_files = {**_key_files(base), **_key_files(child)}  # type: ignore[attr-defined]
    for key, value in child.items():
        if value is None:
            out.pop(key, None)  # `field: null` removes an inherited rule
            continue
        old = (base if child_order else out).get(key)  # in child order, `out` already holds the child's value
        if isinstance(old, dict) and isinstance(value, dict) and "each" in old and "each" not in value:
            merged = LocatedDict(old)
            merged.update({k: v for k, v in value.items() if k != "rules"})
            merged.loc, merged.key_locs, merged.value_locs = value.loc, {**old.key_locs, **value.key_locs}, {
                **old.value_locs, **value.value_locs}
            merged.file = getattr(value, "file", None)  # type: ignore[attr-defined]
            if "rules" in value:
                merged["rules"] = _rules_over(old.get("rules", {}), value["rules"])
            out[key] = merged
        elif isinstance(old, dict) and isinstance(value, dict) and "each" in old and "each" in value:
            merged = LocatedDict(value)
            merged.loc, merged.key_locs, merged.value_locs = value.loc, value.key_locs, value.value_locs
            merged.file = getattr(value, "file", None)  # type: ignore[attr-defined]
            merged["rules"] = _rules_over(old.get("rules", {}), value.get("rules", {}), child_order=True)
            out[key] = merged
        else:
            out[key] = value
    return out


def _rules_over(base: Any, child: Any, *, child_order: bool = False) -> Any:
    """A group's ``rules:`` over its base's, as :func:`_merge_rules` merges them; one that is no mapping (``rules: 1``)
    is kept as written, so the compiler names it at its line instead of the merge ending in a traceback."""
    if isinstance(base, dict) and isinstance(child, dict):
        return _merge_rules(base, child, child_order=child_order)
    return child


def _merge(base: LocatedDict, child: LocatedDict) -> LocatedDict:
    out = LocatedDict(base)
    out.loc = child.loc
    out.key_locs = {**base.key_locs, **child.key_locs}
    out.value_locs = {**base.value_locs, **child.value_locs}
    out.file = child.file  # type: ignore[attr-defined]
    for key, value in child.items():
        if key == "rules" and isinstance(value, dict) and isinstance(base.get("rules"), dict):
            out["rules"] = _merge_rules(base["rules"], value)
        elif key in ("namespaces", "value_maps", "render") and isinstance(value, dict) and isinstance(
                base.get(key), dict):
            merged = LocatedDict({**base[key], **value})
            merged.loc = value.loc
            merged.key_locs = {**base[key].key_locs, **value.key_locs}
            merged.value_locs = {**base[key].value_locs, **value.value_locs}
            merged.file = value.file  # type: ignore[attr-defined]
            out[key] = merged
        elif key == "ignore" and isinstance(value, list) and isinstance(base.get("ignore"), list):
            merged_list = LocatedList([*base["ignore"], *value])
            merged_list.loc = value.loc
            merged_list.item_locs = [*base["ignore"].item_locs, *value.item_locs]
            merged_list.file = value.file  # type: ignore[attr-defined]
            out[key] = merged_list
        else:
            out[key] = value
    for own in ("tests", "abstract", "refuse"):  # belong to the file that declares them, never inherited
        if own not in child:
            out.pop(own, None)
    return out


Resolver = Callable[[str, Path], Path | None]


def resolve_chain(path: Path, resolve: Resolver) -> tuple[LocatedDict, list[str]]:
    """Read ``path`` and its ``extends`` bases; return the merged document and the chain of files."""
    chain: list[Path] = []
    docs: list[LocatedDict] = []
    current: Path | None = path.resolve()
    while current is not None:
        if current in chain:
            cycle = " -> ".join(p.name for p in [*chain, current])
            doc = docs[-1]
            line, col = location(doc, "extends", value=True)
            raise MappingError([Problem(str(chain[-1]), line, col, f"cycle in extends: {cycle}")])
        doc = read_mapping(current)
        chain.append(current)
        docs.append(doc)
        base = doc.get("extends")
        if base is None:
            current = None
            continue
        if not isinstance(base, str):
            line, col = location(doc, "extends", value=True)
            raise MappingError([Problem(str(current), line, col, "extends takes one mapping name or path")])
        found = resolve(base, current.parent)
        if found is None:
            line, col = location(doc, "extends", value=True)
            raise MappingError([Problem(str(current), line, col, f"base mapping {base!r} not found",
                                        suggest(base, known_names_hint))])
        current = found.resolve()
    merged = docs[-1]
    for doc in reversed(docs[:-1]):
        merged = _merge(merged, doc)
    return merged, [str(p) for p in chain]


known_names_hint: list[str] = []  # filled by the registry so "base not found" can suggest a name
