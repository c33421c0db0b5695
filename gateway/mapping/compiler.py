"""Compile a mapping file (with its ``extends`` chain) into rules that run without re-reading YAML.

Compilation checks everything it can before a message arrives: unknown keys, unknown transforms,
bad XPath, undeclared prefixes, unknown canonical fields, missing bases, cycles in ``extends``.
All problems are collected with ``file:line:column`` and a "did you mean"; a file with any
problem is refused whole.
"""

from __future__ import annotations

import csv
import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from lxml import etree
from pydantic import BaseModel

from gateway.model.codes import BERICHTNUMMERS, CODE_LISTS
from gateway.reference import reference_dir

from . import transforms as tf
from .attributes import footprint
from .errors import MappingError, Problem
from .loader import LocatedDict, LocatedList, load_yaml
from .targets import ROOT_MODEL, FieldKind, fields_of

FORMAT_KEY = "overstap-mapping"
TOP_KEYS = {
    FORMAT_KEY: "format version of the mapping file (1)",
    "name": "unique name used by --mapping and `mapping list`",
    "title": "one line for humans",
    "description": "free text",
    "wet": "wmo or jw",
    "bericht": "message family: 301, 315, 305, 307, 302, 316, 317 ...",
    "versie": "standard version of the dialect: 2.0, 2.1, 3.2 ...",
    "format": "xml or ei",
    "extends": "name or relative path of the base mapping",
    "match": "how messages of this dialect are recognised",
    "namespaces": "prefix -> namespace URI used in paths",
    "value_maps": "code translation tables",
    "render": "per-vendor render settings (zaaktype, zender, ontvanger, ggk_versie)",
    "strictness": "strict (reject on deviations) or lenient (convert with warnings)",
    "source_schema": "XSD the dialect's messages must satisfy, relative to the reference dir",
    "ignore": "source paths deliberately not mapped, with the reason",
    "rules": "canonical field -> source",
    "tests": "sample-in / expected-out test cases",
    "definitions": "YAML anchors for reuse (&name / <<: *name); not read otherwise",
    "abstract": "true: a base for extends only; never detected, never converts on its own",
    "refuse": "reason text: messages this mapping recognises are refused with that reason, a counted outcome",
    "reverse": "false, or the reason why not: this mapping only reads; convert --reverse refuses it",
}
MATCH_KEYS = {"namespace", "root", "format", "xpath", "fields", "route"}
FIELD_KEYS = {"path", "paths", "constant", "default", "required", "when", "transform", "map", "many", "note"}
GROUP_KEYS = {"each", "when", "rules", "note"}
MAP_KEYS = {"values", "csv", "fallback", "default", "note"}
TEST_KEYS = {
    "name", "input", "expect", "expect_output", "expect_error", "expect_unmapped", "expect_warnings", "profile",
    "route",
}
RENDER_KEYS = {"zender", "ontvanger", "zaaktype", "omschrijving", "ggk_versie"}
FALLBACKS = ("error", "keep", "default")
STRICTNESS = ("strict", "lenient")
_STEP = re.compile(r"^(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)$")
REFERENCE_VAR = "${REFERENCE}"


# -- compiled structures ---------------------------------------------------------------------------


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
class TrieNode:
    """One step of the plain child paths of a rule list: which rules end here, which go deeper."""

    children: dict[str, TrieNode] = field(default_factory=dict)
    rules: list[FieldRule] = field(default_factory=list)
    groups: list[GroupRule] = field(default_factory=list)
    rule_ids: tuple[int, ...] = ()  # keys of ``rules`` in the walk's result table, precomputed for the hot loop
    leaf: tuple[str, ...] | None = None
    """Target segments, set when this node ends exactly one plain, single-valued rule without a default and
    nothing else: the untraced walk then stores the element's text itself (the common case)."""
    fast: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    """The untraced walk's table, child tag -> what to do, worked out once (see :func:`_fast_table`)."""


WALKED_FIELD, WALKED_GROUP, DIRECT = 0, 1, 2


@dataclass(slots=True)
class Step:
    """One rule of a plan, with what the hot loop needs decided at compile time."""

    kind: int  # WALKED_FIELD | WALKED_GROUP | DIRECT
    key: int  # id(rule): the key of the walk's result tables
    rule: Rule
    plain: bool = False  # a walked field without transforms or value map: its text is the value
    single: str | None = None  # the target when it is one segment deep (set it without walking segments)
    optional: bool = True  # no default and not required: absent means nothing to do
    keys: tuple[int, ...] | None = None
    """A rule with several plain paths: the walk's key of each (id of the path), read path by path."""


@dataclass(slots=True)
class Plan:
    """How to run a rule list: plain-path rules are served by one walk over the context's children
    (so cost grows with the message, not with rules x depth); the rest run one by one."""

    trie: TrieNode
    order: list[Rule]
    direct: frozenset[int]
    steps: list[Step] = field(default_factory=list)
    fast_steps: list[Step] = field(default_factory=list)
    """``steps`` without the fields the untraced walk stores itself: the rest of an untraced run."""
    must_have: list[tuple[str, ...]] = field(default_factory=list)
    """The target segments of the required fields the untraced walk stores itself: each must have landed."""


FAST_TEXT, FAST_NESTED, FAST_NODE = 0, 1, 2
"""What the untraced walk does with a child: store its text under one key, store it some segments deeper,
or treat it as a trie node (rules to collect, groups to run, children to walk)."""


def _fast_table(node: TrieNode, base: tuple[str, ...]) -> None:
    """Fill ``node.fast`` for a walk whose output dict is the one at ``base``. An inner node whose fused
    leaves all lie under one more segment walks its children with that dict as output, so a leaf stores
    its text without looking up the segments above it on every message."""
    for tag, sub in node.children.items():
        if sub.leaf is not None:
            rest = sub.leaf[len(base):]
            node.fast[tag] = (FAST_TEXT, rest[0]) if len(rest) == 1 else (FAST_NESTED, rest, rest[-1])
            continue
        leaves = _fused_under(sub)
        heads = {leaf[len(base)] for leaf in leaves if len(leaf) > len(base) + 1}
        deeper = len(heads) == 1 and all(len(leaf) > len(base) + 1 for leaf in leaves)
        key = heads.pop() if deeper else None
        _fast_table(sub, (*base, key) if key is not None else base)
        node.fast[tag] = (FAST_NODE, sub, key)


def _fused_under(node: TrieNode) -> list[tuple[str, ...]]:
    """The target segments of every fused leaf below ``node``."""
    out: list[tuple[str, ...]] = []
    for sub in node.children.values():
        out += [sub.leaf] if sub.leaf is not None else _fused_under(sub)
    return out


def _walkable(rule: Rule) -> bool:
    if rule.when is not None:
        return False
    if isinstance(rule, GroupRule):
        return bool(rule.each.tags)
    return rule.constant is None and bool(rule.paths) and all(path.tags for path in rule.paths)


def build_plan(rules: list[Rule]) -> Plan:
    trie = TrieNode()
    direct: set[int] = set()
    steps: list[Step] = []
    nodes: list[TrieNode] = []
    keys: dict[int, list[int]] = {}  # id(node) -> the walk's key of each rule ending there

    def node_at(tags: tuple[str, ...] | None) -> TrieNode:
        node = trie
        for tag in tags or ():
            node = node.children.setdefault(tag, TrieNode())
            nodes.append(node)
        return node

    for rule in rules:
        if not _walkable(rule):
            direct.add(id(rule))
            steps.append(Step(DIRECT, id(rule), rule))
            continue
        if isinstance(rule, GroupRule):
            node_at(rule.each.tags).groups.append(rule)
            steps.append(Step(WALKED_GROUP, id(rule), rule))
            continue
        several = len(rule.paths) > 1  # each path keeps its own key: values are read path by path
        for path in rule.paths:
            node = node_at(path.tags)
            node.rules.append(rule)
            keys.setdefault(id(node), []).append(id(path) if several else id(rule))
        steps.append(Step(
            WALKED_FIELD, id(rule), rule,
            plain=not rule.transforms and rule.value_map is None and not several,
            single=rule.segments[0] if len(rule.segments) == 1 and not rule.many else None,
            optional=rule.default is None and not rule.required,
            keys=tuple(id(path) for path in rule.paths) if several else None,
        ))
    fusable = {step.key: step.rule.segments for step in steps  # one text, nothing to default to
               if step.kind == WALKED_FIELD and step.plain and step.rule.default is None  # type: ignore[union-attr]
               and not step.rule.many}  # type: ignore[union-attr]
    for node in nodes:
        node.rule_ids = tuple(keys.get(id(node), ()))
        if len(node.rules) == 1 and not node.groups and not node.children:
            node.leaf = fusable.get(node.rule_ids[0])
    fused = {node.rule_ids[0] for node in nodes if node.leaf is not None}
    _fast_table(trie, ())
    return Plan(trie, list(rules), frozenset(direct), steps, [s for s in steps if s.key not in fused],
                [s.rule.segments for s in steps if s.key in fused and not s.optional])


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
    """Why ``convert --reverse`` refuses this mapping (``reverse: false`` or a reason); None: it may run back."""

    def top_rule(self, target: str) -> FieldRule | None:
        for rule in self.rules:
            if isinstance(rule, FieldRule) and rule.target == target:
                return rule
        return None


# -- helpers ---------------------------------------------------------------------------------------


def _suggest(word: str, options: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def _loc(node: Any, key: Any = None, *, value: bool = False) -> tuple[int, int]:
    if isinstance(node, LocatedDict) and key is not None:
        table = node.value_locs if value else node.key_locs
        return table.get(key, node.loc)
    if isinstance(node, LocatedList) and isinstance(key, int) and key < len(node.item_locs):
        return node.item_locs[key]
    return getattr(node, "loc", (1, 1))


def _file(node: Any, default: str) -> str:
    return getattr(node, "file", None) or default


def _tag_files(node: Any, filename: str) -> None:
    """Remember on each container which file it came from (extends merges several files)."""
    if isinstance(node, LocatedDict | LocatedList):
        node.file = filename  # type: ignore[attr-defined]
        for child in node.values() if isinstance(node, dict) else node:
            _tag_files(child, filename)


class _Collector:
    def __init__(self, default_file: str) -> None:
        self.problems: list[Problem] = []
        self.default_file = default_file

    def add(self, node: Any, key: Any, message: str, hint: str | None = None, *, value: bool = False) -> None:
        line, col = _loc(node, key, value=value)
        self.problems.append(Problem(_file(node, self.default_file), line, col, message, hint))


# -- loading and extends ---------------------------------------------------------------------------


def read_mapping(path: Path) -> LocatedDict:
    """Load one mapping file as located YAML; raise MappingError on YAML syntax errors."""
    text = path.read_text(encoding="utf-8")
    try:
        data = load_yaml(text, str(path))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise MappingError([Problem(str(path), line, col, f"YAML syntax: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise MappingError([Problem(str(path), 1, 1, f"YAML syntax: {exc}")]) from None
    if not isinstance(data, LocatedDict):
        raise MappingError([Problem(str(path), 1, 1, "a mapping file is a YAML mapping (key: value) at the top")])
    _tag_files(data, str(path))
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
                merged["rules"] = _merge_rules(old.get("rules", {}), value["rules"])
            out[key] = merged
        elif isinstance(old, dict) and isinstance(value, dict) and "each" in old and "each" in value:
            merged = LocatedDict(value)
            merged.loc, merged.key_locs, merged.value_locs = value.loc, value.key_locs, value.value_locs
            merged.file = getattr(value, "file", None)  # type: ignore[attr-defined]
            merged["rules"] = _merge_rules(old.get("rules", {}), value.get("rules", {}), child_order=True)
            out[key] = merged
        else:
            out[key] = value
    return out


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
            line, col = _loc(doc, "extends", value=True)
            raise MappingError([Problem(str(chain[-1]), line, col, f"cycle in extends: {cycle}")])
        doc = read_mapping(current)
        chain.append(current)
        docs.append(doc)
        base = doc.get("extends")
        if base is None:
            current = None
            continue
        if not isinstance(base, str):
            line, col = _loc(doc, "extends", value=True)
            raise MappingError([Problem(str(current), line, col, "extends takes one mapping name or path")])
        found = resolve(base, current.parent)
        if found is None:
            line, col = _loc(doc, "extends", value=True)
            raise MappingError([Problem(str(current), line, col, f"base mapping {base!r} not found",
                                        _suggest(base, _known_names_hint))])
        current = found.resolve()
    merged = docs[-1]
    for doc in reversed(docs[:-1]):
        merged = _merge(merged, doc)
    return merged, [str(p) for p in chain]


_known_names_hint: list[str] = []  # filled by the registry so "base not found" can suggest a name


# -- compiling -------------------------------------------------------------------------------------


def _compile_path(expr: Any, ns: dict[str, str], c: _Collector, node: Any, key: Any) -> Path_ | None:
    if not isinstance(expr, str) or not expr.strip():
        c.add(node, key, "a source path must be a non-empty XPath string", value=True)
        return None
    expr = expr.strip()
    steps = expr[2:].split("/") if expr.startswith("./") else expr.split("/")
    if expr == ".":
        return Path_(expr, ())
    matches = [_STEP.match(s) for s in steps]
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
                      _suggest(prefix, ns) or f"declare it under namespaces: ({', '.join(ns) or 'none declared'})",
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
    return Path_(expr, None, xp, () if isinstance(probe, list) else _footprint(expr, ns))


def _footprint(expr: str, ns: dict[str, str]) -> tuple[etree.XPath, ...]:
    out = []
    for token in footprint(expr):
        try:
            out.append(etree.XPath(token, namespaces=ns, smart_strings=True))
        except etree.XPathSyntaxError:
            continue  # not a location path after all: it marks nothing, so the attribute stays reported
    return tuple(out)


def _scalar(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _compile_transforms(spec: Any, c: _Collector, node: Any, key: Any) -> list[tuple[tf.Transform, Any]]:
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
            c.add(where_node, where_key, f"unknown transform {name!r}", _suggest(name, tf.REGISTRY), value=True)
            continue
        if transform.takes_arg and arg is None and name not in ("number", "format_number", "split", "join"):
            c.add(where_node, where_key, f"transform {name!r} needs an argument", value=True)
            continue
        try:
            out.append((transform, transform.prepare(arg)))
        except (ValueError, TypeError) as exc:
            c.add(where_node, where_key, f"transform {name!r}: {exc}", value=True)
    return out


def _compile_value_maps(spec: Any, base_dir: Path, c: _Collector) -> dict[str, ValueMap]:
    out: dict[str, ValueMap] = {}
    if spec is None:
        return out
    if not isinstance(spec, dict):
        c.add(spec, None, "value_maps is a mapping of name -> {values|csv, fallback}")
        return out
    for name, body in spec.items():
        file = _file(spec, c.default_file)
        line, _ = _loc(spec, name)
        if not isinstance(body, dict):
            c.add(spec, name, f"value map {name!r} must be a mapping with values: or csv:")
            continue
        for key in body:
            if key not in MAP_KEYS:
                c.add(body, key, f"unknown key {key!r} in value map {name!r}", _suggest(key, MAP_KEYS))
        table: dict[str, str] = {}
        values = body.get("values")
        if values is not None:
            if not isinstance(values, dict):
                c.add(body, "values", "values: is a mapping of source code -> canonical code", value=True)
            else:
                table.update({str(k): str(v) for k, v in values.items()})
        if "csv" in body:
            csv_dir = Path(_file(body, str(base_dir / "x"))).parent  # relative to the file that declares it
            csv_path = (csv_dir / str(body["csv"])).resolve()
            if not csv_path.is_file():
                c.add(body, "csv", f"CSV file {body['csv']!r} not found (looked in {csv_dir})", value=True)
            else:
                with csv_path.open(encoding="utf-8", newline="") as fh:
                    reader = csv.DictReader(fh)
                    if reader.fieldnames is None or not {"source", "target"} <= set(reader.fieldnames):
                        c.add(body, "csv", f"{csv_path.name}: the header must name the columns source,target",
                              value=True)
                    else:
                        for row in reader:
                            src = (row["source"] or "").strip()
                            if src in table:
                                c.add(body, "csv", f"{csv_path.name}:{reader.line_num}: source code {src!r} "
                                      "appears twice", value=True)
                            table[src] = (row["target"] or "").strip()
        if values is None and "csv" not in body:
            c.add(spec, name, f"value map {name!r} needs values: or csv:")
        fallback = body.get("fallback", "error")
        if fallback not in FALLBACKS:
            c.add(body, "fallback", f"fallback must be one of {', '.join(FALLBACKS)}",
                  _suggest(str(fallback), FALLBACKS), value=True)
            fallback = "error"
        default = _scalar(body.get("default"))
        if fallback == "default" and default is None:
            c.add(body, "fallback", "fallback: default needs a default: value", value=True)
        out[str(name)] = ValueMap(str(name), table, fallback, default, _file(body, file), line)
    return out


class _RuleCompiler:
    def __init__(self, ns: dict[str, str], maps: dict[str, ValueMap], c: _Collector) -> None:
        self.ns = ns
        self.maps = maps
        self.c = c

    def rules(self, spec: Any, model: type[BaseModel], prefix: str) -> list[Rule]:
        out: list[Rule] = []
        if not isinstance(spec, dict):
            self.c.add(spec, None, "rules: is a mapping of canonical field -> source")
            return out
        for target, body in spec.items():
            if body is None:
                continue
            rule = self.rule(spec, str(target), body, model, prefix)
            if rule is not None:
                out.append(rule)
        return out

    def _resolve_target(self, spec: Any, target: str, model: type[BaseModel], prefix: str
                        ) -> tuple[tuple[str, ...], FieldKind] | None:
        segments = tuple(target.split("."))
        current: type[BaseModel] | None = model
        kind = FieldKind("model", model)
        for i, segment in enumerate(segments):
            if kind.kind == "extra":
                if i != len(segments) - 1:
                    self.c.add(spec, target, f"{prefix}{target}: extra.NAME takes one name, no dots")
                    return None
                return segments, FieldKind("scalar")
            if current is None or kind.kind not in ("model",):
                self.c.add(spec, target, f"{prefix}{target}: {'.'.join(segments[:i])} has no sub-fields")
                return None
            fields = fields_of(current)
            if segment not in fields:
                where = prefix + ".".join(segments[:i]) if i else (prefix.rstrip(".") or "bericht")
                self.c.add(spec, target, f"unknown canonical field {segment!r} in {where or 'bericht'}",
                           _suggest(segment, fields))
                return None
            kind = fields[segment]
            current = kind.model
        if kind.kind == "extra":
            self.c.add(spec, target, f"{prefix}{target}: name the extra field, e.g. {target}.NAME")
            return None
        return segments, kind

    def rule(self, spec: Any, target: str, body: Any, model: type[BaseModel], prefix: str) -> Rule | None:
        resolved = self._resolve_target(spec, target, model, prefix)
        line, col = _loc(spec, target)
        file = getattr(spec, "key_files", {}).get(target) or _file(spec, self.c.default_file)
        if resolved is None:
            return None
        segments, kind = resolved
        if isinstance(body, dict) and "each" in body:
            for key in body:
                if key not in GROUP_KEYS:
                    self.c.add(body, key, f"unknown key {key!r} in repeating group {prefix}{target}",
                               _suggest(key, GROUP_KEYS | FIELD_KEYS))
            if kind.kind != "models" or kind.model is None:
                self.c.add(spec, target, f"{prefix}{target} is not a repeating group (each: needs a list field)")
                return None
            each = _compile_path(body["each"], self.ns, self.c, body, "each")
            when = _compile_path(body["when"], self.ns, self.c, body, "when") if "when" in body else None
            sub = self.rules(body.get("rules", LocatedDict()), kind.model, f"{prefix}{target}[].")
            if each is None:
                return None
            return GroupRule(target, segments, each, when, sub, kind.model, file, line, col, build_plan(sub))
        if kind.kind in ("models", "model"):
            self.c.add(spec, target, f"{prefix}{target} is a structure: map its fields "
                       f"({'a repeating group needs each: and rules:' if kind.kind == 'models' else 'e.g. '}"
                       f"{'' if kind.kind == 'models' else target + '.' + next(iter(fields_of(kind.model)))})")
            return None
        if isinstance(body, str):  # shorthand `field: PATH`: problems point at the path text
            body = _shorthand(spec, target, body, file)
        if not isinstance(body, dict):
            self.c.add(spec, target, f"{prefix}{target}: a rule is a path string or a mapping with path:/constant:",
                       value=True)
            return None
        for key in body:
            if key not in FIELD_KEYS:
                self.c.add(body, key, f"unknown key {key!r} in rule {prefix}{target}", _suggest(key, FIELD_KEYS))
        sources = [k for k in ("path", "paths", "constant") if k in body]
        if len(sources) != 1 and not (not sources and "default" in body):
            self.c.add(spec, target, f"{prefix}{target}: give exactly one of path:, paths: or constant:")
            return None
        paths: list[Path_] = []
        if "path" in body:
            compiled = _compile_path(body["path"], self.ns, self.c, body, "path")
            if compiled is None:
                return None
            paths = [compiled]
        elif "paths" in body:
            raw = body["paths"]
            if not isinstance(raw, list) or not raw:
                self.c.add(body, "paths", "paths: is a list of source paths", value=True)
                return None
            for i, item in enumerate(raw):
                compiled = _compile_path(item, self.ns, self.c, raw, i)
                if compiled is not None:
                    paths.append(compiled)
        when = _compile_path(body["when"], self.ns, self.c, body, "when") if "when" in body else None
        transforms = _compile_transforms(body["transform"], self.c, body, "transform") if "transform" in body else []
        value_map = None
        if "map" in body:
            value_map = self.maps.get(str(body["map"]))
            if value_map is None:
                self.c.add(body, "map", f"unknown value map {body['map']!r}", _suggest(str(body["map"]), self.maps),
                           value=True)
        required = body.get("required", False)
        many = body.get("many", kind.kind == "scalars")
        if not isinstance(required, bool) or not isinstance(many, bool):
            self.c.add(body, "required" if not isinstance(required, bool) else "many", "must be true or false",
                       value=True)
        if many and kind.kind != "scalars":
            self.c.add(body, "many", f"{prefix}{target} holds one value; many: true needs a list field", value=True)
        if "constant" in body:
            _check_constant(self.c, body, prefix + target, _scalar(body["constant"]))
        return FieldRule(
            target=target, segments=segments, paths=paths, constant=_scalar(body.get("constant")),
            default=_scalar(body.get("default")), required=bool(required), when=when, transforms=transforms,
            value_map=value_map, many=bool(many), file=_file(body, file), line=line, column=col,
        )


def _check_constant(c: _Collector, body: Any, where: str, value: str | None) -> None:
    """A constant must be a value the canonical model accepts: caught by ``mapping check``, not at run time."""
    leaf = where.rsplit(".", 1)[-1]
    if where == "soort":
        allowed: tuple[str, ...] = tuple(BERICHTNUMMERS)
        listname = "the canonical berichtsoorten"
    elif leaf in CODE_LISTS:
        listname, allowed = CODE_LISTS[leaf]
    else:
        return
    if value not in allowed:
        c.add(body, "constant", f"constant {value!r} for {where} is not in {listname} "
              f"({', '.join(dict.fromkeys(allowed))})", _suggest(str(value), allowed), value=True)


def _shorthand(spec: Any, target: str, path: str, file: str) -> LocatedDict:
    """``field: PATH`` as ``field: {path: PATH}``, located where the path text stands."""
    body = LocatedDict({"path": path})
    pos = _loc(spec, target, value=True)
    body.loc, body.key_locs, body.value_locs = pos, {"path": pos}, {"path": pos}
    body.file = file  # type: ignore[attr-defined]
    return body


def _compile_match(spec: Any, ns: dict[str, str], c: _Collector, fmt: str) -> Match:
    match = Match(format=fmt)
    if spec is None:
        return match
    if not isinstance(spec, dict):
        c.add(spec, None, "match: is a mapping (namespace, root, format, xpath, fields, route)")
        return match
    for key in spec:
        if key not in MATCH_KEYS:
            c.add(spec, key, f"unknown key {key!r} in match", _suggest(key, MATCH_KEYS))
    match.namespace = _scalar(spec.get("namespace"))
    match.root = _scalar(spec.get("root"))
    match.route = _scalar(spec.get("route"))
    match.format = _scalar(spec.get("format")) or fmt
    xpaths = spec.get("xpath") or {}
    if not isinstance(xpaths, dict):
        c.add(spec, "xpath", "match.xpath is a mapping of XPath -> expected value (or null for 'exists')",
              value=True)
    else:
        for expr, expected in xpaths.items():
            compiled = _compile_path(expr, ns, c, xpaths, expr)
            if compiled is not None:
                match.xpath.append((compiled, _scalar(expected)))
    fields = spec.get("fields") or {}
    if not isinstance(fields, dict):
        c.add(spec, "fields", "match.fields is a mapping of top-level canonical field -> value", value=True)
    else:
        match.fields = {str(k): str(v) for k, v in fields.items()}
    return match


def compile_document(doc: LocatedDict, file: str, chain: list[str]) -> Compiled:
    """Compile a merged mapping document; raise MappingError listing every problem found."""
    c = _Collector(file)
    for key in doc:
        if key not in TOP_KEYS:
            c.add(doc, key, f"unknown key {key!r}", _suggest(str(key), TOP_KEYS))
    if str(doc.get(FORMAT_KEY)) != "1":
        c.add(doc, FORMAT_KEY, f"{FORMAT_KEY}: 1 is required as the format version")
    name = doc.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", name or ""):
        c.add(doc, "name", "name: is required: lower-case letters, digits, '.', '_' or '-'", value=True)
    fmt = str(doc.get("format", "xml"))
    if fmt not in ("xml", "ei"):
        c.add(doc, "format", "format must be xml or ei", value=True)
    wet = doc.get("wet")
    if wet is not None and wet not in ("wmo", "jw"):
        c.add(doc, "wet", "wet must be wmo or jw", value=True)
    strictness = doc.get("strictness", "strict")
    if strictness not in STRICTNESS:
        c.add(doc, "strictness", f"strictness must be one of {', '.join(STRICTNESS)}",
              _suggest(str(strictness), STRICTNESS), value=True)
    source_schema = _source_schema(doc, c)
    ns = doc.get("namespaces") or {}
    if not isinstance(ns, dict):
        c.add(doc, "namespaces", "namespaces: is a mapping of prefix -> namespace URI", value=True)
        ns = {}
    ns = {str(k): str(v) for k, v in ns.items()}
    base_dir = Path(file).parent
    maps = _compile_value_maps(doc.get("value_maps"), base_dir, c)
    rc = _RuleCompiler(ns, maps, c)
    rules = rc.rules(doc.get("rules", LocatedDict()), ROOT_MODEL, "")
    ignore: list[tuple[Path_, str]] = []
    raw_ignore = doc.get("ignore") or []
    if not isinstance(raw_ignore, list):
        c.add(doc, "ignore", "ignore: is a list of {path, reason}", value=True)
        raw_ignore = []
    for i, item in enumerate(raw_ignore):
        if isinstance(item, dict) and "path" in item:
            compiled = _compile_path(item["path"], ns, c, item, "path")
            if compiled is not None:
                ignore.append((compiled, str(item.get("reason", ""))))
            if not item.get("reason"):
                c.add(raw_ignore, i, "an ignored path needs a reason: (why is it safe to drop?)")
        else:
            c.add(raw_ignore, i, "an ignore item is {path: XPATH, reason: TEXT}")
    render = doc.get("render") or {}
    if not isinstance(render, dict):
        c.add(doc, "render", "render: is a mapping", value=True)
        render = {}
    for key in render:
        if key not in RENDER_KEYS:
            c.add(render, key, f"unknown render setting {key!r}", _suggest(str(key), RENDER_KEYS))
    match = _compile_match(doc.get("match"), ns, c, fmt)
    tests = doc.get("tests") or []
    if not isinstance(tests, list):
        c.add(doc, "tests", "tests: is a list of test cases", value=True)
        tests = []
    for i, test in enumerate(tests):
        if not isinstance(test, dict):
            c.add(tests, i, "a test case is a mapping with input: and expect:/expect_output:/expect_error:")
            continue
        for key in test:
            if key not in TEST_KEYS:
                c.add(test, key, f"unknown key {key!r} in test case", _suggest(str(key), TEST_KEYS))
        if "input" not in test:
            c.add(tests, i, "a test case needs input:")
    one_way = _one_way_rules(rules, "")
    reverse = doc.get("reverse", True)
    if reverse is not True and not (isinstance(reverse, str) and reverse.strip()) and reverse is not False:
        c.add(doc, "reverse", "reverse: is false or a reason text (why this mapping cannot write back)", value=True)
    reverse_refused = None if reverse is True else (str(reverse).strip() if reverse is not False else
                                                     "the mapping declares reverse: false")
    abstract, refuse = _abstract_refuse(doc, c)
    if c.problems:
        raise MappingError(c.problems)
    return Compiled(
        name=str(name), title=str(doc.get("title", name)), wet=doc.get("wet"), bericht=_scalar(doc.get("bericht")),
        versie=_scalar(doc.get("versie")), format=fmt, file=file, chain=chain, match=match, namespaces=ns,
        rules=rules, ignore=ignore, value_maps=maps, render=_plain(render), strictness=str(strictness),
        tests=[_plain(t) for t in tests], raw=doc, one_way=one_way, plan=build_plan(rules),
        source_schema=source_schema, reverse_refused=reverse_refused, abstract=abstract, refuse=refuse,
    )


def _abstract_refuse(doc: LocatedDict, c: _Collector) -> tuple[bool, str | None]:
    """``abstract: true`` and ``refuse: REASON``, checked: a refusing mapping must say how it is recognised."""
    abstract = doc.get("abstract", False)
    if not isinstance(abstract, bool):
        c.add(doc, "abstract", "abstract: is true or false", value=True)
        abstract = False
    refuse = doc.get("refuse")
    if refuse is not None and not (isinstance(refuse, str) and refuse.strip()):
        c.add(doc, "refuse", "refuse: is the reason text, e.g. refuse: \"303 declaraties go to the declaratie "
              "portal\"", value=True)
        refuse = None
    if refuse is not None and abstract:
        c.add(doc, "refuse", "an abstract mapping is never detected, so it cannot refuse anything")
    if refuse is not None and not doc.get("match"):
        c.add(doc, "refuse", "a refusing mapping needs match: (which messages it recognises)")
    return abstract, refuse.strip() if refuse else None


def _source_schema(doc: LocatedDict, c: _Collector) -> str | None:
    """Check ``source_schema:``: a relative .xsd path inside the reference dir (checked there when present)."""
    value = doc.get("source_schema")
    if value is None:
        return None
    text = str(value).strip()
    if not text.endswith(".xsd") or text.startswith("/") or ".." in Path(text).parts:
        c.add(doc, "source_schema", "source_schema names an .xsd file relative to the reference dir, "
              "e.g. iwmo21-xsd/WMO301.xsd", value=True)
        return None
    ref = reference_dir()
    if ref.is_dir() and not (ref / text).is_file():
        folder = (ref / text).parent
        known = [str(p.relative_to(ref)) for p in folder.glob("*.xsd")] if folder.is_dir() else []
        c.add(doc, "source_schema", f"source schema {text!r} not found in the reference dir {ref}",
              _suggest(text, known), value=True)
        return None
    return text


def shared_slot(rule: FieldRule) -> tuple[str, int] | None:
    """``split: SEP`` then ``index: N`` on one plain path: the rule owns part N of a shared source element
    (``Naam: "Visser, M.C."`` feeds the geslachtsnaam and the voorletters), so it is written back as that part."""
    if len(rule.transforms) < 2 or len(rule.paths) != 1:
        return None
    (first, sep), (second, idx) = rule.transforms[:2]
    if first.name != "split" or second.name != "index" or idx < 0:
        return None
    return sep, idx


_FUNCTION = re.compile(r"^\s*[A-Za-z][\w-]*\s*\(")


def _unwritable(expr: str) -> bool:
    """An absolute path, a step up (``../@x``) or an XPath function expression: reverse cannot place it."""
    text = expr.strip()
    if text == "local-name()":  # the item's own name: reverse picks the alternative of an ``a | b`` group by it
        return False
    return text.startswith("/") or ".." in text or bool(_FUNCTION.match(text))


def _one_way_rules(rules: list[Rule], prefix: str) -> list[str]:
    """Rules that cannot run backwards: a transform without a declared reverse, or a lossy value map."""
    out: list[str] = []
    for rule in rules:
        if isinstance(rule, GroupRule):
            out += _one_way_rules(rule.rules, f"{prefix}{rule.target}[].")
            continue
        transforms = rule.transforms[2:] if shared_slot(rule) else rule.transforms
        reasons = [t.name for t, _ in transforms if t.reverse is None]
        if rule.value_map is not None and not rule.value_map.lossless:
            reasons.append(f"value map {rule.value_map.name} maps several codes onto one")
        if len(rule.paths) > 1 and not any(t.name == "join" for t, _ in rule.transforms):
            reasons.append("several paths")
        reasons += [f"path {p.expr!r} cannot be written back" for p in rule.paths if _unwritable(p.expr)]
        if reasons:
            out.append(f"{prefix}{rule.target} ({', '.join(reasons)})")
    return out


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def compile_file(path: Path, resolve: Resolver) -> Compiled:
    doc, chain = resolve_chain(path, resolve)
    return compile_document(doc, str(path), chain)
