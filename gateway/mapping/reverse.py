"""Run a mapping file backwards: canonical model -> the vendor's dialect.

During a gradual migration a receiver may still speak the old dialect, so canonical messages must
be turned back into it through the *same* mapping file. Each rule writes its value at its source
path (elements are created in rule order, which is the author's order), value maps are inverted
and transforms run their declared reverse. Rules that cannot run backwards (a transform without a
reverse, an XPath that is not a plain path, a value map that folds several codes into one) are
reported, as are canonical values no rule can place (also a value other than a rule's constant), so
nothing is lost silently. In an ``a | b`` group a rule that reads the element's own name (``local-name()``
through a value map, as the 317 product groups do) chooses the alternative each item is written to.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from gateway.model import Bericht

from . import transforms as tf
from .compiler import _STEP, Compiled, FieldRule, GroupRule, Rule
from .errors import ConversionError


@dataclass(slots=True)
class Reversed:
    """The result of a reverse run: the dialect message and what could not be written."""

    root: etree._Element
    one_way: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)

    def tostring(self) -> bytes:
        return etree.tostring(self.root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _text(value: Any) -> str:
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


Namespaces = tuple[tuple[str, str], ...]
"""A mapping's prefixes as a hashable key, so each path is parsed once per process, not once per message."""


@functools.lru_cache(maxsize=8192)
def _simple_tags(expr: str, namespaces: Namespaces) -> tuple[str, ...] | None:
    """``m:Omvang/i:Volume`` as Clark tags; None for anything but a plain child path."""
    ns = dict(namespaces)
    steps = expr[2:].split("/") if expr.startswith("./") else expr.split("/")
    tags: list[str] = []
    for step in steps:
        m = _STEP.match(step.strip())
        if m is None:
            return None
        prefix, local = m.group(1), m.group(2)
        if prefix is not None and prefix not in ns:
            return None
        tags.append(f"{{{ns[prefix]}}}{local}" if prefix else local)
    return tuple(tags)


def _alternatives(expr: str, ns: Namespaces) -> list[tuple[str, ...]] | None:
    """``a/b | a/c`` -> the plain paths it unites (item i of a group goes to alternative i)."""
    parts = [_simple_tags(p.strip(), ns) for p in expr.split("|")]
    if any(p is None for p in parts):
        return None
    return [p for p in parts if p is not None]


def _ensure(parent: etree._Element, tags: tuple[str, ...]) -> etree._Element:
    """The element at ``tags`` below ``parent``, reusing the last existing child of each step."""
    node = parent
    for tag in tags:
        existing = None
        for child in reversed(node):
            if child.tag == tag:
                existing = child
                break
        node = existing if existing is not None else etree.SubElement(node, tag)
    return node


def _reverse_value(rule: FieldRule, value: Any) -> Any:
    """Canonical value -> source text, running value map and transforms backwards."""
    out: Any = [_text(v) for v in value] if isinstance(value, list) else _text(value)
    vmap = rule.value_map
    if vmap is not None:
        table = vmap.reverse_table()
        out = [table.get(v, v) for v in out] if isinstance(out, list) else table.get(out, out)
    for transform, arg in reversed(rule.transforms):
        assert transform.reverse is not None
        inverse = transform.reverse(arg)
        if inverse is None:
            continue  # the transform is its own inverse on canonical values (trim)
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


def _one_way(rule: FieldRule, ns: Namespaces) -> str | None:
    if any(t.reverse is None for t, _ in rule.transforms):
        return "transform without a reverse: " + ", ".join(t.name for t, _ in rule.transforms if t.reverse is None)
    if rule.value_map is not None and not rule.value_map.lossless:
        return f"value map {rule.value_map.name} maps several codes onto one (the first is written back)"
    if any(_simple_tags(p.expr, ns) is None for p in rule.paths):
        return "not a plain element path"
    return None


_PLANS: dict[tuple[int, Namespaces], tuple[FieldRule, str | None, list[tuple[str, ...] | None]]] = {}
_PLANS_MAX = 50_000


def _field_plan(rule: FieldRule, ns: Namespaces) -> tuple[str | None, list[tuple[str, ...] | None]]:
    """Why ``rule`` is one-way (or None) and its paths as tags, worked out once per compiled rule rather
    than once per message. Keyed by identity; the entry holds the rule, so the key is never reused."""
    key = (id(rule), ns)
    found = _PLANS.get(key)
    if found is None or found[0] is not rule:
        if len(_PLANS) >= _PLANS_MAX:  # reloads compile new rules; keep the cache bounded
            _PLANS.clear()
        found = _PLANS[key] = (rule, _one_way(rule, ns), [_simple_tags(p.expr, ns) for p in rule.paths])
    return found[1], found[2]


class _Writer:
    def __init__(self, mapping: Compiled) -> None:
        self.mapping = mapping
        self.ns: Namespaces = tuple(sorted(mapping.namespaces.items()))
        self.one_way: list[str] = []
        self.placed: set[str] = set()

    def rules(self, rules: list[Rule], data: dict[str, Any], parent: etree._Element, prefix: str,
              implied: str | None = None) -> None:
        """Write ``data`` below ``parent``; the rule targeting ``implied`` is said by the element's name."""
        for rule in rules:
            value: Any = data
            for segment in rule.segments:
                value = value.get(segment) if isinstance(value, dict) else None
                if value is None:
                    break
            if value is None or value == [] or value == {}:
                continue
            where = prefix + rule.target
            if rule.target == implied:
                self.placed.add(where)
            elif isinstance(rule, GroupRule):
                self.group(rule, value, parent, where)
            else:
                self.field(rule, value, parent, where)

    def group(self, rule: GroupRule, items: list[dict[str, Any]], parent: etree._Element, where: str) -> None:
        plain = rule.each.tags
        alternatives = [plain] if plain is not None else _alternatives(rule.each.expr, self.ns) or []
        if not alternatives or not all(alternatives):
            self.one_way.append(f"{where} (each: {rule.each.expr!r} is not a plain element path)")
            return
        chooser = _discriminator(rule) if len(alternatives) > 1 else None
        if chooser is not None:
            named, table = chooser
            locals_ = [etree.QName(tags[-1]).localname for tags in alternatives]
            chosen: list[tuple[int, int]] = []  # (alternative, item): the XSD order of the groups, items in turn
            for i, item in enumerate(items):
                local = table.get(_text(item.get(named.target, "")))
                if local not in locals_:
                    raise ConversionError(f"{where}.{i}.{named.target}: its value names no element of "
                                          f"{rule.each.expr!r}", field=f"{where}.{i}.{named.target}")
                chosen.append((locals_.index(local), i))
            order = sorted(chosen)
        elif len(alternatives) > 1:
            if len(items) > len(alternatives):
                raise ConversionError(f"{len(items)} items, but {rule.each.expr!r} has room for "
                                      f"{len(alternatives)}", field=where)
            order = [(i, i) for i in range(len(items))]  # a | b: item i -> alternative i
        else:
            order = [(0, i) for i in range(len(items))]
        for alternative, i in order:
            tags = alternatives[alternative]
            container = _ensure(parent, tags[:-1])
            element = etree.SubElement(container, tags[-1])
            self.placed.add(f"{where}.{i}")
            self.rules(rule.rules, items[i], element, f"{where}.{i}.", chooser[0].target if chooser else None)

    def missing(self, rules: list[Rule], data: dict[str, Any], prefix: str) -> list[str]:
        """Required rules the canonical message has no value for (the dialect could not be valid)."""
        out: list[str] = []
        for rule in rules:
            value: Any = data
            for segment in rule.segments:
                value = value.get(segment) if isinstance(value, dict) else None
            if isinstance(rule, GroupRule):
                for i, item in enumerate(value or []):
                    out += self.missing(rule.rules, item, f"{prefix}{rule.target}.{i}.")
            elif rule.required and rule.constant is None and rule.default is None and value in (None, [], ""):
                out.append(prefix + rule.target)
        return out

    def field(self, rule: FieldRule, value: Any, parent: etree._Element, where: str) -> None:
        if rule.constant is not None:
            if _text(value) == rule.constant:  # implied by the dialect itself (wet, soort, leveringsvorm)
                self.placed.add(where)
            return  # another value (leveringsvorm PGB) is not what this dialect can say: left unplaced
        reason, paths = _field_plan(rule, self.ns)
        if reason is not None and not reason.startswith("value map"):
            self.one_way.append(f"{where} ({reason})")
            return
        if reason is not None:
            self.one_way.append(f"{where} ({reason})")
        try:
            text = _reverse_value(rule, value)
        except tf.TransformError as exc:
            raise ConversionError(f"cannot write {where} back: {exc}", field=where) from None
        if len(paths) > 1:
            parts = text if isinstance(text, list) else [text]
            if len(parts) != len(paths):
                raise ConversionError(f"{where}: {len(parts)} parts for {len(paths)} paths", field=where)
            pairs = list(zip(paths, parts, strict=True))
        elif isinstance(text, list):
            pairs = [(paths[0], part) for part in text]
        else:
            pairs = [(paths[0], text)]
        for tags, part in pairs:
            assert tags is not None
            if not tags:
                parent.text = part
                continue
            container = _ensure(parent, tags[:-1])
            etree.SubElement(container, tags[-1]).text = part
        self.placed.add(where)


def _leaves(data: Any, prefix: str) -> list[str]:
    if isinstance(data, dict):
        out: list[str] = []
        for key, value in data.items():
            if key == "extra" and isinstance(value, dict):
                out += [f"{prefix}extra.{name}" for name in value]
            else:
                out += _leaves(value, f"{prefix}{key}.")
        return out
    if isinstance(data, list):
        if data and not isinstance(data[0], dict):
            return [prefix[:-1]]
        return [leaf for i, item in enumerate(data) for leaf in _leaves(item, f"{prefix}{i}.")]
    return [prefix[:-1]]


def unmap(mapping: Compiled, bericht: Bericht) -> Reversed:
    """Write ``bericht`` in the dialect of ``mapping``; report one-way rules and unplaceable values."""
    if not mapping.match.root:
        raise ConversionError(f"mapping {mapping.name!r} has no match.root, so its root element is unknown",
                              field="match.root")
    tag = f"{{{mapping.match.namespace}}}{mapping.match.root}" if mapping.match.namespace else mapping.match.root
    nsmap = {prefix: uri for prefix, uri in mapping.namespaces.items() if prefix}
    root = etree.Element(tag, nsmap=nsmap)
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
    unplaced = [leaf for leaf in _leaves(data, "") if leaf not in writer.placed]
    return Reversed(root, sorted(set(writer.one_way)), unplaced)
