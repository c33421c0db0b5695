"""The compiled form of a mapping: source paths, value maps, field and group rules, the match and the whole
file. Compiled once by :mod:`.compiler`; run by :mod:`.engine` and, backwards, by :mod:`.reverse`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lxml import etree
from pydantic import BaseModel

from . import transforms as tf

if TYPE_CHECKING:
    from .walkplan import Plan

STEP = re.compile(r"^(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)$")
"""One plain child step of a source path: an optional prefix and a local name."""


@dataclass(slots=True)
class Path_:
    """A compiled source path. Plain child steps (``m:Client/m:Bsn``) keep their Clark tags and are
    resolved through a per-message child index; anything else (predicates, axes, functions,
    attributes) runs as a precompiled lxml XPath."""

    expr: str
    tags: tuple[str, ...] | None
    xpath: etree.XPath | None = None
    footprint: tuple[etree.XPath, ...] = ()
    """For a function expression: the attribute paths it reads (see :mod:`.attributes`), run to mark them used."""

    def run(self, el: etree._Element, index: dict[Any, dict[Any, list[Any]]] | None = None) -> list[Any]:
        """Evaluate on ``el``; ``index`` caches each element's children by tag across a message."""
        tags = self.tags
        if tags is None:
            assert self.xpath is not None
            result = self.xpath(el)
            # A function (local-name(), string(), count()) gives one string, number or boolean, not a node-set.
            return result if isinstance(result, list) else [result]
        if index is None:
            index = {}
        nodes: list[Any] = [el]
        for tag in tags:
            found: list[Any] = []
            for node in nodes:
                kids = index.get(node)
                if kids is None:
                    kids = index[node] = child_index(node)
                hit = kids.get(tag)
                if hit:
                    found.extend(hit)
            nodes = found
            if not nodes:
                break
        return nodes


def child_index(el: etree._Element) -> dict[Any, list[Any]]:
    kids: dict[Any, list[Any]] = {}
    for child in el:
        got = kids.get(child.tag)
        if got is None:
            kids[child.tag] = [child]
        else:
            got.append(child)
    return kids


@dataclass(slots=True)
class ValueMap:
    name: str
    table: dict[str, str]
    fallback: str  # error | keep | default
    default: str | None
    file: str
    line: int

    def reverse_table(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for src, dst in self.table.items():
            out.setdefault(dst, src)  # several sources may share a target: the first one wins back
        return out

    @property
    def lossless(self) -> bool:
        return len(set(self.table.values())) == len(self.table)


@dataclass(slots=True)
class FieldRule:
    target: str
    segments: tuple[str, ...]
    paths: list[Path_]
    constant: str | None
    default: str | None
    required: bool
    when: Path_ | None
    transforms: list[tuple[tf.Transform, Any]]
    value_map: ValueMap | None
    many: bool
    file: str
    line: int
    column: int

    @property
    def source_text(self) -> str:
        if self.constant is not None:
            return f"constant {self.constant!r}"
        return " + ".join(p.expr for p in self.paths)


@dataclass(slots=True)
class GroupRule:
    target: str
    segments: tuple[str, ...]
    each: Path_
    when: Path_ | None
    rules: list[FieldRule | GroupRule]
    model: type[BaseModel]
    file: str
    line: int
    column: int
    plan: Plan | None = None


Rule = FieldRule | GroupRule


@dataclass(slots=True)
class Match:
    namespace: str | None = None
    root: str | None = None
    format: str = "xml"
    xpath: list[tuple[Path_, str | None]] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    route: str | None = None

    @property
    def specificity(self) -> int:
        return (
            (self.namespace is not None) + (self.root is not None) + len(self.xpath)
            + len(self.fields) + 3 * (self.route is not None)
        )


@dataclass(slots=True)
class Compiled:
    """A ready-to-run mapping: the merged ``extends`` chain with every path and transform compiled."""

    name: str
    title: str
    wet: str | None
    bericht: str | None
    versie: str | None
    format: str
    file: str
    chain: list[str]
    match: Match
    namespaces: dict[str, str]
    rules: list[Rule]
    ignore: list[tuple[Path_, str]]
    value_maps: dict[str, ValueMap]
    render: dict[str, Any]
    strictness: str
    tests: list[dict[str, Any]]
    raw: dict[str, Any]
    one_way: list[str] = field(default_factory=list)
    plan: Plan | None = None
    source_schema: str | None = None
    reverse_refused: str | None = None
    abstract: bool = False
    """A base for ``extends`` only: detection never picks it and it converts nothing itself."""
    refuse: str | None = None
    """Messages this mapping recognises are refused with this reason (a declaratie the gateway does not carry)."""
    blanks_matter: bool = True
    """Whether an XPath of this mapping could read the blank text between elements (:mod:`.blanks`): if so, the
    conversion parses its input with that text kept."""
    """Why ``convert --reverse`` refuses this mapping (``reverse: false`` or a reason); None: it may run back."""

    def top_rule(self, target: str) -> FieldRule | None:
        for rule in self.rules:
            if isinstance(rule, FieldRule) and rule.target == target:
                return rule
        return None

