"""Run a mapping file backwards: canonical model -> the vendor's dialect.

During a gradual migration a receiver may still speak the old dialect, so canonical messages must
be turned back into it through the *same* mapping file. Each rule writes its value at its source
path (elements are created in rule order, which is the author's order), value maps are inverted
and transforms run their declared reverse. Rules that cannot run backwards (a transform without a
reverse, an XPath that is not a plain path, a value map that folds several codes into one) are
reported, as are canonical values no rule can place (also a value other than a rule's constant), so
nothing is lost silently. In an ``a | b`` group a rule that reads the element's own name (``local-name()``
through a value map, as the 317 product groups do) chooses the alternative each item is written to.
Besides plain child paths a rule may write ``.`` (the element's own text), a final ``@attribute``, and
``following-sibling::*[1][self::A or self::B]`` (the field that follows item i of an ``A | B`` group in a
flat record, as the EI telephone pairs do); ``split`` + ``index`` rules that share one source element
are joined back into it, and a transform that only normalises (upper, lower, replace) is written back
as is when the canonical value is already in its normal form.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from gateway.model import Bericht

from . import transforms as tf
from .compiler import _STEP, Compiled, FieldRule, GroupRule, Rule, shared_slot
from .errors import ConversionError
from .lighttree import Node, serialise, sub, to_lxml


@dataclass(slots=True)
class Reversed:
    """The result of a reverse run: the dialect message and what could not be written. The message is built
    as a light tree (gateway.mapping.lighttree); ``root`` is it as lxml elements, made on first use."""

    tree: Node
    nsmap: dict[str, str]
    one_way: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)
    _root: etree._Element | None = None

    @property
    def root(self) -> etree._Element:
        if self._root is None:
            self._root = to_lxml(self.tree, self.nsmap)
        return self._root

    def tostring(self) -> bytes:
        """The message as lxml's pretty print writes it (the light serialiser, or lxml where it is unsure)."""
        text = serialise(self.tree, self.nsmap) if self._root is None else None
        if text is None:
            text = etree.tostring(self.root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
        return text


def _text(value: Any) -> str:
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


Namespaces = tuple[tuple[str, str], ...]
"""A mapping's prefixes as a hashable key, so each path is parsed once per process, not once per message."""


@functools.lru_cache(maxsize=8192)
def _simple_tags(expr: str, namespaces: Namespaces) -> tuple[str, ...] | None:
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
        m = _STEP.match(step[1:] if attribute else step)
        if m is None:
            return None
        prefix, local = m.group(1), m.group(2)
        if prefix is not None and prefix not in ns:
            return None
        tags.append(("@" if attribute else "") + (f"{{{ns[prefix]}}}{local}" if prefix else local))
    return tuple(tags)


@dataclass(frozen=True, slots=True)
class _Sibling:
    """``following-sibling::*[1][self::A or self::B]``: written as the element right after the group item,
    named after the item's alternative (``Landnummer01`` follows ``Telefoonnummer01``)."""

    tags: tuple[str, ...]


_NEXT_SIBLING = re.compile(r"following-sibling::\*\[1\]\[(self::[\w.:-]+(?:\s+or\s+self::[\w.:-]+)*)\]")


@functools.lru_cache(maxsize=1024)
def _next_sibling(expr: str, namespaces: Namespaces) -> _Sibling | None:
    m = _NEXT_SIBLING.fullmatch(expr.strip())
    if m is None:
        return None
    names = [_simple_tags(part.strip()[len("self::"):], namespaces) for part in re.split(r"\s+or\s+", m.group(1))]
    if any(n is None or len(n) != 1 or n[0].startswith("@") for n in names):
        return None
    return _Sibling(tuple(n[0] for n in names if n))


_EQUALS = re.compile(r"\s*([^\s=!<>'\[\]()]+)\s*=\s*'([^']*)'\s*")


@functools.lru_cache(maxsize=1024)
def _condition(expr: str, namespaces: Namespaces) -> tuple[tuple[str, ...], str] | None:
    """``when: "Status = 'ingetrokken'"`` as (path, text): the reverse writes it so the rule reads back."""
    m = _EQUALS.fullmatch(expr)
    tags = _simple_tags(m.group(1), namespaces) if m else None
    return (tags, m.group(2)) if m and tags else None


Target = tuple[str, ...] | _Sibling
"""Where a rule's value goes: a child path (``()`` is the element itself) or the item's next sibling."""


def _alternatives(expr: str, ns: Namespaces) -> list[tuple[str, ...]] | None:
    """``a/b | a/c`` -> the plain element paths it unites (item i of a group goes to alternative i)."""
    parts = [_simple_tags(p.strip(), ns) for p in expr.split("|")]
    if any(p is None or (p and p[-1].startswith("@")) for p in parts):
        return None
    return [p for p in parts if p is not None]


def _ensure(parent: Node, tags: tuple[str, ...]) -> Node:
    """The element at ``tags`` below ``parent``, reusing the last existing child of each step."""
    node = parent
    for tag in tags:
        node = node.last.get(tag) or sub(node, tag)
    return node


class _NotNormal(Exception):
    """The canonical value is not a fixed point of a normalising transform: written as is, it would read back
    as something else."""


Step = tuple[tf.Transform, Any, tuple[str, Any] | None]
"""One transform run backwards: (transform, its argument, its declared inverse (name, argument) or None)."""


def _reverse_value(value: Any, table: dict[str, str] | None, steps: tuple[Step, ...]) -> Any:
    """Canonical value -> source text, through the reversed value map ``table`` and ``steps`` (the rule's
    transforms backwards, last first)."""
    out: Any = [_text(v) for v in value] if isinstance(value, list) else _text(value)
    if table is not None:
        out = [table.get(v, v) for v in out] if isinstance(out, list) else table.get(out, out)
    for transform, arg, inverse in steps:
        if inverse is None:
            if transform.normalises and transform.apply(out, arg) != out:
                raise _NotNormal(transform.name)
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
    tags = _simple_tags(expr, ns)
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
class _FieldPlan:
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


def _plan(rule: FieldRule, ns: Namespaces) -> _FieldPlan:
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
    return _FieldPlan(rule, reason, paths, slot, table, steps, condition, leaf)


_PLANS: dict[tuple[int, Namespaces], _FieldPlan] = {}
_PLANS_MAX = 50_000


def _field_plan(rule: FieldRule, ns: Namespaces) -> _FieldPlan:
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


def _group_plan(rule: GroupRule, ns: Namespaces) -> GroupPlan:
    """(rule, the element paths its items go to, the rule naming each item's alternative with its reversed
    map, the alternatives' local names): once per compiled group, cached by identity like :func:`_field_plan`."""
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


def _checked(rules: list[Rule]) -> list[Rule]:
    """The rules of a list that :meth:`_Writer.missing` looks at: groups, and required fields without a
    constant or default (cached by the list's identity)."""
    found = _CHECKED.get(id(rules))
    if found is None or found[0] is not rules:
        if len(_CHECKED) >= _PLANS_MAX:
            _CHECKED.clear()
        found = _CHECKED[id(rules)] = (rules, [r for r in rules if isinstance(r, GroupRule) or (
            r.required and r.constant is None and r.default is None)])
    return found[1]


Steps = list[tuple[Rule, str, tuple[str, ...], str, tuple[tuple[str, ...], str] | None]]
_STEPS: dict[tuple[int, Namespaces], tuple[list[Rule], Steps]] = {}


def _steps(rules: list[Rule], ns: Namespaces) -> Steps:
    """A rule list as the writer walks it: (rule, first segment, the other segments, target, the plain leaf
    path its value goes to or None), once per compiled list (cached by identity like :func:`_field_plan`)."""
    key = (id(rules), ns)
    found = _STEPS.get(key)
    if found is None or found[0] is not rules:
        if len(_STEPS) >= _PLANS_MAX:
            _STEPS.clear()
        found = _STEPS[key] = (rules, [
            (rule, rule.segments[0], rule.segments[1:], rule.target,
             _field_plan(rule, ns).leaf if isinstance(rule, FieldRule) else None) for rule in rules])
    return found[1]


class _Writer:
    def __init__(self, mapping: Compiled) -> None:
        self.mapping = mapping
        self.ns: Namespaces = tuple(sorted(mapping.namespaces.items()))
        self.one_way: list[str] = []
        self.placed: set[str] = set()
        self.alternative = 0  # which alternative of an ``a | b`` group the item being written went to
        self.slots: dict[tuple[Node, tuple[str, ...]], tuple[Node, list[str]]] = {}
        self.leaves: dict[tuple[Node, str], tuple[Node, str]] = {}
        """Leaf elements and attributes written so far, by (holder, tag) -> (element, the rule that wrote it):
        a second rule that reads the same element (or a ``when:`` that names it) shares it, never repeats it."""

    def rules(self, rules: list[Rule], data: dict[str, Any], parent: Node, prefix: str,
              implied: str | None = None) -> None:
        """Write ``data`` below ``parent``; the rule targeting ``implied`` is said by the element's name."""
        placed = self.placed
        for rule, first, rest, target, leaf in _steps(rules, self.ns):
            value: Any = data.get(first)
            for segment in rest:
                value = value.get(segment) if isinstance(value, dict) else None
                if value is None:
                    break
            if value is None or (not value and isinstance(value, list | dict)):
                continue
            where = prefix + target
            if target == implied:
                placed.add(where)
            elif leaf is not None and not isinstance(value, list):  # the common case: one text at one path
                if self.leaf(parent, leaf[0], leaf[1], value if type(value) is str else _text(value), where):
                    placed.add(where)
            elif isinstance(rule, GroupRule):
                self.group(rule, value, parent, where)
            else:
                self.field(rule, value, parent, where)

    def group(self, rule: GroupRule, items: list[dict[str, Any]], parent: Node, where: str) -> None:
        _, alternatives, chooser, locals_ = _group_plan(rule, self.ns)
        if not alternatives or (len(alternatives) > 1 and not all(alternatives)):
            self.one_way.append(f"{where} (each: {rule.each.expr!r} is not a plain element path)")
            return
        if chooser is not None:
            named, table = chooser
            chosen: list[tuple[int, int]] = []  # (alternative, item): the XSD order of the groups, items in turn
            for i, item in enumerate(items):
                local = table.get(_text(item.get(named.target, "")))
                if local not in locals_:
                    raise ConversionError(f"{where}.{i}.{named.target}: its value names no element of "
                                          f"{rule.each.expr!r}", field=f"{where}.{i}.{named.target}")
                chosen.append((locals_.index(local), i))
            order = sorted(chosen)
        elif len(alternatives) > 1 or not alternatives[0]:  # a | b, or '.' (the element itself: room for one)
            if len(items) > len(alternatives):
                raise ConversionError(f"{len(items)} items, but {rule.each.expr!r} has room for "
                                      f"{len(alternatives)}", field=where)
            order = [(i, i) for i in range(len(items))]  # a | b: item i -> alternative i
        else:
            order = [(0, i) for i in range(len(items))]
        outer = self.alternative
        for alternative, i in order:
            tags = alternatives[alternative]
            element = sub(_ensure(parent, tags[:-1]), tags[-1]) if tags else parent
            self.placed.add(f"{where}.{i}")
            self.alternative = alternative
            self.rules(rule.rules, items[i], element, f"{where}.{i}.", chooser[0].target if chooser else None)
        self.alternative = outer

    def missing(self, rules: list[Rule], data: dict[str, Any], prefix: str) -> list[str]:
        """Required rules the canonical message has no value for (the dialect could not be valid)."""
        out: list[str] = []
        for rule in _checked(rules):
            value: Any = data
            for segment in rule.segments:
                value = value.get(segment) if isinstance(value, dict) else None
            if isinstance(rule, GroupRule):
                for i, item in enumerate(value or []):
                    out += self.missing(rule.rules, item, f"{prefix}{rule.target}.{i}.")
            elif rule.required and rule.constant is None and rule.default is None and value in (None, [], ""):
                out.append(prefix + rule.target)
        return out

    def field(self, rule: FieldRule, value: Any, parent: Node, where: str) -> None:
        plan = _field_plan(rule, self.ns)
        if rule.constant is not None:
            if _text(value) == rule.constant:  # implied by the dialect itself (wet, soort, leveringsvorm)
                self.placed.add(where)
            return  # another value (leveringsvorm PGB) is not what this dialect can say: left unplaced
        reason, paths, slot = plan.reason, plan.paths, plan.slot
        if reason is not None:
            self.one_way.append(f"{where} ({reason})")
            if not reason.startswith("value map"):
                return
        try:
            text = _reverse_value(value, plan.table, plan.steps)
        except tf.TransformError as exc:
            raise ConversionError(f"cannot write {where} back: {exc}", field=where) from None
        except _NotNormal as exc:
            self.one_way.append(f"{where} ({exc} would change {_text(value)!r}: not its normal form)")
            return
        if slot is not None:
            self.part(parent, paths[0], slot, text)
            self.placed.add(where)
            return
        if len(paths) > 1:
            parts = text if isinstance(text, list) else [text]
            if len(parts) > len(paths):
                raise ConversionError(f"{where}: {len(parts)} parts for {len(paths)} paths", field=where)
            pairs = list(zip(paths, parts, strict=False))  # paths without join: the values found, in order
        elif isinstance(text, list):
            pairs = [(paths[0], part) for part in text]
        else:
            pairs = [(paths[0], text)]
        written = [self.write(parent, target, part, where) for target, part in pairs]
        if plan.condition is not None:
            tags, literal = plan.condition
            if not any(e.text == literal for e in parent.iterfind(tags)):
                self.write(parent, tags, literal, f"{where} (when)")
        if all(written):
            self.placed.add(where)

    def write(self, parent: Node, target: Target | None, text: str, where: str) -> bool:
        """Write ``text`` at ``target``; False when another rule already wrote another value there (this
        value is then left unplaced: one element cannot say both)."""
        if target is None:  # never a bare AssertionError: say which rule cannot run backwards
            raise ConversionError(f"cannot write {where} back: its source path is not a plain element or final "
                                  "@attribute path (mapping check lists it as one-way)", field=where)
        if isinstance(target, tuple) and target:
            return self.leaf(parent, target[:-1], target[-1], text, where)
        if isinstance(target, _Sibling):
            names = target.tags
            if len(names) > 1 and self.alternative >= len(names):
                raise ConversionError(f"{where}: no sibling name for alternative {self.alternative + 1}", field=where)
            sibling = Node(names[self.alternative if len(names) > 1 else 0])
            sibling.text = text
            parent.addnext(sibling)
        else:  # the element itself (``.``)
            parent.text = text
        return True

    def leaf(self, parent: Node, head: tuple[str, ...], last: str, text: str, where: str) -> bool:
        """Write ``text`` at the plain path ``head/last`` (``last`` may be ``@attribute``); see :meth:`write`."""
        holder = _ensure(parent, head) if head else parent
        key = (holder, last)
        known = self.leaves.get(key)
        if known is not None and known[1] != where:  # a second rule (or a when:) reading the same element
            element = known[0]
            current = element.get(last[1:]) if last[0] == "@" else element.text
            return current == text
        if last[0] == "@":
            holder.set(last[1:], text)
            element = holder
        else:
            element = sub(holder, last)
            element.text = text
        self.leaves[key] = (element, where)
        return True

    def part(self, parent: Node, target: Target | None, slot: tuple[str, int], text: str) -> None:
        """Part ``index`` of the source element that several ``split`` + ``index`` rules share."""
        if not isinstance(target, tuple) or not target:
            raise ConversionError("cannot write a split part back: its source path is not a plain element or "
                                  "@attribute path", field="split")
        sep, index = slot
        key = (parent, target)
        attribute = target[-1].startswith("@")
        if key not in self.slots:
            holder = _ensure(parent, target[:-1])
            self.slots[key] = (holder if attribute else sub(holder, target[-1]), [])
        element, parts = self.slots[key]
        parts += [""] * (index + 1 - len(parts))
        parts[index] = text
        if attribute:
            element.set(target[-1][1:], sep.join(parts))
        else:
            element.text = sep.join(parts)


def _leaves(data: dict[str, Any], prefix: str, out: list[str]) -> list[str]:
    """The canonical path of every value in ``data`` (a list of plain values is one leaf, each ``extra`` name
    one), appended to ``out``."""
    for key, value in data.items():
        if isinstance(value, dict):
            if key == "extra":
                out += [f"{prefix}extra.{name}" for name in value]
            else:
                _leaves(value, f"{prefix}{key}.", out)
        elif isinstance(value, list):
            if value and not isinstance(value[0], dict):
                out.append(prefix + key)
                continue
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    _leaves(item, f"{prefix}{key}.{i}.", out)
                else:
                    out.append(f"{prefix}{key}.{i}")
        else:
            out.append(prefix + key)
    return out


def unmap(mapping: Compiled, bericht: Bericht) -> Reversed:
    """Write ``bericht`` in the dialect of ``mapping``; report one-way rules and unplaceable values."""
    if not mapping.match.root:
        raise ConversionError(f"mapping {mapping.name!r} has no match.root, so its root element is unknown",
                              field="match.root")
    tag = f"{{{mapping.match.namespace}}}{mapping.match.root}" if mapping.match.namespace else mapping.match.root
    nsmap = {prefix: uri for prefix, uri in mapping.namespaces.items() if prefix}
    root = Node(tag)
    for path, expected in mapping.match.xpath:  # match: {xpath: {"@berichtcode": "414"}} -> said on the root
        name = path.expr.strip()
        if expected is not None and name.startswith("@") and _STEP.match(name[1:]) and ":" not in name:
            root.set(name[1:], expected)
    soort = mapping.top_rule("soort")
    if soort is not None and soort.constant is not None and soort.constant != bericht.soort:
        raise ConversionError(f"mapping {mapping.name!r} writes {soort.constant} messages; this message is a "
                              f"{bericht.soort}", field="soort")
    if mapping.versie and bericht.versie != mapping.versie:
        bericht = bericht.model_copy(update={"versie": mapping.versie})  # written in the target's version
    writer = _Writer(mapping)
    data = bericht.model_dump(exclude_none=True)
    missing = writer.missing(mapping.rules, data, "")
    if missing:
        raise ConversionError(
            f"the canonical message lacks what {mapping.name} requires: {', '.join(missing)}",
            field=missing[0], code="StUF055")
    writer.rules(mapping.rules, data, root, "")  # type: ignore[arg-type]
    unplaced = [leaf for leaf in _leaves(data, "", []) if leaf not in writer.placed]
    return Reversed(root, nsmap, sorted(set(writer.one_way)), unplaced)
