"""iWmo 2.0 "EI" fixed-width flat files -> an lxml tree, driven by record layouts declared as data.

Why this module exists: gemeenten and aanbieders that still run 2.0-era software exchange the
toewijzing, start, stop and verzoek messages as EI flat files rather than XML. The positions in
those files are not officially documented anywhere we can rely on; they were reconstructed from
samples and live in dialects/ei/iwmo20-ei.yaml, read and checked by :mod:`gateway.ingest.ei_layout`
(re-exported here: ``parse_ei(data, default_layouts())`` is the whole API). This module stays
small: it only knows about the file, record types, parents and lengths; one record's fields (four kinds,
their padding, how a bad one is described) are :mod:`gateway.ingest.ei_fields`.

Output contract (other code depends on it; see dialects/ei/README.md):

* root ``EI`` (no namespace) with attribute ``berichtcode``;
* ``Voorloop`` (record 01), one element per 02 record (``Client``) holding its fields and, nested by
  the declared parents, the records below it, then ``Sluit`` (record 99);
* every non-empty field is a child element whose text is the value without its padding (an AN field's
  trailing spaces; its own leading spaces and a trailing U+00A0 stay); dates become
  ``YYYY-MM-DD``, times ``HH:MM:SS``; numbers keep their zero padding unless the layout says
  ``strip_zeros``; every element's ``sourceline`` is the 1-based line of its record (libxml2 cannot
  store lines above 65534: such records carry a ``line`` attribute instead; ``source_line()`` reads
  either).

Encoding: the bytes are decoded as ISO-8859-1 (latin-1). That is a superset of the plain ASCII the
samples use, it never fails, and one byte is one character, so the fixed positions stay byte
positions. Ingest (:mod:`gateway.ingest.ei_default`) first turns UTF-8 and UTF-16/32 files into
these bytes, so an ``é`` counts as one position whatever the file's encoding. C0 control characters
(other than the line ends) are refused.

Privacy: an error names the line, the field and its positions and what was expected, never the value found
there (a BSN or a name shifted into the wrong positions would travel into reports and ``.reason`` files).
A field's content is told by its shape (``found 9 letters``); only the record type, the BerichtCode and a
``fixed`` field, markers of the layout, are quoted, and then only when code-shaped (:func:`.errors.found`).
"""

from __future__ import annotations

import re

from lxml import etree

from .ei_fields import EiError, link_difference, record_fields
from .ei_layout import (
    EiLayouts,
    FieldLayout,
    MessageLayout,
    ParentBy,
    RecordLayout,
    RecordPlan,
    build_layouts,
    default_layouts,
    load_layouts,
)
from .errors import found, quotable, shape

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

# libxml2 keeps an element's line in 16 bits and reads 65535 as "look at the neighbours", so
# sourceline can only hold 1..65534. Records further down get a `line` attribute instead.
MAX_SOURCELINE = 65534

_BOM = b"\xef\xbb\xbf"
# Control characters that cannot be part of a record: all C0 except LF and a CR that ends a line, DEL, and the C1
# controls 0x80-0x9F, which in ISO-8859-1 are no characters at all: such a byte is a Windows-1252 quote or euro sign
# (``O\x92Brien``) and read as ISO-8859-1 it would travel on as an invisible control in a name.
_CONTROL = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)")


# Where a record sits once it is in the tree: (element, field values, line). A later record nests
# under it (through its parent type, or through parent_by's registry) and checks its link fields.
_Entry = tuple[etree._Element, dict[str, str], int]


def _element(parent: etree._Element, name: str, values: dict[str, str], lineno: int) -> etree._Element:
    """A record's element under ``parent``, one child per field, all on the record's line (as an attribute
    past what libxml2's sourceline can hold)."""
    sub = etree.SubElement
    el = sub(parent, name)
    if lineno <= MAX_SOURCELINE:
        el.sourceline = lineno
        for field, v in values.items():
            child = sub(el, field)
            child.text = v
            child.sourceline = lineno
    else:
        el.set("line", str(lineno))
        for field, v in values.items():
            sub(el, field).text = v
    return el


# --------------------------------------------------------------------------------------------------
# The file


def parse_ei(data: bytes, layouts: EiLayouts, source: str = "<input>") -> etree._Element:
    """Parse an EI flat file into the ``EI`` tree described in the module docstring.

    Raises :class:`EiError` naming the line and field for anything that does not fit the layout.
    """
    # ``text`` stays referenced until the tree is built: freed before it, glibc hands the file's worth of
    # heap back to the kernel and the tree faults it in again (+12% on a 2,000-record file).
    text = _text(data, source)
    lines = _lines(text, layouts, source)
    code, msg = _message(lines[0], layouts, source)
    tree = _Tree(layouts, msg, code, source)
    for lineno, line in enumerate(lines, 1):
        if tree.add(lineno, line):
            _only_blanks_after(lines, lineno, layouts.trailer, source)
            return tree.root
    raise EiError(f"missing {layouts.trailer} sluit record at the end of the file", len(lines), None, source)


def _text(data: bytes, source: str) -> str:
    """The file as text: BOM and a DOS end-of-file mark taken off, a control character anywhere refused."""
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
        what = (f"a CR without LF after it at position {pos - line_start + 1}: records end in LF or CRLF (a file "
                "with CR-only line ends must be converted to LF first)") if bad.group() == "\r" else (
                f"control character {bad.group()[0]!r} at position {pos - line_start + 1}")
        raise EiError(
            what,
            text.count("\n", 0, pos) + 1,
            None,
            source,
        )
    return text


def _lines(text: str, layouts: EiLayouts, source: str) -> list[str]:
    """The records as lines, without their line ends (LF or CRLF); at least one must not be blank."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # final newline (optional)
    if "\r" in text:
        lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
    if not any(ln.strip() for ln in lines):
        raise EiError(f"empty input: expected a {layouts.header} voorloop record", 1, None, source)
    return lines


def _message(first: str, layouts: EiLayouts, source: str) -> tuple[str, MessageLayout]:
    """The BerichtCode in the voorloop (the first line) and its layout: every later record is read by it."""
    rt0, rt1 = layouts.record_type
    if first[:1].isspace() or not first:
        raise EiError(
            f"the first line {'is blank' if not first.strip() else 'starts with blanks'}: the {layouts.header} "
            "voorloop must start at position 1 of line 1 (remove what comes before it)",
            1,
            None,
            source,
        )
    if first[rt0:rt1] != layouts.header:
        raise EiError(
            f"missing {layouts.header} voorloop: the first record has another type (found {found(first[rt0:rt1])})",
            1,
            None,
            source,
        )
    bc0, bc1 = layouts.berichtcode
    code = first[bc0:bc1]
    msg = layouts.messages.get(code)
    if msg is None:
        raise EiError(
            f"unknown BerichtCode in the voorloop: found {found(code)} "
            f"(layouts exist for {', '.join(layouts.messages)})",
            1,
            "BerichtCode",
            source,
        )
    return code, msg


def _only_blanks_after(lines: list[str], trailer_line: int, trailer: str, source: str) -> None:
    """Nothing but blank lines may follow the sluit record: a record there would be outside its counts."""
    for lineno, line in enumerate(lines[trailer_line:], trailer_line + 1):
        if line.strip():
            raise EiError(f"record after the {trailer} sluit record of line {trailer_line}", lineno, None, source)


class _Tree:
    """What :func:`parse_ei` carries from one record to the next.

    A record's place depends on the records before it (the open record of its parent type, or the one
    its ``parent_by`` field names), its sequence number on the count so far, and the sluit record's
    counters on every record of the file.
    """

    __slots__ = ("code", "counts", "expected_seq", "msg", "open", "plans", "reclen", "registry", "root", "rt0",
                 "rt1", "seq", "seq_name", "source")

    def __init__(self, layouts: EiLayouts, msg: MessageLayout, code: str, source: str) -> None:
        self.msg = msg
        self.code = code
        self.source = source
        self.plans = msg.plans
        self.reclen = msg.record_length
        self.rt0, self.rt1 = layouts.record_type
        self.seq = layouts.sequence
        self.seq_name = layouts.sequence_name
        self.root = etree.Element("EI", berichtcode=code)
        self.root.sourceline = 1
        self.open: dict[str, _Entry] = {}
        """The last record of each type whose scope is still open (a 08 until the next 02 or 08)."""
        self.registry: dict[str, dict[str, _Entry]] = {}
        """Records a ``parent_by`` can name: record type -> match value -> the record."""
        self.counts: dict[str, int] = {}
        """Detail records so far, per record type (the sluit record's counters)."""
        self.expected_seq = 1

    def add(self, lineno: int, line: str) -> bool:
        """Check one record and put its element in the tree; True when it was the sluit record."""
        rtype = line[self.rt0 : self.rt1]
        plan = self.plans.get(rtype)
        if plan is None or len(line) != self.reclen:
            raise self._misfit(rtype, line, lineno)
        if plan.is_header and lineno != 1:
            raise EiError(
                f"a second {rtype} voorloop record (only the first line may be one)", lineno, None, self.source
            )
        if plan.is_detail:
            self._sequence(rtype, line, lineno)
        values = record_fields(plan, line, lineno, self.source)
        el = _element(self._parent(plan.layout, values, lineno), plan.layout.name, values, lineno)
        self._open(plan, rtype, (el, values, lineno))
        if plan.is_trailer:
            self._check_counts(plan, values, lineno)
            return True
        return False

    def _misfit(self, rtype: str, line: str, lineno: int) -> EiError:
        """Why a line is no record of this message: an unknown record type, or the wrong length."""
        if rtype not in self.plans:
            if not line:
                return EiError(f"empty line: record length 0, expected {self.reclen}", lineno, None, self.source)
            return EiError(
                f"unknown record type for BerichtCode {self.code}: found {found(rtype)} "
                f"(known: {', '.join(self.plans)})",
                lineno,
                None,
                self.source,
            )
        return EiError(
            f"record {rtype} has length {len(line)}, expected {self.reclen} for BerichtCode {self.code}",
            lineno,
            None,
            self.source,
        )

    def _sequence(self, rtype: str, line: str, lineno: int) -> None:
        """A detail record carries the next sequence number (1..n over the file); count it per type."""
        sq0, sq1 = self.seq
        seq = line[sq0:sq1]
        if not (seq.isdigit() and seq.isascii()) or int(seq) != self.expected_seq:
            if not (seq.isdigit() and seq.isascii()):
                got = shape(seq)
            else:
                got = "a lower number" if int(seq) < self.expected_seq else "a higher number"
            raise EiError(
                f"sequence number out of order: expected {self.expected_seq:0{sq1 - sq0}d}, found {got}",
                lineno,
                self.seq_name,
                self.source,
            )
        self.expected_seq += 1
        self.counts[rtype] = self.counts.get(rtype, 0) + 1

    def _parent(self, rec: RecordLayout, values: dict[str, str], lineno: int) -> etree._Element:
        """The element a record nests under: the record its ``parent_by`` field names when filled, else the open
        record of its parent type, else the root. Its ``link`` fields must repeat the parent's values."""
        pb = rec.parent_by
        if pb is not None and values.get(pb.field):
            hit = self.registry.get(pb.record, {}).get(values[pb.field])
            if hit is None:
                target = self.msg.records[pb.record]
                raise EiError(
                    f"record {rec.record_type} ({rec.name}) refers to a {target.name} by its {pb.match}, but no "
                    f"{pb.record} record with that {pb.match} has appeared under the current {rec.parent} record",
                    lineno,
                    pb.field,
                    self.source,
                )
        elif rec.parent is not None:
            hit = self.open.get(rec.parent)
            if hit is None:
                parent = self.msg.records[rec.parent]
                raise EiError(
                    f"record {rec.record_type} ({rec.name}) needs a preceding {rec.parent} {parent.name} record",
                    lineno,
                    None,
                    self.source,
                )
        else:
            return self.root
        parent_el, pvalues, pline = hit
        for name in rec.link:
            if values.get(name) != pvalues.get(name):
                raise EiError(
                    f"{name} differs from the {name} of the parent {parent_el.tag} record on line {pline} "
                    f"({link_difference(values.get(name), pvalues.get(name))})",
                    lineno,
                    name,
                    self.source,
                )
        return parent_el

    def _open(self, plan: RecordPlan, rtype: str, entry: _Entry) -> None:
        """The record becomes the open one of its type, closing those below the types it is nested under;
        a record a ``parent_by`` can name is registered by its match value, which must be unique."""
        for t in plan.closes:
            self.open.pop(t, None)
            self.registry.pop(t, None)
        self.open[rtype] = entry
        if plan.register is not None:
            key = entry[1].get(plan.register)
            if key:
                known = self.registry.setdefault(rtype, {})
                if key in known:
                    raise EiError(
                        f"{plan.layout.name} {plan.register}: the same {plan.register} already appeared on line "
                        f"{known[key][2]}",
                        entry[2],
                        plan.register,
                        self.source,
                    )
                known[key] = entry

    def _check_counts(self, plan: RecordPlan, values: dict[str, str], lineno: int) -> None:
        """The sluit record's counters match the detail records the file really has."""
        total = self.expected_seq - 1
        for name, targets in plan.counters:
            declared = int(values.get(name, "0"))
            actual = total if targets is None else sum(self.counts.get(t, 0) for t in targets)
            if declared != actual:
                what = "detail" if targets is None else "/".join(targets)
                told = str(declared)  # a count too long to quote is a number, not "7 digits" beside "7 records"
                told = told if quotable(told) else f"a {len(told)}-digit number"
                raise EiError(
                    f"{name} says {told}, but the file has {actual} {what} record(s)",
                    lineno,
                    name,
                    self.source,
                )


# --------------------------------------------------------------------------------------------------
# Reading a tree back, and sniffing


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


TRIMMED = "the value's own leading spaces or trailing non-breaking space are not carried (canonical values are trimmed)"
"""The warning for an EI field whose edge blanks are the value's own (:func:`trimmed_away`; dialects/ei/README.md,
*Blanks and zeros*)."""


def trimmed_away(root: etree._Element) -> list[tuple[str, int | None]]:
    """(``Record/Field``, line) of every value whose own edge blanks the canonical model does not keep.

    The parser takes off only an AN field's padding (trailing spaces); leading spaces and a trailing U+00A0
    are the value's own, kept in the tree so the EI writer gives them back. The mapping engine trims every
    value (XML's rule too), so a conversion reports these fields instead of losing their blanks silently."""
    found_: list[tuple[str, int | None]] = []
    for el in root.iter():
        text = el.text
        if text and len(el) == 0 and text != text.strip():
            names = [a.tag for a in el.iterancestors() if a is not root]
            found_.append(("/".join([*reversed(names), el.tag]), source_line(el)))
    return found_


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
