"""iWmo 2.0 "EI" fixed-width flat files -> an lxml tree, driven by record layouts declared as data.

Why this module exists: gemeenten and aanbieders that still run 2.0-era software exchange the
toewijzing, start, stop and verzoek messages as EI flat files rather than XML. The positions in
those files are not officially documented anywhere we can rely on; they were reconstructed from
samples (see dialects/ei/iwmo20-ei.yaml). Keeping them in a YAML file instead of in code means a
corrected position is a one-line data change that the tests re-verify, and the parser below stays
small: it only knows about record types, parents, lengths and four field kinds.

Output contract (other code depends on it; see dialects/ei/README.md):

* root ``EI`` (no namespace) with attribute ``berichtcode``;
* ``Voorloop`` (record 01), one element per 02 record (``Client``) holding its fields and, nested by
  the declared parents, the records below it, then ``Sluit`` (record 99);
* every non-empty field is a child element whose text is the trimmed value; dates become
  ``YYYY-MM-DD``, times ``HH:MM:SS``; numbers keep their zero padding unless the layout says
  ``strip_zeros``; every element's ``sourceline`` is the 1-based line of its record (libxml2 cannot
  store lines above 65534: such records carry a ``line`` attribute instead; ``source_line()`` reads
  either).

Encoding: the bytes are decoded as ISO-8859-1 (latin-1). That is a superset of the plain ASCII the
samples use, it never fails, and one byte is one character, so the fixed positions stay byte
positions. Ingest (:mod:`gateway.ingest.ei_default`) first turns UTF-8 and UTF-16/32 files into
these bytes, so an ``é`` counts as one position whatever the file's encoding. C0 control characters
(other than the line ends) are refused.
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from lxml import etree

__all__ = [
    "ENCODING",
    "EiError",
    "EiLayouts",
    "FieldLayout",
    "MessageLayout",
    "ParentBy",
    "RecordLayout",
    "build_layouts",
    "default_layouts",
    "load_layouts",
    "looks_like_ei",
    "parse_ei",
    "source_line",
]

ENCODING = "latin-1"
KINDS = ("N", "AN", "date", "time", "reserve")
EMPTY_RULES = ("blank", "zeros", "never")
DETAIL = "detail"

# libxml2 keeps an element's line in 16 bits and reads 65535 as "look at the neighbours", so
# sourceline can only hold 1..65534. Records further down get a `line` attribute instead.
MAX_SOURCELINE = 65534

_BOM = b"\xef\xbb\xbf"
_NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
# Control characters that cannot be part of a record: all C0 except LF and a CR that ends a line.
_CONTROL = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f]|\r(?!\n)")


class EiError(ValueError):
    """Bad EI input: what is wrong, on which line (1-based) and in which field (layout name)."""

    def __init__(
        self, message: str, line: int | None = None, field: str | None = None, source: str = "<input>"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.field = field
        self.source = source

    def __str__(self) -> str:
        where = self.source + (f":{self.line}" if self.line else "")
        field = f" [{self.field}]" if self.field else ""
        return f"{where}{field}: {self.message}"


# --------------------------------------------------------------------------------------------------
# Layout model


@dataclass(frozen=True, slots=True)
class FieldLayout:
    """One field of a record: positions are 1-based and inclusive, as in the YAML."""

    name: str
    start: int
    length: int
    kind: str
    empty: str
    strip_zeros: bool = False
    fixed: str | None = None
    max: int | None = None
    count: tuple[str, ...] | Literal["detail"] | None = None
    xml: str | None = None
    zero_pad: int | None = None  # writing only: a digits value of a strip_zeros AN field gets this many digits

    @property
    def end(self) -> int:
        return self.start + self.length - 1


@dataclass(frozen=True, slots=True)
class ParentBy:
    """Alternative parent: when ``field`` is filled, nest under the ``record`` whose ``match`` equals it."""

    field: str
    record: str
    match: str
    xml: str | None = None


@dataclass(frozen=True, slots=True)
class RecordLayout:
    record_type: str
    name: str
    fields: tuple[FieldLayout, ...]
    parent: str | None = None
    link: tuple[str, ...] = ()
    parent_by: ParentBy | None = None
    xml: str | None = None

    def field(self, name: str) -> FieldLayout | None:
        return next((f for f in self.fields if f.name == name), None)


# Field kinds as small ints for the hot loop.
_AN, _N, _DATE, _TIME, _RESERVE = range(5)
_KIND_CODE = {"AN": _AN, "N": _N, "date": _DATE, "time": _TIME, "reserve": _RESERVE}

# (name, start0, end0, kind, zeros_are_empty, strip_zeros, fixed, max, "positions a-b")
_Op = tuple[str, int, int, int, bool, bool, str | None, int | None, str]


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything the parser needs per record type, computed once per layout."""

    layout: RecordLayout
    ops: tuple[_Op, ...]
    is_header: bool
    is_trailer: bool
    is_detail: bool
    closes: tuple[str, ...]  # record types whose open instance ends when this record starts
    register: str | None  # field to index this record by, if some parent_by refers to it
    counters: tuple[tuple[str, tuple[str, ...] | None], ...]  # (field, record types | None = all)


@dataclass(frozen=True, slots=True)
class MessageLayout:
    berichtcode: str
    message: str
    record_length: int
    records: Mapping[str, RecordLayout]
    plans: Mapping[str, _Plan]


@dataclass(frozen=True, slots=True)
class EiLayouts:
    origin: str
    format: str
    record_type: tuple[int, int]  # 0-based slice
    sequence_name: str
    sequence: tuple[int, int]  # 0-based slice
    header: str
    trailer: str
    berichtcode: tuple[int, int]  # 0-based slice within the header record
    messages: Mapping[str, MessageLayout]

    def message(self, berichtcode: str) -> MessageLayout:
        try:
            return self.messages[berichtcode]
        except KeyError:
            raise KeyError(f"no EI layout for BerichtCode {berichtcode!r}") from None


# --------------------------------------------------------------------------------------------------
# Loading and validating


def load_layouts(path: str | Path) -> EiLayouts:
    """Read and validate a layout YAML file; a ValueError names the message, record type and field."""
    path = Path(path)
    with path.open("rb") as fh:
        try:
            data = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML: {exc}") from None
    return build_layouts(data, str(path))


def _default_layout_path() -> Path:
    here = Path(__file__).resolve()
    for candidate in (
        here.parents[2] / "dialects" / "ei" / "iwmo20-ei.yaml",  # source checkout
        here.parents[1] / "_data" / "dialects" / "ei" / "iwmo20-ei.yaml",  # installed wheel
    ):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("dialects/ei/iwmo20-ei.yaml not found next to the gateway package")


@functools.cache
def default_layouts() -> EiLayouts:
    """The iWmo 2.0 layouts shipped with the gateway (loaded once)."""
    return load_layouts(_default_layout_path())


def _keys(where: str, obj: Any, allowed: set[str], required: set[str]) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise ValueError(f"{where}: expected a mapping, found {type(obj).__name__}")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}")
    missing = sorted(required - set(obj))
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
    return obj


def _int(where: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}: expected an integer >= {minimum}, found {value!r}")
    return value


def _str(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: expected a non-empty (quoted) string, found {value!r}")
    return value


def _slice(where: str, obj: Any, named: bool = False) -> tuple[str, int, int]:
    keys = {"start", "length"} | ({"name"} if named else set())
    spec = _keys(where, obj, keys, keys)
    start = _int(f"{where}.start", spec["start"], 1)
    length = _int(f"{where}.length", spec["length"], 1)
    return (_str(f"{where}.name", spec["name"]) if named else ""), start, length


def build_layouts(data: Any, origin: str = "<layouts>") -> EiLayouts:
    """Validate the parsed YAML ``data`` and precompute the per-record parse plans."""
    top = _keys(
        origin,
        data,
        {"format", "record_type", "sequence", "header", "trailer", "berichtcode", "messages"},
        {"record_type", "sequence", "header", "trailer", "berichtcode", "messages"},
    )
    _, rt_start, rt_len = _slice(f"{origin}: record_type", top["record_type"])
    seq_name, seq_start, seq_len = _slice(f"{origin}: sequence", top["sequence"], named=True)
    _, bc_start, bc_len = _slice(f"{origin}: berichtcode", top["berichtcode"])
    header = _str(f"{origin}: header", top["header"])
    trailer = _str(f"{origin}: trailer", top["trailer"])
    for what, rtype in (("header", header), ("trailer", trailer)):
        if len(rtype) != rt_len:
            raise ValueError(f"{origin}: {what} record type {rtype!r} must have {rt_len} characters")
    if rt_start + rt_len > seq_start:
        raise ValueError(f"{origin}: sequence must start after the record type")
    messages_in = top["messages"]
    if not isinstance(messages_in, Mapping) or not messages_in:
        raise ValueError(f"{origin}: messages must be a non-empty mapping")
    messages: dict[str, MessageLayout] = {}
    for code, spec in messages_in.items():
        if not isinstance(code, str) or len(code) != bc_len or not code.isdigit():
            raise ValueError(f"{origin}: BerichtCode {code!r} must be a quoted string of {bc_len} digits")
        messages[code] = _build_message(
            f"{origin}: message {code}",
            code,
            spec,
            rt=(rt_start, rt_len),
            seq=(seq_name, seq_start, seq_len),
            bc=(bc_start, bc_len),
            header=header,
            trailer=trailer,
        )
    return EiLayouts(
        origin=origin,
        format=str(top.get("format", "")),
        record_type=(rt_start - 1, rt_start - 1 + rt_len),
        sequence_name=seq_name,
        sequence=(seq_start - 1, seq_start - 1 + seq_len),
        header=header,
        trailer=trailer,
        berichtcode=(bc_start - 1, bc_start - 1 + bc_len),
        messages=messages,
    )


def _build_message(
    where: str,
    code: str,
    spec: Any,
    *,
    rt: tuple[int, int],
    seq: tuple[str, int, int],
    bc: tuple[int, int],
    header: str,
    trailer: str,
) -> MessageLayout:
    msg = _keys(where, spec, {"message", "record_length", "records"}, {"record_length", "records"})
    reclen = _int(f"{where}.record_length", msg["record_length"], 1)
    records_in = msg["records"]
    if not isinstance(records_in, Mapping) or not records_in:
        raise ValueError(f"{where}: records must be a non-empty mapping")
    for rtype in records_in:
        if not isinstance(rtype, str) or len(rtype) != rt[1]:
            raise ValueError(f"{where}: record type {rtype!r} must be a quoted string of {rt[1]} characters")
    for what, rtype in (("header", header), ("trailer", trailer)):
        if rtype not in records_in:
            raise ValueError(f"{where}: the {what} record {rtype} is not declared")

    records: dict[str, RecordLayout] = {}
    for rtype, rspec in records_in.items():
        records[rtype] = _build_record(f"{where} record {rtype}", rtype, rspec, reclen, code, trailer)

    # Structure: parents exist, no cycles, header/trailer stand alone, names unique.
    names: dict[str, str] = {}
    for rtype, rec in records.items():
        w = f"{where} record {rtype}"
        if rec.name in names:
            raise ValueError(f"{w}: name {rec.name!r} is also used by record {names[rec.name]}")
        names[rec.name] = rtype
        for parent in filter(None, (rec.parent, rec.parent_by.record if rec.parent_by else None)):
            if parent not in records:
                raise ValueError(f"{w}: parent record type {parent!r} is not declared in this message")
            if parent in (header, trailer):
                raise ValueError(f"{w}: the {parent} record cannot be a parent")
        if rtype in (header, trailer) and (rec.parent or rec.parent_by or rec.link):
            raise ValueError(f"{w}: the header/trailer record cannot have a parent, link or parent_by")
        if rec.parent_by and not rec.parent:
            raise ValueError(f"{w}: parent_by needs a default parent")
        seen = [rtype]
        cur = rec.parent
        while cur is not None:
            if cur in seen:
                raise ValueError(f"{w}: parent cycle {' -> '.join([*seen, cur])}")
            seen.append(cur)
            cur = records[cur].parent
    for rtype, rec in records.items():
        w = f"{where} record {rtype}"
        parents = [records[p] for p in filter(None, (rec.parent, rec.parent_by and rec.parent_by.record))]
        for name in rec.link:
            if rec.field(name) is None:
                raise ValueError(f"{w}: link field {name!r} is not a field of this record")
            for p in parents:
                if p.field(name) is None:
                    raise ValueError(f"{w}: link field {name!r} is not a field of parent record {p.record_type}")
        if rec.parent_by:
            pb = rec.parent_by
            if rec.field(pb.field) is None:
                raise ValueError(f"{w}: parent_by field {pb.field!r} is not a field of this record")
            target = records[pb.record]
            if target.field(pb.match) is None:
                raise ValueError(f"{w}: parent_by match field {pb.match!r} is not a field of record {pb.record}")
            if target.parent != rec.parent:
                raise ValueError(
                    f"{w}: parent_by record {pb.record} must have the same parent ({rec.parent}) as this record"
                )
        children = {c.name for c in records.values() if rtype in (c.parent, c.parent_by and c.parent_by.record)}
        for f in rec.fields:
            if f.name in children:
                raise ValueError(f"{w} field {f.name}: name clashes with a child record element")
            if f.count not in (None, DETAIL):
                for target in f.count:
                    if target not in records or target in (header, trailer):
                        raise ValueError(f"{w} field {f.name}: count refers to unknown record type {target!r}")

    # Coverage: every position is the record type, the sequence number or a declared field.
    seq_name, seq_start, seq_len = seq
    for rtype, rec in records.items():
        w = f"{where} record {rtype}"
        spans: list[tuple[int, int, str]] = [(rt[0], rt[0] + rt[1] - 1, "the record type")]
        if rtype not in (header, trailer):
            spans.append((seq_start, seq_start + seq_len - 1, f"the sequence number {seq_name}"))
        spans += [(f.start, f.end, f"field {f.name}") for f in rec.fields]
        spans.sort()
        pos = 1
        for start, end, what in spans:
            if start < pos:
                prev = next(s for s in spans if s[0] <= start and s[1] >= start and s[2] != what)
                raise ValueError(
                    f"{w}: {what} (positions {start}-{end}) overlaps {prev[2]} (positions {prev[0]}-{prev[1]})"
                )
            if start > pos:
                raise ValueError(
                    f"{w}: positions {pos}-{start - 1} are not covered by any field "
                    "(declare them, as a reserve if their meaning is unknown)"
                )
            pos = end + 1
        if pos != reclen + 1:
            raise ValueError(
                f"{w}: positions {pos}-{reclen} are not covered by any field "
                "(declare them, as a reserve if their meaning is unknown)"
            )
        if rtype == header and not any(f.start <= bc[0] and f.end >= bc[0] + bc[1] - 1 for f in rec.fields):
            raise ValueError(f"{w}: no field holds the BerichtCode (positions {bc[0]}-{bc[0] + bc[1] - 1})")

    plans = {rtype: _plan(rtype, rec, records, header, trailer) for rtype, rec in records.items()}
    return MessageLayout(
        berichtcode=code,
        message=str(msg.get("message", "")),
        record_length=reclen,
        records=records,
        plans=plans,
    )


_FIELD_KEYS = {"name", "start", "length", "kind", "empty", "strip_zeros", "fixed", "max", "count", "xml", "zero_pad"}


def _build_record(where: str, rtype: str, spec: Any, reclen: int, code: str, trailer: str) -> RecordLayout:
    rec = _keys(where, spec, {"name", "parent", "link", "parent_by", "xml", "fields"}, {"name", "fields"})
    name = _str(f"{where}.name", rec["name"])
    if not _NCNAME.match(name):
        raise ValueError(f"{where}: name {name!r} is not a valid XML element name")
    parent = rec.get("parent")
    if parent is not None:
        parent = _str(f"{where}.parent", parent)
    link = rec.get("link", [])
    if not isinstance(link, list) or not all(isinstance(x, str) for x in link):
        raise ValueError(f"{where}: link must be a list of field names")
    parent_by = None
    if rec.get("parent_by") is not None:
        pb = _keys(
            f"{where}.parent_by",
            rec["parent_by"],
            {"field", "record", "match", "xml"},
            {"field", "record", "match"},
        )
        parent_by = ParentBy(
            field=_str(f"{where}.parent_by.field", pb["field"]),
            record=_str(f"{where}.parent_by.record", pb["record"]),
            match=_str(f"{where}.parent_by.match", pb["match"]),
            xml=pb.get("xml"),
        )
    fields_in = rec["fields"]
    if not isinstance(fields_in, list) or not fields_in:
        raise ValueError(f"{where}: fields must be a non-empty list")
    fields: list[FieldLayout] = []
    seen: set[str] = set()
    for i, fspec in enumerate(fields_in, 1):
        label = fspec.get("name", f"#{i}") if isinstance(fspec, Mapping) else f"#{i}"
        fw = f"{where} field {label}"
        f = _keys(fw, fspec, _FIELD_KEYS, {"name", "start", "length", "kind", "empty"})
        fname = _str(f"{fw}.name", f["name"])
        if not _NCNAME.match(fname):
            raise ValueError(f"{fw}: {fname!r} is not a valid XML element name")
        if fname in seen:
            raise ValueError(f"{fw}: duplicate field name")
        seen.add(fname)
        start = _int(f"{fw}.start", f["start"], 1)
        length = _int(f"{fw}.length", f["length"], 1)
        if start + length - 1 > reclen:
            raise ValueError(
                f"{fw}: positions {start}-{start + length - 1} are out of range "
                f"(BerichtCode {code} records are {reclen} long)"
            )
        kind = f["kind"]
        if kind not in KINDS:
            raise ValueError(f"{fw}: unknown kind {kind!r} (use one of {', '.join(KINDS)})")
        empty = f["empty"]
        if empty not in EMPTY_RULES:
            raise ValueError(f"{fw}: unknown empty rule {empty!r} (use one of {', '.join(EMPTY_RULES)})")
        if kind == "date" and length != 8:
            raise ValueError(f"{fw}: a date field has length 8 (YYYYMMDD), not {length}")
        if kind == "time" and length != 6:
            raise ValueError(f"{fw}: a time field has length 6 (HHMMSS), not {length}")
        strip = f.get("strip_zeros", False)
        if not isinstance(strip, bool) or (strip and kind not in ("N", "AN")):
            raise ValueError(f"{fw}: strip_zeros must be true/false and only on N or AN fields")
        fixed = f.get("fixed")
        if fixed is not None and (not isinstance(fixed, str) or len(fixed) != length):
            raise ValueError(f"{fw}: fixed must be a quoted string of exactly {length} characters")
        maxv = f.get("max")
        if maxv is not None:
            maxv = _int(f"{fw}.max", maxv, 0)
            if kind != "N":
                raise ValueError(f"{fw}: max is only allowed on N fields")
        count = f.get("count")
        if count is not None:
            if rtype != trailer:
                raise ValueError(f"{fw}: count is only allowed in the trailer record {trailer}")
            if kind != "N":
                raise ValueError(f"{fw}: a count field must be N")
            if count != DETAIL:
                if not isinstance(count, list) or not count or not all(isinstance(x, str) for x in count):
                    raise ValueError(f"{fw}: count must be '{DETAIL}' or a list of quoted record types")
                count = tuple(count)
        xml = f.get("xml")
        if xml is not None and not isinstance(xml, str):
            raise ValueError(f"{fw}: xml must be a string path")
        zero_pad = f.get("zero_pad")
        if zero_pad is not None:
            zero_pad = _int(f"{fw}.zero_pad", zero_pad, 1)
            if kind != "AN" or not strip or zero_pad > length:
                raise ValueError(f"{fw}: zero_pad is for strip_zeros AN fields and at most the field's length")
        fields.append(FieldLayout(fname, start, length, kind, empty, strip, fixed, maxv, count, xml, zero_pad))
    xml = rec.get("xml")
    if xml is not None and not isinstance(xml, str):
        raise ValueError(f"{where}: xml must be a string path")
    return RecordLayout(rtype, name, tuple(fields), parent, tuple(link), parent_by, xml)


def _plan(rtype: str, rec: RecordLayout, records: Mapping[str, RecordLayout], header: str, trailer: str) -> _Plan:
    def ancestors(t: str) -> set[str]:
        r = records[t]
        out: set[str] = set()
        for p in filter(None, (r.parent, r.parent_by and r.parent_by.record)):
            out |= {p} | ancestors(p)
        return out

    ops: list[_Op] = []
    for f in rec.fields:
        ops.append(
            (
                f.name,
                f.start - 1,
                f.end,
                _KIND_CODE[f.kind],
                f.empty == "zeros",
                f.strip_zeros,
                f.fixed,
                f.max,
                f"positions {f.start}-{f.end}",
            )
        )
    register = next((r.parent_by.match for r in records.values() if r.parent_by and r.parent_by.record == rtype), None)
    counters: tuple[tuple[str, tuple[str, ...] | None], ...] = tuple(
        (f.name, None if f.count == DETAIL else tuple(f.count)) for f in rec.fields if f.count is not None
    )
    return _Plan(
        layout=rec,
        ops=tuple(ops),
        is_header=rtype == header,
        is_trailer=rtype == trailer,
        is_detail=rtype not in (header, trailer),
        closes=tuple(t for t in records if rtype in ancestors(t)),
        register=register,
        counters=counters,
    )


# --------------------------------------------------------------------------------------------------
# Parsing


@functools.lru_cache(maxsize=8192)
def _iso_date(raw: str) -> str | None:
    if len(raw) != 8 or not (raw.isdigit() and raw.isascii()):
        return None
    try:
        _dt.date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        return None
    return f"{raw[:4]}-{raw[4:6]}-{raw[6:]}"


def _iso_time(raw: str) -> str | None:
    if len(raw) != 6 or not (raw.isdigit() and raw.isascii()):
        return None
    if int(raw[:2]) > 23 or int(raw[2:4]) > 59 or int(raw[4:]) > 59:
        return None
    return f"{raw[:2]}:{raw[2:4]}:{raw[4:]}"


def _fields(plan: _Plan, line: str, lineno: int, source: str) -> dict[str, str]:
    """Slice, check and convert the fields of one record; empty fields are left out."""
    values: dict[str, str] = {}
    for name, s, e, kind, zeros, strip, fixed, maxv, where in plan.ops:
        raw = line[s:e]
        if fixed is not None and raw != fixed:
            raise EiError(f"{name} ({where}) must be {fixed!r}, found {raw!r}", lineno, name, source)
        if kind == _RESERVE:
            if raw.strip():
                raise EiError(
                    f"reserve {where} must be blank, found {raw.strip()[:40]!r} "
                    "(data the layout does not know; extend the layout)",
                    lineno,
                    name,
                    source,
                )
            continue
        v = raw.strip()
        if not v:
            continue
        if kind == _AN:
            if zeros and not v.strip("0"):
                continue
            if strip:
                v = v.lstrip("0") or "0"
            values[name] = v
            continue
        if not (v.isdigit() and v.isascii()):
            raise EiError(f"{name} ({where}) must be numeric, found {raw!r}", lineno, name, source)
        if zeros and not v.strip("0"):
            continue
        if kind == _DATE:
            iso = _iso_date(raw)
            if iso is None:
                raise EiError(f"{name} ({where}) is not a valid date YYYYMMDD: {raw!r}", lineno, name, source)
            v = iso
        elif kind == _TIME:
            iso = _iso_time(raw)
            if iso is None:
                raise EiError(f"{name} ({where}) is not a valid time HHMMSS: {raw!r}", lineno, name, source)
            v = iso
        else:
            if maxv is not None and int(v) > maxv:
                raise EiError(f"{name} ({where}) is {int(v)}, more than the maximum {maxv}", lineno, name, source)
            if strip:
                v = v.lstrip("0") or "0"
        values[name] = v
    return values


def parse_ei(data: bytes, layouts: EiLayouts, source: str = "<input>") -> etree._Element:
    """Parse an EI flat file into the ``EI`` tree described in the module docstring.

    Raises :class:`EiError` naming the line and field for anything that does not fit the layout.
    """
    data = bytes(data)
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    text = data.decode(ENCODING)
    if text.endswith("\x1a"):  # DOS end-of-file marker written by some legacy exports
        text = text[:-1]
    bad = _CONTROL.search(text)
    if bad:
        pos = bad.start()
        line_start = text.rfind("\n", 0, pos) + 1
        raise EiError(
            f"control character {bad.group()[0]!r} at position {pos - line_start + 1}",
            text.count("\n", 0, pos) + 1,
            None,
            source,
        )
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # final newline (optional)
    if "\r" in text:
        lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
    if not any(ln.strip() for ln in lines):
        raise EiError(f"empty input: expected a {layouts.header} voorloop record", 1, None, source)

    rt0, rt1 = layouts.record_type
    first = lines[0]
    if first[rt0:rt1] != layouts.header:
        raise EiError(
            f"missing {layouts.header} voorloop: the first record has type {first[rt0:rt1]!r}",
            1,
            None,
            source,
        )
    bc0, bc1 = layouts.berichtcode
    code = first[bc0:bc1]
    msg = layouts.messages.get(code)
    if msg is None:
        raise EiError(
            f"unknown BerichtCode {code!r} in the voorloop (layouts exist for {', '.join(layouts.messages)})",
            1,
            "BerichtCode",
            source,
        )

    plans = msg.plans
    reclen = msg.record_length
    sq0, sq1 = layouts.sequence
    seq_name = layouts.sequence_name
    sub = etree.SubElement
    root = etree.Element("EI", berichtcode=code)
    root.sourceline = 1
    # Open record per type: (element, values, line). Registry: record type -> match value -> same.
    open_: dict[str, tuple[etree._Element, dict[str, str], int]] = {}
    registry: dict[str, dict[str, tuple[etree._Element, dict[str, str], int]]] = {}
    counts: dict[str, int] = {}
    expected_seq = 1
    trailer_line = 0

    for lineno, line in enumerate(lines, 1):
        if trailer_line:
            if not line.strip():
                continue  # blank lines after the sluit record are tolerated
            raise EiError(
                f"record after the {layouts.trailer} sluit record of line {trailer_line}",
                lineno,
                None,
                source,
            )
        rtype = line[rt0:rt1]
        plan = plans.get(rtype)
        if plan is None:
            if not line:
                raise EiError(f"empty line: record length 0, expected {reclen}", lineno, None, source)
            raise EiError(
                f"unknown record type {rtype!r} for BerichtCode {code} (known: {', '.join(plans)})",
                lineno,
                None,
                source,
            )
        if len(line) != reclen:
            raise EiError(
                f"record {rtype} has length {len(line)}, expected {reclen} for BerichtCode {code}",
                lineno,
                None,
                source,
            )
        rec = plan.layout
        if plan.is_header and lineno != 1:
            raise EiError(f"a second {rtype} voorloop record (only the first line may be one)", lineno, None, source)
        if plan.is_detail:
            seq = line[sq0:sq1]
            if not (seq.isdigit() and seq.isascii()) or int(seq) != expected_seq:
                raise EiError(
                    f"sequence number out of order: expected {expected_seq:0{sq1 - sq0}d}, found {seq!r}",
                    lineno,
                    seq_name,
                    source,
                )
            expected_seq += 1
            counts[rtype] = counts.get(rtype, 0) + 1

        values = _fields(plan, line, lineno, source)

        # Where does this record go?
        parent_el = root
        pvalues: dict[str, str] | None = None
        pline = 0
        pb = rec.parent_by
        if pb is not None and values.get(pb.field):
            hit = registry.get(pb.record, {}).get(values[pb.field])
            if hit is None:
                target = msg.records[pb.record]
                raise EiError(
                    f"record {rtype} ({rec.name}) refers to {target.name} {pb.match} {values[pb.field]!r}, "
                    f"but no {pb.record} record with that {pb.match} has appeared under the current "
                    f"{rec.parent} record",
                    lineno,
                    pb.field,
                    source,
                )
            parent_el, pvalues, pline = hit
        elif rec.parent is not None:
            hit = open_.get(rec.parent)
            if hit is None:
                parent = msg.records[rec.parent]
                raise EiError(
                    f"record {rtype} ({rec.name}) needs a preceding {rec.parent} {parent.name} record",
                    lineno,
                    None,
                    source,
                )
            parent_el, pvalues, pline = hit
        for name in rec.link:
            if pvalues is not None and values.get(name) != pvalues.get(name):
                raise EiError(
                    f"{name} {values.get(name)!r} differs from {pvalues.get(name)!r} in the parent "
                    f"{parent_el.tag} record on line {pline}",
                    lineno,
                    name,
                    source,
                )

        el = sub(parent_el, rec.name)
        if lineno <= MAX_SOURCELINE:
            el.sourceline = lineno
            for name, v in values.items():
                child = sub(el, name)
                child.text = v
                child.sourceline = lineno
        else:
            el.set("line", str(lineno))
            for name, v in values.items():
                sub(el, name).text = v

        for t in plan.closes:
            open_.pop(t, None)
            registry.pop(t, None)
        entry = (el, values, lineno)
        open_[rtype] = entry
        if plan.register is not None:
            key = values.get(plan.register)
            if key:
                known = registry.setdefault(rtype, {})
                if key in known:
                    raise EiError(
                        f"{rec.name} {plan.register} {key!r} already appeared on line {known[key][2]}",
                        lineno,
                        plan.register,
                        source,
                    )
                known[key] = entry

        if plan.is_trailer:
            trailer_line = lineno
            total = expected_seq - 1
            for name, targets in plan.counters:
                declared = int(values.get(name, "0"))
                actual = total if targets is None else sum(counts.get(t, 0) for t in targets)
                if declared != actual:
                    what = "detail" if targets is None else "/".join(targets)
                    raise EiError(
                        f"{name} says {declared}, but the file has {actual} {what} record(s)",
                        lineno,
                        name,
                        source,
                    )

    if not trailer_line:
        raise EiError(f"missing {layouts.trailer} sluit record at the end of the file", len(lines), None, source)
    return root


def source_line(el: etree._Element) -> int | None:
    """The 1-based line of the record that ``el`` (a record or field element of an EI tree) came from.

    Use this rather than ``el.sourceline`` when files may exceed 65534 lines (see MAX_SOURCELINE).
    """
    cur: etree._Element | None = el
    while cur is not None:
        line = cur.get("line")
        if line is not None:
            return int(line)
        if cur.sourceline:
            return cur.sourceline
        cur = cur.getparent()
    return None


def looks_like_ei(data: bytes, layouts: EiLayouts | None = None) -> bool:
    """Cheap sniff: the first line is a voorloop with a known BerichtCode and that message's length."""
    try:
        layouts = layouts or default_layouts()
    except (OSError, ValueError):
        return False
    window = max(m.record_length for m in layouts.messages.values()) + 2 + len(_BOM)
    head = bytes(data[:window])
    if head.startswith(_BOM):
        head = head[len(_BOM) :]
    nl = head.find(b"\n")
    if nl < 0:
        return False
    first = head[:nl]
    if first.endswith(b"\r"):
        first = first[:-1]
    text = first.decode(ENCODING)
    if text[layouts.record_type[0] : layouts.record_type[1]] != layouts.header:
        return False
    msg = layouts.messages.get(text[layouts.berichtcode[0] : layouts.berichtcode[1]])
    return msg is not None and len(text) == msg.record_length
