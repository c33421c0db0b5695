"""Compare what messages look like with what a dialect expects: the deviations an integrator must handle.

The same comparison serves one message (its deviations decide its cluster) and a whole cluster
(its deviations are the report and the input of ``scaffold``). Kinds:

* ``missing``   a required rule's element never occurs (where its parent does)
* ``extra``     an element or attribute with a value that no rule reads and no ``ignore`` names
* ``renamed``   an extra element beside a missing one with a similar name, same parent
* ``attribute`` a value the dialect has as a child element arrives as an attribute of the parent
* ``format``    a value written in another format: date layout, decimal comma, prefix, lost zeros
* ``code``      a code outside the code list (or the rule's value map)
"""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass, field

from gateway.model.codes import CODE_LISTS, PRODUCTCATEGORIE_JW, PRODUCTCATEGORIE_WMO

from .expect import Expectation, Expected, Tags, local, show
from .shapes import shown, told

NUMBER_FIELDS = ("omvang.volume", "budget", "volume")
CODE_FIELDS = ("code", "categorie")


@dataclass(slots=True)
class Summary:
    """Aggregated facts about some messages: how many, where each path occurs, value shapes and codes."""

    messages: int
    presence: dict[Tags, int]
    shapes: dict[Tags, Counter[str]]
    codes: dict[Tags, Counter[str]]


@dataclass(slots=True)
class Deviation:
    kind: str
    path: str  # readable path in the messages (or in the dialect, for missing)
    detail: str
    messages: int
    target: str | None = None  # canonical field concerned
    dialect_path: Tags = ()
    seen_path: Tags = ()
    observed: str | None = None
    expected: str | None = None
    values: list[str] = field(default_factory=list)

    def signature(self) -> str:
        """What makes two messages deviate *the same way* (for clustering): no counts, no values.

        A format is one habit wherever it shows (dates as dd-mm-yyyy in a message with or without
        relations), so its signature leaves the path out."""
        if self.kind == "format":
            return f"format|{self.observed or ''}"
        return f"{self.kind}|{show(self.dialect_path)}|{show(self.seen_path)}|{self.observed or ''}"

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "path": self.path, "detail": self.detail, "messages": self.messages,
                "target": self.target, "observed": self.observed, "expected": self.expected,
                "values": self.values}


def _similar(a: str, b: str) -> bool:
    a, b = a.lower(), b.lower()
    return a == b or a in b or b in a or difflib.SequenceMatcher(None, a, b).ratio() >= 0.75


def _under(path: Tags, prefixes: list[Tags]) -> bool:
    """Whether ``path`` lies under one of ``prefixes`` (a ``*`` step matches any element)."""
    return any(len(path) >= len(p) and all(a == b or a == "*" for a, b in zip(p, path, strict=False))
               for p in prefixes if p)


def deviations(summary: Summary, exp: Expectation) -> list[Deviation]:
    """Every deviation of ``summary`` from ``exp``, most structural first."""
    return structural(summary, exp) + formats(summary, exp) + _codes(summary, exp)


def structural(summary: Summary, exp: Expectation) -> list[Deviation]:
    """Missing, extra, renamed and moved-into-attribute paths: these depend only on which paths occur."""
    known = exp.known()
    present = set(summary.presence)
    extra = sorted(p for p in present if p not in known and p in summary.shapes and not _under(p, exp.ignored)
                   and any(s != "empty" for s in summary.shapes[p]))
    absent = [f for f in exp.fields
              if f.path and f.path not in present and (len(f.path) == 1 or f.path[:-1] in present)]
    out: list[Deviation] = []
    paired: set[Tags] = set()
    for path in extra:
        partner = _partner(path, absent)
        seen = summary.presence[path]
        if partner is not None:
            paired.add(partner.path)
            kind = "attribute" if path[-1].startswith("@") else "renamed"
            verb = "arrives as attribute" if kind == "attribute" else "is named"
            out.append(Deviation(kind, show(path), f"{show(partner.path)} ({partner.target}) {verb} {show(path)}",
                                 seen, partner.target, partner.path, path))
        else:
            out.append(Deviation("extra", show(path), f"{show(path)} is read by no rule of {exp.name}", seen,
                                 seen_path=path))
    for item in absent:
        if item.required and item.path not in paired:
            parent = summary.presence.get(item.path[:-1], summary.messages)
            out.append(Deviation("missing", show(item.path), f"required {item.target} ({show(item.path)}) is absent",
                                 parent, item.target, item.path))
    return out


def _partner(path: Tags, absent: list[Expected]) -> Expected | None:
    name = local(path[-1]).lstrip("@")
    for item in absent:
        if item.path[:-1] == path[:-1] and _similar(name, local(item.path[-1])):
            return item
    return None


def formats(summary: Summary, exp: Expectation) -> list[Deviation]:
    """Values written in another format than the dialect reads (dates, decimal comma, prefixes, lost zeros)."""
    out: list[Deviation] = []
    seen: set[tuple[Tags, str]] = set()
    for item in exp.fields:
        shapes = summary.shapes.get(item.path)
        if not shapes:
            continue
        last = item.target.rsplit(".", 1)[-1]
        for observed, count in shapes.items():
            expected = _expected_shape(item, last, observed)
            if expected is None or (item.path, observed) in seen:
                continue
            seen.add((item.path, observed))
            out.append(Deviation("format", show(item.path), f"{item.target}: {observed} where {exp.name} reads "
                                 f"{expected}", count, item.target, item.path, item.path, observed, expected))
    return out


def _expected_shape(item: Expected, last: str, observed: str) -> str | None:
    """The shape the dialect expects when ``observed`` is not it; None when ``observed`` is fine."""
    if item.date_format and (observed.startswith("date:") or observed.startswith("datetime:")):
        return None if observed == f"date:{item.date_format}" else f"date:{item.date_format}"
    if item.transforms:
        return None
    if item.target.endswith(NUMBER_FIELDS) and observed.startswith("decimal:"):
        return "digits (a whole number)"
    if last in CODE_FIELDS and not item.value_map and observed.startswith("prefix:"):
        return "a code without prefix"
    if last == "bsn" and observed.startswith("digits:") and observed != "digits:9":
        return "digits:9"
    return None


def _allowed(item: Expected) -> tuple[str, frozenset[str]] | None:
    if item.value_map:
        return f"value map of {item.target}", item.value_map
    last = item.target.rsplit(".", 1)[-1]
    if last in CODE_LISTS:
        name, values = CODE_LISTS[last]
        return name, frozenset(values)
    if last == "categorie" and ".producten." in f".{item.target}":
        return "WMO020/JZ020 Productcategorie", PRODUCTCATEGORIE_WMO | PRODUCTCATEGORIE_JW
    return None


def code_elements(exp: Expectation) -> dict[Tags, frozenset[str]]:
    """Paths a rule of ``exp`` reads into a code (a code list, a value map, a product code or categorie), with
    the values it accepts (empty when no list is known): only there may a report show a code-shaped value."""
    out: dict[Tags, frozenset[str]] = {}
    for item in exp.fields:
        allowed = _allowed(item)
        if allowed is not None:
            out[item.path] = out.get(item.path, frozenset()) | allowed[1]
        elif item.target.rsplit(".", 1)[-1] in CODE_FIELDS:
            out.setdefault(item.path, frozenset())
    return out


_NORMAL = {"trim", "lower", "upper"}


def _normal(value: str, transforms: tuple[str, ...]) -> str:
    value = value.strip()
    return value.lower() if "lower" in transforms else value.upper() if "upper" in transforms else value


def _codes(summary: Summary, exp: Expectation) -> list[Deviation]:
    out: list[Deviation] = []
    for item in exp.fields:
        codes = summary.codes.get(item.path)
        allowed = _allowed(item) if codes else None
        if not codes or allowed is None or set(item.transforms) - _NORMAL:
            continue
        name, values = allowed
        outside = sorted(v for v in codes if _normal(v, item.transforms) not in values)
        if outside:
            count = sum(codes[v] for v in outside)
            told_ = list(dict.fromkeys(told(v, values) for v in outside))  # a name in a code column: its shape
            out.append(Deviation("code", show(item.path), f"{item.target}: {', '.join(told_[:6])} not in {name}",
                                 count, item.target, item.path, item.path,
                                 values=[v for v in outside if shown(v, values) is not None][:20]))
    return out
