"""Compiling the parts a rule is made of: a source path, a transform chain, the value maps of a file.
Each problem goes to the file's :class:`~.errors.Collector` at its ``file:line:column``."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from lxml import etree

from . import transforms as tf
from .attributes import footprint
from .chain import read_text
from .errors import Collector, MappingError, suggest
from .loader import file_of, location
from .rules import STEP, Path_, ValueMap

MAP_KEYS = {"values", "csv", "fallback", "default", "note"}
FALLBACKS = ("error", "keep", "default")
CSV_RULE = "a value map's CSV file is in the mapping file's folder or below it, as its test inputs are"
"""Why: ``csv: /etc/passwd`` (or ``../../secret.csv``, or a link out) in a vendor's file made every load read that
file and ``mapping check`` quote its first column in "appears twice" problems."""


def compile_path(expr: Any, ns: dict[str, str], c: Collector, node: Any, key: Any) -> Path_ | None:
    if not isinstance(expr, str) or not expr.strip():
        c.add(node, key, "a source path must be a non-empty XPath string", value=True)
        return None
    expr = expr.strip()
    steps = expr[2:].split("/") if expr.startswith("./") else expr.split("/")
    if expr == ".":
        return Path_(expr, ())
    matches = [STEP.match(s) for s in steps]
    if all(matches):
        tags: list[str] = []
        for m in matches:
            assert m is not None
            prefix, local = m.group(1), m.group(2)
            if prefix is None:
                tags.append(local)
            elif prefix in ns:
                tags.append(f"{{{ns[prefix]}}}{local}")
            else:
                c.add(node, key, f"undeclared namespace prefix {prefix!r} in {expr!r}",
                      suggest(prefix, ns) or f"declare it under namespaces: ({', '.join(ns) or 'none declared'})",
                      value=True)
                return None
        return Path_(expr, tuple(tags))
    try:
        # smart strings: an attribute result knows its element, so the unmapped scan sees it was read
        xp = etree.XPath(expr, namespaces=ns, smart_strings=True)
        probe = xp(etree.Element("probe"))  # undefined prefixes and unknown functions show up only on evaluation
    except (etree.XPathSyntaxError, etree.XPathEvalError) as exc:
        c.add(node, key, f"bad XPath {expr!r}: {exc}", value=True)
        return None
    # a node-set hands back its attributes itself; a function result (a string or number) needs its footprint
    return Path_(expr, None, xp, () if isinstance(probe, list) else path_footprint(expr, ns))


def path_footprint(expr: str, ns: dict[str, str]) -> tuple[etree.XPath, ...]:
    out = []
    for token in footprint(expr):
        try:
            out.append(etree.XPath(token, namespaces=ns, smart_strings=True))
        except etree.XPathSyntaxError:
            continue  # not a location path after all: it marks nothing, so the attribute stays reported
    return tuple(out)


def scalar(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def compile_transforms(spec: Any, c: Collector, node: Any, key: Any) -> list[tuple[tf.Transform, Any]]:
    items = spec if isinstance(spec, list) else [spec]
    out: list[tuple[tf.Transform, Any]] = []
    for i, item in enumerate(items):
        where_node, where_key = (spec, i) if isinstance(spec, list) else (node, key)
        if isinstance(item, str):
            name, arg = item, None
        elif isinstance(item, dict) and len(item) == 1:
            name, arg = next(iter(item.items()))
        else:
            c.add(where_node, where_key, "a transform is a name or {name: argument}", value=True)
            continue
        transform = tf.REGISTRY.get(name)
        if transform is None:
            c.add(where_node, where_key, f"unknown transform {name!r}", suggest(name, tf.REGISTRY), value=True)
            continue
        if transform.takes_arg and arg is None and name not in ("number", "format_number", "split", "join"):
            c.add(where_node, where_key, f"transform {name!r} needs an argument", value=True)
            continue
        try:
            out.append((transform, transform.prepare(arg)))
        except (ValueError, TypeError) as exc:
            c.add(where_node, where_key, f"transform {name!r}: {exc}", value=True)
    return out


def compile_value_maps(spec: Any, base_dir: Path, c: Collector) -> dict[str, ValueMap]:
    out: dict[str, ValueMap] = {}
    if spec is None:
        return out
    if not isinstance(spec, dict):
        c.add(spec, None, "value_maps is a mapping of name -> {values|csv, fallback}")
        return out
    for name, body in spec.items():
        file = file_of(spec, c.default_file)
        line, _ = location(spec, name)
        if not isinstance(body, dict):
            c.add(spec, name, f"value map {name!r} must be a mapping with values: or csv:")
            continue
        for key in body:
            if key not in MAP_KEYS:
                c.add(body, key, f"unknown key {key!r} in value map {name!r}", suggest(key, MAP_KEYS))
        table: dict[str, str] = {}
        values = body.get("values")
        if values is not None:
            if not isinstance(values, dict):
                c.add(body, "values", "values: is a mapping of source code -> canonical code", value=True)
            else:
                table.update({str(k): str(v) for k, v in values.items()})
        if "csv" in body:
            csv_dir = Path(file_of(body, str(base_dir / "x"))).parent  # relative to the file that declares it
            csv_path = (csv_dir / str(body["csv"])).resolve()
            if not csv_path.is_relative_to(csv_dir.resolve()):  # links followed: a vendor's file reads its own
                c.add(body, "csv", f"CSV file {body['csv']!r} leads out of the mapping file's folder: {CSV_RULE}",
                      value=True)
            elif not csv_path.is_file():
                c.add(body, "csv", f"CSV file {body['csv']!r} not found (looked in {csv_dir})", value=True)
            else:
                _read_csv(csv_path, table, c, body)
        if values is None and "csv" not in body:
            c.add(spec, name, f"value map {name!r} needs values: or csv:")
        fallback = body.get("fallback", "error")
        if fallback not in FALLBACKS:
            c.add(body, "fallback", f"fallback must be one of {', '.join(FALLBACKS)}",
                  suggest(str(fallback), FALLBACKS), value=True)
            fallback = "error"
        default = scalar(body.get("default"))
        if fallback == "default" and default is None:
            c.add(body, "fallback", "fallback: default needs a default: value", value=True)
        out[str(name)] = ValueMap(str(name), table, fallback, default, file_of(body, file), line)
    return out


def _read_csv(csv_path: Path, table: dict[str, str], c: Collector, body: Any) -> None:
    """The rows of a value map's CSV file into ``table``; a file that is not UTF-8 (an Excel export in
    Windows-1252) or has a field past the csv module's limit is a problem at the ``csv:`` line, not a crash."""
    try:
        text = read_text(csv_path, "value map CSV files")
    except MappingError as exc:
        c.add(body, "csv", f"{csv_path.name}: {exc.problems[0].message}", value=True)
        return
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        if reader.fieldnames is None or not {"source", "target"} <= set(reader.fieldnames):
            c.add(body, "csv", f"{csv_path.name}: the header must name the columns source,target", value=True)
            return
        for row in reader:
            src = (row["source"] or "").strip()
            if src in table:
                c.add(body, "csv", f"{csv_path.name}:{reader.line_num}: source code {src!r} appears twice", value=True)
            table[src] = (row["target"] or "").strip()
    except csv.Error as exc:
        c.add(body, "csv", f"{csv_path.name}:{reader.reader.line_num}: cannot be read as CSV: {exc}", value=True)
