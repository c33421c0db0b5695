"""What the reverse writer (gateway.mapping.reverse) works out from a mapping once, not once per message.

Where each rule's paths write (plain element paths, a final ``@attribute``, the next sibling of a group item,
a ``when:`` condition to write back), why a rule is one-way, its value map reversed and its transforms'
inverses, each group's alternatives, the required rules, and each rule list as the steps the writer walks.
Plans are cached by the identity of the compiled rule (the entry holds the rule, so an id is never reused);
a registry reload compiles new rules and the bounded caches forget the old ones.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree
from pydantic import BaseModel

from . import transforms as tf
from .compiler import shared_slot
from .rules import STEP, Compiled, FieldRule, GroupRule, Rule

_DATES = (dt.date, dt.time)
"""A tuple made once: ``dt.date | dt.time`` in the test built a union object on every call (~170 ns, ~25 a message)."""


def text_of(value: Any) -> str:
    if isinstance(value, _DATES):
        return value.isoformat()
    return str(value)


Namespaces = tuple[tuple[str, str], ...]
"""A mapping's prefixes as a hashable key, so each path is parsed once per process, not once per message."""


@functools.lru_cache(maxsize=8192)
def simple_tags(expr: str, namespaces: Namespaces) -> tuple[str, ...] | None:
    """``m:Omvang/i:Volume`` as Clark tags, ``.`` as no tags, a final ``@name`` as ``"@name"``; None for
    anything else."""
    ns = dict(namespaces)
    expr = expr.strip()
    if expr == ".":
        return ()
    steps = expr[2:].split("/") if expr.startswith("./") else expr.split("/")
    tags: list[str] = []
    for i, step in enumerate(steps):
        step = step.strip()
        attribute = step.startswith("@") and i == len(steps) - 1
        m = STEP.match(step[1:] if attribute else step)
        if m is None:
            return None
        prefix, local = m.group(1), m.group(2)
        if prefix is not None and prefix not in ns:
            return None
        tags.append(("@" if attribute else "") + (f"{{{ns[prefix]}}}{local}" if prefix else local))
    return tuple(tags)


@dataclass(frozen=True, slots=True)
class Sibling:
    """``following-sibling::*[1][self::A or self::B]``: written as the element right after the group item,
    named after the item's alternative (``Landnummer01`` follows ``Telefoonnummer01``)."""

    tags: tuple[str, ...]


_NEXT_SIBLING = re.compile(r"following-sibling::\*\[1\]\[(self::[\w.:-]+(?:\s+or\s+self::[\w.:-]+)*)\]")


@functools.lru_cache(maxsize=1024)
def _next_sibling(expr: str, namespaces: Namespaces) -> Sibling | None:
    m = _NEXT_SIBLING.fullmatch(expr.strip())
    if m is None:
        return None
    names = [simple_tags(part.strip()[len("self::"):], namespaces) for part in re.split(r"\s+or\s+", m.group(1))]
    if any(n is None or len(n) != 1 or n[0].startswith("@") for n in names):
        return None
    return Sibling(tuple(n[0] for n in names if n))


_EQUALS = re.compile(r"\s*([^\s=!<>'\[\]()]+)\s*=\s*'([^']*)'\s*")


@functools.lru_cache(maxsize=1024)
def _condition(expr: str, namespaces: Namespaces) -> tuple[tuple[str, ...], str] | None:
    """``when: "Status = 'ingetrokken'"`` as (path, text): the reverse writes it so the rule reads back."""
    m = _EQUALS.fullmatch(expr)
    tags = simple_tags(m.group(1), namespaces) if m else None
    return (tags, m.group(2)) if m and tags else None


Target = tuple[str, ...] | Sibling
"""Where a rule's value goes: a child path (``()`` is the element itself) or the item's next sibling."""


def _alternatives(expr: str, ns: Namespaces) -> list[tuple[str, ...]] | None:
    """``a/b | a/c`` -> the plain element paths it unites (item i of a group goes to alternative i)."""
    parts = [simple_tags(p.strip(), ns) for p in expr.split("|")]
    if any(p is None or (p and p[-1].startswith("@")) for p in parts):
        return None
    return [p for p in parts if p is not None]


class NotNormal(Exception):
    """The canonical value is not a fixed point of a normalising transform: written as is, it would read back
    as something else."""


Step = tuple[tf.Transform, Any, tuple[str, Any] | None]
"""One transform run backwards: (transform, its argument, its declared inverse (name, argument) or None)."""


def reverse_value(value: Any, table: dict[str, str] | None, steps: tuple[Step, ...]) -> Any:
    """Canonical value -> source text, through the reversed value map ``table`` and ``steps`` (the rule's
    transforms backwards, last first)."""
    out: Any = [text_of(v) for v in value] if isinstance(value, list) else text_of(value)
    if table is not None:
        out = [table.get(v, v) for v in out] if isinstance(out, list) else table.get(out, out)
    for transform, arg, inverse in steps:
        if inverse is None:
            if transform.normalises and transform.apply(out, arg) != out:
                raise NotNormal(transform.name)
            continue  # the transform is its own inverse on canonical values (trim, upper)
        name, inverse_arg = inverse
        out = tf.REGISTRY[name].apply(out, inverse_arg)
    return out


def _discriminator(group: GroupRule) -> tuple[FieldRule, dict[str, str]] | None:
    """The rule of an ``a | b | c`` group that reads the element's own name through a value map
    (``verzoek_groep: {path: local-name(), map: ...}``): its value says which alternative to write."""
    for rule in group.rules:
        if isinstance(rule, FieldRule) and rule.value_map is not None and len(rule.paths) == 1 \
                and rule.paths[0].expr.replace(" ", "") == "local-name()":
            return rule, rule.value_map.reverse_table()
    return None


def _target(expr: str, ns: Namespaces) -> Target | None:
    tags = simple_tags(expr, ns)
    return tags if tags is not None else _next_sibling(expr, ns)


def _one_way(rule: FieldRule, ns: Namespaces) -> str | None:
    transforms = rule.transforms[2:] if shared_slot(rule) else rule.transforms
    if any(t.reverse is None for t, _ in transforms):
        return "transform without a reverse: " + ", ".join(t.name for t, _ in transforms if t.reverse is None)
    if rule.value_map is not None and not rule.value_map.lossless:
        return f"value map {rule.value_map.name} maps several codes onto one (the first is written back)"
    if any(_target(p.expr, ns) is None for p in rule.paths):
        return "not a plain element path"
    return None


@dataclass(frozen=True, slots=True)
class FieldPlan:
    """What a field rule needs to run backwards, worked out once per compiled rule, not once per message."""

    rule: FieldRule  # held so the identity key of the cache is never reused
    reason: str | None
    """Why the rule is one-way (None: it is not)."""
    paths: list[Target | None]
    slot: tuple[str, int] | None
    table: dict[str, str] | None
    steps: tuple[Step, ...]
    condition: tuple[tuple[str, ...], str] | None
    leaf: tuple[tuple[str, ...], str] | None
    """(holder path, last tag) when the value is one text written at one plain path with nothing to undo."""


def _plan(rule: FieldRule, ns: Namespaces) -> FieldPlan:
    slot = shared_slot(rule)
    reason = _one_way(rule, ns)
    paths = [_target(p.expr, ns) for p in rule.paths]
    transforms = rule.transforms[2:] if slot else rule.transforms
    runnable = reason is None or reason.startswith("value map")  # else the rule is reported and not written
    steps = tuple((t, arg, t.reverse(arg) if t.reverse else None) for t, arg in reversed(transforms)) \
        if runnable else ()
    table = rule.value_map.reverse_table() if rule.value_map is not None else None
    condition = _condition(rule.when.expr, ns) if rule.when is not None else None
    first = paths[0] if len(paths) == 1 else None
    leaf = (first[:-1], first[-1]) if (
        isinstance(first, tuple) and first and reason is None and slot is None and table is None and not steps
        and rule.when is None and rule.constant is None) else None
    return FieldPlan(rule, reason, paths, slot, table, steps, condition, leaf)


_PLANS: dict[tuple[int, Namespaces], FieldPlan] = {}
_PLANS_MAX = 50_000


def field_plan(rule: FieldRule, ns: Namespaces) -> FieldPlan:
    """The plan of ``rule``, cached by identity (the entry holds the rule, so the key is never reused)."""
    key = (id(rule), ns)
    found = _PLANS.get(key)
    if found is None or found.rule is not rule:
        if len(_PLANS) >= _PLANS_MAX:  # reloads compile new rules; keep the cache bounded
            _PLANS.clear()
        found = _PLANS[key] = _plan(rule, ns)
    return found


GroupPlan = tuple[GroupRule, list[tuple[str, ...]], tuple[FieldRule, dict[str, str]] | None, list[str]]
_GROUPS: dict[tuple[int, Namespaces], GroupPlan] = {}


def group_plan(rule: GroupRule, ns: Namespaces) -> GroupPlan:
    """(rule, the element paths its items go to, the rule naming each item's alternative with its reversed
    map, the alternatives' local names): once per compiled group, cached by identity like :func:`field_plan`."""
    key = (id(rule), ns)
    found = _GROUPS.get(key)
    if found is None or found[0] is not rule:
        if len(_GROUPS) >= _PLANS_MAX:
            _GROUPS.clear()
        plain = rule.each.tags
        alternatives = [plain] if plain is not None else _alternatives(rule.each.expr, ns) or []
        chooser = _discriminator(rule) if len(alternatives) > 1 and all(alternatives) else None
        locals_ = [etree.QName(tags[-1]).localname for tags in alternatives] if chooser else []
        found = _GROUPS[key] = (rule, alternatives, chooser, locals_)
    return found


_CHECKED: dict[int, tuple[list[Rule], list[Rule]]] = {}


def checked_rules(rules: list[Rule]) -> list[Rule]:
    """The rules of a list that :meth:`_Writer.missing` looks at: groups, and required fields without a
    constant or default (cached by the list's identity)."""
    found = _CHECKED.get(id(rules))
    if found is None or found[0] is not rules:
        if len(_CHECKED) >= _PLANS_MAX:
            _CHECKED.clear()
        found = _CHECKED[id(rules)] = (rules, [r for r in rules if isinstance(r, GroupRule) or (
            r.required and r.constant is None and r.default is None)])
    return found[1]


Steps = list[tuple[Rule, str, tuple[str, ...], str, tuple[tuple[str, ...], str] | None, bool]]
_STEPS: dict[tuple[int, Namespaces], tuple[list[Rule], Steps]] = {}


def steps_of(rules: list[Rule], ns: Namespaces) -> Steps:
    """A rule list as the writer walks it: (rule, first segment, the other segments, target, the plain leaf
    path its value goes to or None, whether it is a required field :meth:`_Writer.missing` checks), once per
    compiled list (cached by identity like :func:`field_plan`)."""
    key = (id(rules), ns)
    found = _STEPS.get(key)
    if found is None or found[0] is not rules:
        if len(_STEPS) >= _PLANS_MAX:
            _STEPS.clear()
        checked = {id(rule) for rule in checked_rules(rules) if isinstance(rule, FieldRule)}
        found = _STEPS[key] = (rules, [
            (rule, rule.segments[0], rule.segments[1:], rule.target,
             field_plan(rule, ns).leaf if isinstance(rule, FieldRule) else None, id(rule) in checked)
            for rule in rules])
    return found[1]


Checked = list[tuple[tuple[str, ...], "list[Rule] | None", str]]
"""A rule list's required rules as (segments, the group's own rules or None for a field, target)."""


Trie = dict[str, Any]
"""The canonical paths a rule list writes, by segment: ``True`` for a field's own path, a ``Trie`` for a nested
model (or ``extra``), a 1-tuple ``(Trie,)`` for a group's items."""


def trie_of(rules: list[Rule]) -> Trie:
    """The paths ``rules`` (and their groups' rules) can place: what the unplaced scan counts instead of naming."""
    out: Trie = {}
    for rule in rules:
        node = out
        for segment in rule.segments[:-1]:
            node = node.setdefault(segment, {})
        node[rule.segments[-1]] = (trie_of(rule.rules),) if isinstance(rule, GroupRule) else True
    return out


class MappingPlan:
    """Everything the writer looks up while it writes one message with a mapping, kept with the mapping: the
    root element's tag, namespaces and attributes, and the plans of its rule lists, groups and fields by the
    identity of the mapping's own objects (an int key; the global caches hash the namespaces tuple on each of
    the ~30 look-ups a message). Its entries hold the mapping, so the rules they are keyed by stay alive."""

    __slots__ = ("checked_", "fields", "groups", "mapping", "ns", "nsmap", "others_", "root_attributes", "scan",
                 "steps_", "tag", "trie")

    def __init__(self, mapping: Compiled) -> None:
        self.mapping = mapping
        self.ns: Namespaces = tuple(sorted(mapping.namespaces.items()))
        match = mapping.match
        self.tag = f"{{{match.namespace}}}{match.root}" if match.namespace else match.root
        self.nsmap = {prefix: uri for prefix, uri in mapping.namespaces.items() if prefix}
        attributes = []
        for path, expected in match.xpath:  # match: {xpath: {"@berichtcode": "414"}} -> said on the root
            name = path.expr.strip()
            if expected is not None and name.startswith("@") and STEP.match(name[1:]) and ":" not in name:
                attributes.append((name[1:], expected))
        self.root_attributes = tuple(attributes)
        self.steps_: dict[int, Steps] = {}
        self.checked_: dict[int, Checked] = {}
        self.groups: dict[int, GroupPlan] = {}
        self.fields: dict[int, FieldPlan] = {}
        self.trie = trie_of(mapping.rules)
        self.others_: dict[tuple[type, int], list[tuple[str, Any]]] = {}
        self.scan: Callable[[BaseModel, list[str]], None] | None = None
        """The unplaced scan generated for this plan (gateway.mapping.others_code), made on first use."""

    def steps(self, rules: list[Rule]) -> Steps:
        found = self.steps_.get(id(rules))
        if found is None:
            found = self.steps_[id(rules)] = steps_of(rules, self.ns)
        return found

    def checked(self, rules: list[Rule]) -> Checked:
        found = self.checked_.get(id(rules))
        if found is None:
            found = self.checked_[id(rules)] = [
                (rule.segments, rule.rules if isinstance(rule, GroupRule) else None, rule.target)
                for rule in checked_rules(rules)]
        return found

    def group(self, rule: GroupRule) -> GroupPlan:
        found = self.groups.get(id(rule))
        if found is None:
            found = self.groups[id(rule)] = group_plan(rule, self.ns)
        return found

    def others(self, model: type[BaseModel], trie: Trie) -> list[tuple[str, Any]]:
        """The fields of ``model`` in its order that the unplaced scan looks at, with their node of ``trie``
        (one of this plan's): None for a field no rule writes, a node for one with rules below it. A rule's own
        field (``True``) is left out."""
        key = (model, id(trie))
        found = self.others_.get(key)
        if found is None:
            found = self.others_[key] = [(name, trie.get(name)) for name in model.model_fields
                                         if trie.get(name) is not True]
        return found

    def field(self, rule: FieldRule) -> FieldPlan:
        found = self.fields.get(id(rule))
        if found is None:
            found = self.fields[id(rule)] = field_plan(rule, self.ns)
        return found


_MAPPINGS: dict[int, MappingPlan] = {}


def mapping_plan(mapping: Compiled) -> MappingPlan:
    """The plan of ``mapping``, cached by identity like :func:`field_plan` (a reload compiles new mappings)."""
    found = _MAPPINGS.get(id(mapping))
    if found is None or found.mapping is not mapping:
        if len(_MAPPINGS) >= 1024:
            _MAPPINGS.clear()
        found = _MAPPINGS[id(mapping)] = MappingPlan(mapping)
    return found
