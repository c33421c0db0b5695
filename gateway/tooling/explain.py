"""``overstap explain``: what a mapping does with one message, field by field, and what it leaves out.

Each row follows one canonical value from the source element (path and line) through the rule that
read it (mapping file and line) and its transforms and value map to where the zakLk01 carries it
(a ZAK element or an extraElement, from :func:`gateway.render.zkn.stuf_places`). Source elements
no rule used are listed apart: they are possible data loss. Uses the engine's ``trace=True`` mode,
so the conversion hot path pays nothing for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.ingest import Source
from gateway.mapping import Compiled, Lineage, Registry, Unmapped, Warning_
from gateway.mapping.rules import FieldRule
from gateway.model import mask_bsn, mask_bsns
from gateway.pipeline import Converter
from gateway.render.zkn import stuf_places

from .mappingtest import MISSING, lookup


@dataclass(frozen=True, slots=True)
class Row:
    """One canonical value and its lineage."""

    field: str
    source: str
    line: int | None
    rule: str
    steps: str
    value: str
    stuf: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Ignored:
    """An ``ignore:`` entry of the mapping and how many source elements it covered in this message."""

    path: str
    reason: str
    count: int


@dataclass(slots=True)
class Explanation:
    source: Source
    mapping: Compiled
    rows: list[Row]
    unmapped: list[Unmapped]
    ignored: list[Ignored] = field(default_factory=list)
    warnings: list[Warning_] = field(default_factory=list)


def _arg_text(arg: Any) -> str:
    if arg is None:
        return ""
    if isinstance(arg, re.Pattern):
        return arg.pattern
    if isinstance(arg, tuple):
        return " ".join(_arg_text(a) for a in arg if a is not None)
    if isinstance(arg, dict) and "label" in arg:  # unit, multiply, divide
        return str(arg["label"])
    if isinstance(arg, dict):
        return ", ".join(f"{k}={v}" for k, v in arg.items())
    return str(arg)


def steps_of(rule: FieldRule) -> str:
    """The transforms and value map a rule applies, in order, as the mapping file names them."""
    parts = []
    for transform, arg in rule.transforms:
        text = _arg_text(arg)
        parts.append(f"{transform.name}({text})" if text else transform.name)
    if rule.value_map is not None:
        parts.append(f"map {rule.value_map.name}")
    return " → ".join(parts)


def _shown(field_: str, value: Any) -> str:
    """A value as shown to an integrator, lists joined: a bsn field masked, and in any other field each number
    that could be a BSN (11-proef, also eight digits that lost their leading zero): a clientnummer often is one."""
    if isinstance(value, list):
        return ", ".join(_shown(field_, v) for v in value)
    text = "" if value is None else str(value)
    return mask_bsn(text) if field_.rsplit(".", 1)[-1] == "bsn" else mask_bsns(text)


def _places(field_: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(p for i in range(len(value)) for p in stuf_places(f"{field_}.{i}"))
    return tuple(stuf_places(field_))


def row_of(entry: Lineage, data: dict[str, Any] | None = None) -> Row:
    """``data`` is the mapped message: a value it no longer holds was dropped under ``strictness: lenient``."""
    rule = entry.rule
    if rule.constant is not None:
        source = f"constant {rule.constant!r}"
    elif entry.source == "default":
        source = f"default {rule.default!r} ({rule.source_text} absent)"
    else:
        source = entry.source or rule.source_text
    rule_at = f"{Path(rule.file).name}:{rule.line}"
    if data is not None and lookup(data, entry.field) is MISSING:
        return Row(entry.field, source, entry.line, rule_at, steps_of(rule),
                   f"{_shown(entry.field, entry.value)} (dropped: see warnings)", ())
    return Row(entry.field, source, entry.line, rule_at, steps_of(rule), _shown(entry.field, entry.value),
               _places(entry.field, entry.value))


def explain(data: bytes, name: str = "<input>", *, registry: Registry | None = None, mapping: str | None = None,
            route: str | None = None) -> Explanation:
    """Map one message with lineage; raise the usual conversion failures when it does not convert."""
    converter = Converter(registry, mappings=[mapping] if mapping else [])
    source, compiled, result = converter.to_model(data, name, route, trace=True)
    ignored = []
    for path, reason in compiled.ignore:
        ignored.append(Ignored(path.expr, reason, len(path.run(source.root))))
    rows = sorted((row_of(entry, result.data) for entry in result.lineage), key=lambda r: (r.line or 0))  # top-down
    return Explanation(source, compiled, rows, result.unmapped, ignored, result.warnings)


HEADERS = ("canonical field", "line", "← source element", "rule", "transforms", "value", "→ StUF (zakLk01)")


def cells(row: Row) -> tuple[str, ...]:
    return (row.field, str(row.line or ""), row.source, row.rule, row.steps, row.value, "; ".join(row.stuf))


def plain_lines(ex: Explanation) -> list[str]:
    """The explanation as plain text (pipes, files, tests): short columns aligned, source and StUF place last."""
    lines = [f"{ex.source.name}: mapping {ex.mapping.name} ({ex.mapping.file})", ""]
    short = [(r.field, str(r.line or "-"), r.rule, r.steps or "-", r.value) for r in ex.rows]
    heads = ("canonical field", "line", "rule", "transforms", "value")
    widths = [min(max(len(h), *(len(c[i]) for c in short)) if short else len(h), 48) for i, h in enumerate(heads)]
    lines.append("  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)) + "  ← source element  → StUF")
    for row, cols in zip(ex.rows, short, strict=True):
        lines.append("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
                     + f"  ← {row.source}  → {'; '.join(row.stuf) or '(not rendered)'}")
    lines += ["", *tail_lines(ex)]
    return lines


def tail_lines(ex: Explanation) -> list[str]:
    """Unmapped source elements, ignored paths and warnings, after the table."""
    out: list[str] = []
    if ex.unmapped:
        out.append(f"{len(ex.unmapped)} source element(s) no rule used (possible data loss):")
        out += [f"  line {u.line}: {u.path}" for u in ex.unmapped]
    else:
        out.append("Every source element with a value was used by a rule or ignored on purpose.")
    for item in ex.ignored:
        out.append(f"ignored on purpose: {item.path} ({item.count} element(s)): {item.reason}")
    for warning in ex.warnings:
        out.append(f"warning: line {warning.line}: {warning.field}: {warning.message}")
    return out
