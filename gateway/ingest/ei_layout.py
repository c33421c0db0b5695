"""The EI record layouts: read from YAML, checked, and turned into the plans the parser runs.

Why this module exists: the positions in an iWmo 2.0 EI flat file are not officially documented
anywhere we can rely on; they were reconstructed from samples (see dialects/ei/iwmo20-ei.yaml).
Keeping them in a YAML file instead of in code means a corrected position is a one-line data change
that the tests re-verify. The price is that the data must be checked as strictly as code would be:
:func:`build_layouts` rejects a layout with a ValueError naming the message, record type and field
(unknown keys, overlaps, gaps, dangling parents, cycles), so :mod:`gateway.ingest.ei` (reading) and
:mod:`gateway.ingest.ei_write` (writing) can trust every layout they are given.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from .ei_checks import check_coverage, check_references, check_tree

__all__ = ["DETAIL", "EMPTY_RULES", "KINDS", "EiLayouts", "FieldLayout", "MessageLayout", "ParentBy", "RecordLayout",
           "RecordPlan", "build_layouts", "default_layouts", "load_layouts"]

KINDS = ("N", "AN", "date", "time", "reserve")
EMPTY_RULES = ("blank", "zeros", "never")
DETAIL = "detail"

_NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")


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
        """The last position (1-based, inclusive)."""
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
    """One record type of a message: its element name, fields, and where it nests in the tree."""

    record_type: str
    name: str
    fields: tuple[FieldLayout, ...]
    parent: str | None = None
    link: tuple[str, ...] = ()
    parent_by: ParentBy | None = None
    xml: str | None = None

    def field(self, name: str) -> FieldLayout | None:
        """The field called ``name``, or None when the record has none."""
        return next((f for f in self.fields if f.name == name), None)


# Field kinds as small ints for the parser's hot loop.
KIND_AN, KIND_N, KIND_DATE, KIND_TIME, KIND_RESERVE = range(5)
_KIND_CODE = {"AN": KIND_AN, "N": KIND_N, "date": KIND_DATE, "time": KIND_TIME, "reserve": KIND_RESERVE}

# (name, start0, end0, kind, zeros_are_empty, strip_zeros, fixed, max, "positions a-b"); strip_zeros of an AN
# field is its zero_pad (the one width whose leading zeros are padding), of an N field a bool
FieldOp = tuple[str, int, int, int, bool, bool | int, str | None, int | None, str]


@dataclass(frozen=True, slots=True)
class RecordPlan:
    """Everything the parser needs per record type, computed once per layout."""

    layout: RecordLayout
    ops: tuple[FieldOp, ...]
    is_header: bool
    is_trailer: bool
    is_detail: bool
    closes: tuple[str, ...]  # record types whose open instance ends when this record starts
    register: str | None  # field to index this record by, if some parent_by refers to it
    counters: tuple[tuple[str, tuple[str, ...] | None], ...]  # (field, record types | None = all)


@dataclass(frozen=True, slots=True)
class MessageLayout:
    """The records of one BerichtCode, all ``record_length`` long, with their parse plans."""

    berichtcode: str
    message: str
    record_length: int
    records: Mapping[str, RecordLayout]
    plans: Mapping[str, RecordPlan]


@dataclass(frozen=True, slots=True)
class EiLayouts:
    """A whole layout file: where every record keeps its type and sequence number, and each message."""

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
        """The layout of ``berichtcode``; a KeyError that names it when there is none."""
        try:
            return self.messages[berichtcode]
        except KeyError:
            raise KeyError(f"no EI layout for BerichtCode {berichtcode!r}") from None


# --------------------------------------------------------------------------------------------------
# Loading


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it: the shipped layouts in ~0.02 s instead of ~0.17 s of CPU,
which every sidecar worker spends warming up (gateway/proxy/warming.py); the same data (tests/test_ei.py)."""


def load_layouts(path: str | Path) -> EiLayouts:
    """Read and validate a layout YAML file; a ValueError names the message, record type and field."""
    path = Path(path)
    with path.open("rb") as fh:
        try:
            data = yaml.load(fh, Loader=_LOADER)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML: {exc}") from None
    return build_layouts(data, str(path))


def _default_layout_path() -> Path:
    """The shipped layout file, in a source checkout or an installed wheel."""
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


# --------------------------------------------------------------------------------------------------
# Checking the YAML's shapes


def _keys(where: str, obj: Any, allowed: set[str], required: set[str]) -> Mapping[str, Any]:
    """``obj`` as a mapping with only ``allowed`` keys and every ``required`` one: a typo is an error."""
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
    """An integer of at least ``minimum`` (YAML's true/false are not integers here)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}: expected an integer >= {minimum}, found {value!r}")
    return value


def _str(where: str, value: Any) -> str:
    """A non-empty string: an unquoted record type such as 08 would arrive as the number 8."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: expected a non-empty (quoted) string, found {value!r}")
    return value


def _slice(where: str, obj: Any, named: bool = False) -> tuple[str, int, int]:
    """A ``{start, length}`` (and ``name`` when ``named``) block: (name or "", start, length)."""
    keys = {"start", "length"} | ({"name"} if named else set())
    spec = _keys(where, obj, keys, keys)
    start = _int(f"{where}.start", spec["start"], 1)
    length = _int(f"{where}.length", spec["length"], 1)
    return (_str(f"{where}.name", spec["name"]) if named else ""), start, length


# --------------------------------------------------------------------------------------------------
# Building: file -> messages -> records -> fields


def build_layouts(data: Any, origin: str = "<layouts>") -> EiLayouts:
    """Validate the parsed YAML ``data`` and precompute the per-record parse plans."""
    required = {"record_type", "sequence", "header", "trailer", "berichtcode", "messages"}
    top = _keys(origin, data, {"format", *required}, required)
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
        messages[code] = _build_message(f"{origin}: message {code}", code, spec, rt=(rt_start, rt_len),
                                        seq=(seq_name, seq_start, seq_len), bc=(bc_start, bc_len), header=header,
                                        trailer=trailer)
    return EiLayouts(origin=origin, format=str(top.get("format", "")),
                     record_type=(rt_start - 1, rt_start - 1 + rt_len), sequence_name=seq_name,
                     sequence=(seq_start - 1, seq_start - 1 + seq_len), header=header, trailer=trailer,
                     berichtcode=(bc_start - 1, bc_start - 1 + bc_len), messages=messages)


def _build_message(where: str, code: str, spec: Any, *, rt: tuple[int, int], seq: tuple[str, int, int],
                   bc: tuple[int, int], header: str, trailer: str) -> MessageLayout:
    """One BerichtCode: its records built one by one, then checked as a whole (tree, references, positions)."""
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
    check_tree(where, records, header, trailer)
    check_references(where, records, header, trailer)
    check_coverage(where, records, reclen, rt=rt, seq=seq, bc=bc, header=header, trailer=trailer)
    plans = {rtype: _plan(rtype, rec, records, header, trailer) for rtype, rec in records.items()}
    return MessageLayout(berichtcode=code, message=str(msg.get("message", "")), record_length=reclen, records=records,
                         plans=plans)


def _build_record(where: str, rtype: str, spec: Any, reclen: int, code: str, trailer: str) -> RecordLayout:
    """One record type's keys and fields, each field checked on its own (the whole comes later)."""
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
    parent_by = None if rec.get("parent_by") is None else _parent_by(f"{where}.parent_by", rec["parent_by"])
    fields_in = rec["fields"]
    if not isinstance(fields_in, list) or not fields_in:
        raise ValueError(f"{where}: fields must be a non-empty list")
    fields: list[FieldLayout] = []
    seen: set[str] = set()
    for i, fspec in enumerate(fields_in, 1):
        label = fspec.get("name", f"#{i}") if isinstance(fspec, Mapping) else f"#{i}"
        fields.append(_build_field(f"{where} field {label}", fspec, seen, reclen, code, rtype, trailer))
    xml = rec.get("xml")
    if xml is not None and not isinstance(xml, str):
        raise ValueError(f"{where}: xml must be a string path")
    return RecordLayout(rtype, name, tuple(fields), parent, tuple(link), parent_by, xml)


def _parent_by(where: str, spec: Any) -> ParentBy:
    """A record's ``parent_by`` block (which record it nests under when a field is filled)."""
    pb = _keys(where, spec, {"field", "record", "match", "xml"}, {"field", "record", "match"})
    return ParentBy(
        field=_str(f"{where}.field", pb["field"]),
        record=_str(f"{where}.record", pb["record"]),
        match=_str(f"{where}.match", pb["match"]),
        xml=pb.get("xml"),
    )


_FIELD_KEYS = {"name", "start", "length", "kind", "empty", "strip_zeros", "fixed", "max", "count", "xml", "zero_pad"}


def _build_field(fw: str, fspec: Any, seen: set[str], reclen: int, code: str, rtype: str, trailer: str) -> FieldLayout:
    """One field: a unique XML-safe name inside the record, a kind and empty rule, and only the options
    that make sense for its kind (``seen``: the names so far, this one is added)."""
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
        count = _count(fw, count, kind, rtype, trailer)
    xml = f.get("xml")
    if xml is not None and not isinstance(xml, str):
        raise ValueError(f"{fw}: xml must be a string path")
    zero_pad = f.get("zero_pad")
    if zero_pad is not None:
        zero_pad = _int(f"{fw}.zero_pad", zero_pad, 1)
        if kind != "AN" or not strip or zero_pad > length:
            raise ValueError(f"{fw}: zero_pad is for strip_zeros AN fields and at most the field's length")
    elif strip and kind == "AN":  # AN is left-aligned: only zeros filled to a known width are padding
        raise ValueError(f"{fw}: strip_zeros on an AN field needs zero_pad, the width its zeros pad a number to")
    return FieldLayout(fname, start, length, kind, empty, strip, fixed, maxv, count, xml, zero_pad)


def _count(fw: str, count: Any, kind: str, rtype: str, trailer: str) -> tuple[str, ...] | Literal["detail"]:
    """A trailer counter's ``count``: ``detail`` (every detail record) or the record types it counts."""
    if rtype != trailer:
        raise ValueError(f"{fw}: count is only allowed in the trailer record {trailer}")
    if kind != "N":
        raise ValueError(f"{fw}: a count field must be N")
    if count == DETAIL:
        return DETAIL
    if not isinstance(count, list) or not count or not all(isinstance(x, str) for x in count):
        raise ValueError(f"{fw}: count must be '{DETAIL}' or a list of quoted record types")
    return tuple(count)


def _plan(rtype: str, rec: RecordLayout, records: Mapping[str, RecordLayout], header: str, trailer: str) -> RecordPlan:
    """What the parser needs for ``rtype``: its fields as flat tuples, and which open records it closes."""

    def ancestors(t: str) -> set[str]:
        r = records[t]
        out: set[str] = set()
        for p in filter(None, (r.parent, r.parent_by and r.parent_by.record)):
            out |= {p} | ancestors(p)
        return out

    ops: list[FieldOp] = [
        (f.name, f.start - 1, f.end, _KIND_CODE[f.kind], f.empty == "zeros",
         (f.zero_pad or 0) if f.kind == "AN" else f.strip_zeros, f.fixed, f.max,
         f"positions {f.start}-{f.end}")
        for f in rec.fields
    ]
    register = next((r.parent_by.match for r in records.values() if r.parent_by and r.parent_by.record == rtype), None)
    counters: tuple[tuple[str, tuple[str, ...] | None], ...] = tuple(
        (f.name, None if f.count == DETAIL else tuple(f.count)) for f in rec.fields if f.count is not None
    )
    closes = tuple(t for t in records if rtype in ancestors(t))
    return RecordPlan(layout=rec, ops=tuple(ops), is_header=rtype == header, is_trailer=rtype == trailer,
                      is_detail=rtype not in (header, trailer), closes=closes, register=register, counters=counters)
