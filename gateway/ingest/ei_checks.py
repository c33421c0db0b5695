"""The EI layout checks that look at a message's records as a whole: tree, references, positions.

Split from :mod:`gateway.ingest.ei_layout` (which builds each record and field on its own) because these
rules only make sense once every record of a BerichtCode is known; each raises a ValueError naming the
message, record type and field, as the layout file's author needs to correct it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .ei_layout import RecordLayout

__all__ = ["check_coverage", "check_references", "check_tree"]


def check_tree(where: str, records: Mapping[str, RecordLayout], header: str, trailer: str) -> None:
    """The records form a tree: unique names, declared parents, no cycles, header and trailer at the top."""
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


def check_references(where: str, records: Mapping[str, RecordLayout], header: str, trailer: str) -> None:
    """Every field a ``link``, ``parent_by`` or ``count`` names exists, and no field is named like a child."""
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
            if isinstance(f.count, tuple):  # a list of record types, not 'detail'
                for target_type in f.count:
                    if target_type not in records or target_type in (header, trailer):
                        raise ValueError(f"{w} field {f.name}: count refers to unknown record type {target_type!r}")


def check_coverage(where: str, records: Mapping[str, RecordLayout], reclen: int, *, rt: tuple[int, int],
                    seq: tuple[str, int, int], bc: tuple[int, int], header: str, trailer: str) -> None:
    """Every position is the record type, the sequence number or a declared field, exactly once: a gap would
    let unknown data through unread, an overlap would read one position as two values."""
    seq_name, seq_start, seq_len = seq
    for rtype, rec in records.items():
        w = f"{where} record {rtype}"
        spans: list[tuple[int, int, str]] = [(rt[0], rt[0] + rt[1] - 1, "the record type")]
        if rtype not in (header, trailer):
            spans.append((seq_start, seq_start + seq_len - 1, f"the sequence number {seq_name}"))
        spans += [(f.start, f.end, f"field {f.name}") for f in rec.fields]
        _check_spans(w, spans, reclen)
        if rtype == header and not any(f.start <= bc[0] and f.end >= bc[0] + bc[1] - 1 for f in rec.fields):
            raise ValueError(f"{w}: no field holds the BerichtCode (positions {bc[0]}-{bc[0] + bc[1] - 1})")


def _check_spans(w: str, spans: list[tuple[int, int, str]], reclen: int) -> None:
    """The (start, end, what) spans of one record tile positions 1..``reclen`` without gap or overlap."""
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
