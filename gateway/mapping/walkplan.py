"""The walk plan of a rule list, worked out once per mapping: which rules one walk over an element's children
serves, and the untraced walk's table of what to do with each child tag (see :mod:`.engine`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .rules import FieldRule, GroupRule, Rule


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
    walker: Any = None
    """The untraced runs made on first use (:mod:`.walkgen`): ``[generated Python, native]``, by walkgen.NATIVE."""


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
