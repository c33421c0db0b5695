"""The ``EI`` tree -> an iWmo 2.0 EI flat file, from the same record layouts the parser reads.

Why: receivers that still run 2.0-era software take the toewijzing, start, stop and verzoek only as
fixed-width flat files, so ``convert --reverse`` to an EI dialect must end in bytes, not in a tree.
Positions, kinds and empty forms come from ``dialects/ei/iwmo20-ei.yaml`` (one declaration for both
directions, so a corrected position fixes reading and writing at once). The writer is the parser's
inverse on every public sample: parse -> write gives back the same bytes (tests/test_ei_write.py).

What it fills in itself, because the tree does not carry it (dialects/ei/README.md, "The tree"):
the record types, the sequence numbers 1..n over the detail records, the link fields (Clientnummer,
Beschikkingnummer) from the parent record, a ``parent_by`` field (an address's Relatienummer) from the
record it nests under, ``fixed`` values, reserve areas, and every counter of the 99 sluit record.
Records are written parent first, child record types in the layout's order (03 before 04, 09 before
15); addresses nested under a relatie come before the client's own, as in every sample.

Its errors name the element path and what the layout expects, and tell a refused value by its shape only,
as the parser's do (:mod:`gateway.ingest.ei`): the value may be a BSN, a name or a birth date.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping

from lxml import etree

from .ei import ENCODING
from .ei_fields import EiError, date_problem, link_difference
from .ei_layout import DETAIL, EiLayouts, FieldLayout, MessageLayout, RecordLayout
from .errors import found, shape

__all__ = ["write_ei"]

_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_ISO_TIME = re.compile(r"(\d{2}):(\d{2})(?::(\d{2}))?")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # what the parser refuses as a control character


def _field_text(f: FieldLayout, value: str | None, where: str) -> str:
    """One field at its width: N right-aligned with zeros, AN left-aligned with spaces, dates YYYYMMDD,
    times HHMMSS; an absent value in the layout's empty form (zeros for N/date/time with ``empty: zeros``)."""
    if f.kind == "reserve":
        return " " * f.length
    if value is None or value == "":
        if f.fixed is not None:
            return f.fixed
        if f.empty == "zeros" and f.kind != "AN":
            return "0" * f.length
        return " " * f.length
    if _UNSAFE.search(value):
        raise EiError(f"{f.name}: a control character or line break cannot be written in a record", field=where)
    if f.kind == "N":
        if not (value.isdigit() and value.isascii()):
            raise EiError(f"{f.name} must be digits, not {shape(value)}", field=where)
        text = value.zfill(f.length)
    elif f.kind == "date":
        m = _ISO_DATE.fullmatch(value)
        if m is None:
            raise EiError(f"{f.name} must be a date YYYY-MM-DD, not {shape(value)}", field=where)
        try:
            _dt.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            raise EiError(f"{f.name} is not a real date: {date_problem(m[1] + m[2] + m[3])}", field=where) from None
        text = m[1] + m[2] + m[3]
    elif f.kind == "time":
        m = _ISO_TIME.fullmatch(value)
        if m is None or int(m[1]) > 23 or int(m[2]) > 59 or int(m[3] or 0) > 59:
            raise EiError(f"{f.name} must be a time HH:MM:SS, not {shape(value)}", field=where)
        text = m[1] + m[2] + (m[3] or "00")
    else:  # AN
        # zero-filled only where the parser strips the zeros again: a number without zeros of its own
        padded = f.zero_pad and value.isdigit() and value.isascii() and value[0] != "0"
        text = (value.zfill(f.zero_pad) if padded else value).ljust(f.length)
    if len(text) > f.length:
        raise EiError(f"{f.name} is {len(value)} characters, more than its {f.length} positions", field=where)
    if _reads_empty(f, text):
        raise EiError(f"{f.name} cannot hold a value of only {'zeros or ' if f.empty == 'zeros' else ''}spaces: "
                      "the parser takes that for an empty field, so the value would read back as absent",
                      field=where)
    if f.fixed is not None and text != f.fixed:
        raise EiError(f"{f.name} must be {f.fixed!r} in this layout, not {found(value)}", field=where)
    if f.max is not None and int(text) > f.max:
        raise EiError(f"{f.name} is more than the maximum {f.max}", field=where)
    try:
        text.encode(ENCODING)
    except UnicodeEncodeError as exc:
        raise EiError(f"{f.name}: character U+{ord(text[exc.start]):04X} cannot be held by an EI file (ISO-8859-1)",
                      field=where) from None
    return text


def _reads_empty(f: FieldLayout, text: str) -> bool:
    """Whether the parser (:func:`gateway.ingest.ei_fields.record_fields`) reads ``text`` as an empty field: only
    spaces, or with ``empty: zeros`` only zeros (an N Volume of 0, a Huisnummer 0). Written, such a value would
    vanish on the way back in without a word, so it is refused instead."""
    core = text.strip(" ")
    return not core or (f.empty == "zeros" and not core.strip("0"))


class _Writer:
    """Writes the records of one message in file order, numbering the detail records as it goes."""

    def __init__(self, layouts: EiLayouts, msg: MessageLayout) -> None:
        self.layouts = layouts
        self.msg = msg
        self.lines: list[str] = []
        self.counts: dict[str, int] = {}
        self.by_name = {rec.name: rec for rec in msg.records.values()}
        self.children: dict[str | None, list[RecordLayout]] = {}
        for rtype, rec in msg.records.items():
            if rtype not in (layouts.header, layouts.trailer):
                self.children.setdefault(rec.parent, []).append(rec)
        for kids in self.children.values():  # a parent_by record after the record it nests under
            for rec in [r for r in kids if r.parent_by is not None]:
                owner = msg.records[rec.parent_by.record]  # type: ignore[union-attr]
                if kids.index(rec) < kids.index(owner):
                    kids.remove(rec)
                    kids.insert(kids.index(owner) + 1, rec)
        self.written: dict[etree._Element, dict[str, str]] = {}  # each record's values as written

    def values(self, el: etree._Element | None, rec: RecordLayout, where: str) -> dict[str, str]:
        """The field values of a record element; a child that is neither a field nor a record is refused
        (it would otherwise vanish from the file without a word)."""
        out: dict[str, str] = {}
        if el is None:
            return out
        names = {f.name for f in rec.fields if f.kind != "reserve"}
        for child in el:
            if not isinstance(child.tag, str):
                continue  # comments and processing instructions carry no field
            if child.tag in names:
                if child.tag in out:
                    raise EiError(f"{rec.name} has {child.tag} twice; a record holds one", field=f"{where}/{child.tag}")
                out[child.tag] = child.text or ""  # as it is: a value's own leading spaces or U+00A0 stay
            elif child.tag not in self.by_name:
                raise EiError(f"{child.tag} is not a field of record {rec.record_type} ({rec.name}) nor a record "
                              f"of BerichtCode {self.msg.berichtcode}", field=f"{where}/{child.tag}")
        return out

    def line(self, rec: RecordLayout, values: Mapping[str, str], where: str) -> None:
        layouts = self.layouts
        chars = [" "] * self.msg.record_length
        rt0, rt1 = layouts.record_type
        chars[rt0:rt1] = rec.record_type
        if rec.record_type not in (layouts.header, layouts.trailer):
            sq0, sq1 = layouts.sequence
            number = sum(self.counts.values()) + 1
            if len(str(number)) > sq1 - sq0:
                raise EiError(f"more than {10 ** (sq1 - sq0) - 1} detail records", field=layouts.sequence_name)
            chars[sq0:sq1] = str(number).zfill(sq1 - sq0)
            self.counts[rec.record_type] = self.counts.get(rec.record_type, 0) + 1
        for f in rec.fields:
            chars[f.start - 1:f.end] = _field_text(f, values.get(f.name), f"{where}/{f.name}")
        self.lines.append("".join(chars))

    def record(self, el: etree._Element, rec: RecordLayout, parent: Mapping[str, str], where: str,
               fill: Mapping[str, str] = {}) -> None:
        """``el`` and, below it, its child records; link fields come from ``parent`` when the tree leaves
        them out and must agree with it when it does not (the parser checks the same)."""
        values = self.values(el, rec, where)
        for name, value in fill.items():
            values.setdefault(name, value)
        for name in rec.link:
            if name not in parent:
                continue
            if name not in values:
                values[name] = parent[name]
            elif values[name] != parent[name]:
                raise EiError(f"{name} differs from the {name} of the parent record "
                              f"({link_difference(values[name], parent[name])})", field=f"{where}/{name}")
        self.line(rec, values, where)
        self.written[el] = values
        for child in self.children.get(rec.record_type, []):
            pb = child.parent_by
            if pb is not None:  # first the ones nested under a sibling record (an address of a relatie)
                for i, owner in enumerate(el.iterchildren(self.msg.records[pb.record].name)):
                    owner_values = self.written[owner]
                    for j, nested in enumerate(owner.iterchildren(child.name)):
                        self.record(nested, child, owner_values, f"{where}/{owner.tag}[{i + 1}]/{child.name}[{j + 1}]",
                                    {pb.field: owner_values.get(pb.match, "")})
            for j, sub in enumerate(el.iterchildren(child.name)):
                self.record(sub, child, values, f"{where}/{child.name}[{j + 1}]")

    def trailer(self, el: etree._Element | None) -> None:
        rec = self.msg.records[self.layouts.trailer]
        values = self.values(el, rec, rec.name)
        for f in rec.fields:
            if f.count == DETAIL:
                values[f.name] = str(sum(self.counts.values()))
            elif f.count is not None:
                values[f.name] = str(sum(self.counts.get(t, 0) for t in f.count))
        self.line(rec, values, rec.name)


def write_ei(root: etree._Element, layouts: EiLayouts, newline: str = "\n") -> bytes:
    """Serialise an ``EI`` tree (dialects/ei/README.md) to the flat file its BerichtCode's layout describes.

    The BerichtCode is the root's ``berichtcode`` attribute, else ``Voorloop/BerichtCode``. Raises
    :class:`EiError` naming the element path for a value that does not fit its positions.
    """
    if root.tag != "EI":
        raise EiError(f"the root element is {root.tag!r}, not EI")
    code = root.get("berichtcode") or (root.findtext("Voorloop/BerichtCode") or "").strip()
    msg = layouts.messages.get(code)
    if msg is None:
        raise EiError(f"no EI layout for BerichtCode {found(code)} (layouts exist for {', '.join(layouts.messages)})",
                      field="BerichtCode")
    writer = _Writer(layouts, msg)
    header = msg.records[layouts.header]
    trailer = msg.records[layouts.trailer]
    top = {rec.name for rec in writer.children.get(None, [])}
    for child in root:
        if isinstance(child.tag, str) and child.tag not in top | {header.name, trailer.name}:
            raise EiError(f"{child.tag} is not a record that stands directly under EI in BerichtCode {code}",
                          field=child.tag)
    voorloop = root.find(header.name)
    writer.line(header, writer.values(voorloop, header, header.name), header.name)
    for rec in writer.children.get(None, []):
        for i, el in enumerate(root.iterchildren(rec.name)):
            writer.record(el, rec, {}, f"{rec.name}[{i + 1}]")
    writer.trailer(root.find(trailer.name))
    return (newline.join(writer.lines) + newline).encode(ENCODING)
