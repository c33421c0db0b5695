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

from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from pydantic import BaseModel

from gateway.model import Bericht

from . import transforms as tf
from .errors import ConversionError
from .lighttree import Node, insert_after, serialise, sub, to_lxml
from .others_code import made
from .privacy import named
from .reverse_plan import (
    MappingPlan,
    NotNormal,
    Sibling,
    Target,
    Trie,
    mapping_plan,
    reverse_value,
    text_of,
)
from .reverse_text import Unfit, text_plan, write
from .rules import Compiled, FieldRule, GroupRule, Rule


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


def _ensure(parent: Node, tags: tuple[str, ...]) -> Node:
    """The element at ``tags`` below ``parent``, reusing the last existing child of each step."""
    node = parent
    for tag in tags:
        node = node.last.get(tag) or sub(node, tag)
    return node



class _Writer:
    def __init__(self, plan: MappingPlan) -> None:
        self.plan = plan
        self.one_way: list[str] = []
        self.placed: set[str] = set()
        self.alternative = 0  # which alternative of an ``a | b`` group the item being written went to
        self.slots: dict[tuple[Node, tuple[str, ...]], tuple[Node, list[str]]] = {}
        self.up: dict[int, Node] = {}
        """The parent of each group item element by id (the nodes have no parent pointer; the tree holds them)."""
        self.leaves: dict[tuple[Node, str], tuple[Node, str]] = {}
        """Leaf elements and attributes written so far, by (holder, tag) -> (element, the rule that wrote it):
        a second rule that reads the same element (or a ``when:`` that names it) shares it, never repeats it."""
        self.items = 0
        """Group items in ``placed`` (the rest of it are values)."""
        self.seen = 0
        """Values the rules found (at a field's path); all placed when ``seen`` is the number of values placed."""
        self.partial = False
        """A group's items were not walked: the unplaced scan cannot trust ``seen``."""
        self.lacking = False
        """A required value looked empty while writing: :meth:`missing` may find something (it says what)."""

    def rules(self, rules: list[Rule], data: BaseModel, parent: Node, prefix: str,
              implied: str | None = None) -> None:
        """Write ``data`` below ``parent``; the rule targeting ``implied`` is said by the element's name."""
        placed = self.placed
        fields = data.__dict__  # read as they stand: the compiler lets a rule name only a field (or extra.NAME)
        for rule, first, rest, target, leaf, required in self.plan.steps(rules):
            value: Any = fields.get(first)
            for segment in rest:  # through nested models to a field, or into extra (what the compiler allows)
                if value is None:
                    break
                value = value.get(segment) if type(value) is dict else value.__dict__.get(segment)
            if required and not value:  # the writer's walk stands in for missing()'s own: see unmap
                self.lacking = True
            if value is None or (not value and isinstance(value, list | dict)):
                continue
            self.seen += 1
            where = prefix + target
            if target == implied:
                placed.add(where)
            elif leaf is not None and not isinstance(value, list):  # the common case: one text at one path
                if self.leaf(parent, leaf[0], leaf[1], value if type(value) is str else text_of(value), where):
                    placed.add(where)
            elif isinstance(rule, GroupRule):
                self.group(rule, value, parent, where)
            else:
                self.field(rule, value, parent, where)

    def group(self, rule: GroupRule, items: list[BaseModel], parent: Node, where: str) -> None:
        self.seen -= 1  # a group is no value of its own: its items' values are counted as they are written
        _, alternatives, chooser, locals_ = self.plan.group(rule)
        if not alternatives or (len(alternatives) > 1 and not all(alternatives)):
            self.one_way.append(f"{where} (each: {rule.each.expr!r} is not a plain element path)")
            self.lacking = self.partial = True  # its items are not walked: missing() and the unplaced scan look
            return
        if chooser is not None:
            named, table = chooser
            chosen: list[tuple[int, int]] = []  # (alternative, item): the XSD order of the groups, items in turn
            for i, item in enumerate(items):
                said = item.__dict__.get(named.target)
                local = table.get(text_of("" if said is None else said))
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
            if tags:
                holder = _ensure(parent, tags[:-1])
                element = sub(holder, tags[-1])
                self.up[id(element)] = holder
            else:
                element = parent
            self.placed.add(f"{where}.{i}")
            self.items += 1
            self.alternative = alternative
            self.rules(rule.rules, items[i], element, f"{where}.{i}.", chooser[0].target if chooser else None)
        self.alternative = outer

    def missing(self, rules: list[Rule], data: BaseModel, prefix: str) -> list[str]:
        """Required rules the canonical message has no value for (the dialect could not be valid)."""
        out: list[str] = []
        for segments, group, target in self.plan.checked(rules):
            value: Any = data
            for segment in segments:
                value = _field(value, segment)
            if group is not None:
                for i, item in enumerate(value or []):
                    out += self.missing(group, item, f"{prefix}{target}.{i}.")
            elif value in (None, [], ""):
                out.append(prefix + target)
        return out

    def field(self, rule: FieldRule, value: Any, parent: Node, where: str) -> None:
        plan = self.plan.field(rule)
        if rule.constant is not None:
            if text_of(value) == rule.constant:  # implied by the dialect itself (wet, soort, leveringsvorm)
                self.placed.add(where)
            return  # another value (leveringsvorm PGB) is not what this dialect can say: left unplaced
        reason, paths, slot = plan.reason, plan.paths, plan.slot
        if reason is not None:
            self.one_way.append(f"{where} ({reason})")
            if not reason.startswith("value map"):
                return
        try:
            text = reverse_value(value, plan.table, plan.steps)
        except tf.TransformError as exc:
            raise ConversionError(f"cannot write {where} back: {exc}", field=where) from None
        except NotNormal as exc:
            # the value by :func:`.privacy.named` (its shape in a personal field): the note reaches convert's output
            self.one_way.append(f"{where} ({exc} would change {named(where, text_of(value))}: not its normal form)")
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
        if isinstance(target, Sibling):
            names = target.tags
            if len(names) > 1 and self.alternative >= len(names):
                raise ConversionError(f"{where}: no sibling name for alternative {self.alternative + 1}", field=where)
            sibling = Node(names[self.alternative if len(names) > 1 else 0])
            sibling.text = text
            insert_after(self.up.get(id(parent)), parent, sibling)
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


_IS_MODEL: dict[type, bool] = {}
"""Whether a type is a pydantic model, by type: ``isinstance(x, BaseModel)`` goes through ABCMeta (~0.3 us)."""


def _is_model(kind: type) -> bool:
    found = _IS_MODEL.get(kind)
    if found is None:
        found = _IS_MODEL[kind] = issubclass(kind, BaseModel)
    return found


def _field(value: Any, name: str) -> Any:
    """One step into the message: a field of a nested model, a name of ``extra``; None where there is none."""
    if type(value) is dict:
        return value.get(name)
    return value.__dict__.get(name) if _is_model(type(value)) else None


def _leaves(data: BaseModel, prefix: str, out: list[str]) -> list[str]:
    """The canonical path of every value in ``data`` that is not None (a list of plain values is one leaf,
    each ``extra`` name one), appended to ``out``: the paths ``model_dump(exclude_none=True)`` has, in its order."""
    for key, value in data.__dict__.items():
        if value is not None:
            _value_leaves(key, value, prefix, out)
    return out


def _value_leaves(key: str, value: Any, prefix: str, out: list[str]) -> None:
    kind = type(value)
    if kind is str:
        out.append(prefix + key)
    elif kind is list:
        if value and not _is_model(type(value[0])):
            out.append(prefix + key)
            return
        for i, item in enumerate(value):
            if _is_model(type(item)):
                _leaves(item, f"{prefix}{key}.{i}.", out)
            else:
                out.append(f"{prefix}{key}.{i}")
    elif kind is dict:  # extra
        out += [f"{prefix}{key}.{name}" for name in value]
    elif _is_model(kind):
        _leaves(value, f"{prefix}{key}.", out)
    else:
        out.append(prefix + key)


_CONTAINERS = (list, dict)
WETTEN = {"wmo": "Wmo", "jw": "Jeugdwet"}
"""A mapping's ``wet`` by the law's name, for the refusal of a message of the other law."""


def _others(plan: MappingPlan, data: BaseModel, trie: Trie, prefix: str, out: list[str]) -> None:
    """The paths of the values in ``data`` at no path of ``trie`` (no rule can place them), appended to
    ``out`` in the message's order. Values at a rule's own path are not looked at: the writer saw them."""
    fields = data.__dict__
    for key, node in plan.others(type(data), trie):
        value = fields.get(key)
        if value is None:
            continue
        if node is None:
            if value or type(value) not in _CONTAINERS:  # an empty list or extra names nothing
                _value_leaves(key, value, prefix, out)
        elif type(node) is tuple:  # a group's items (models: the compiler allows a group only on a list of them)
            for i, item in enumerate(value):
                _others(plan, item, node[0], f"{prefix}{key}.{i}.", out)
        elif type(value) is dict:  # extra: the names no rule writes
            out += [f"{prefix}{key}.{name}" for name in value if node.get(name) is not True]
        else:
            _others(plan, value, node, f"{prefix}{key}.", out)


def _unplaced(writer: _Writer, data: BaseModel) -> list[str]:
    """The values of ``data`` no rule placed. When the writer placed every value it saw at a rule's path (and
    walked every group's items), only the values at no rule's path are left: just those are named. Else each
    value of the message is looked up among the placed paths."""
    if not writer.partial and writer.seen == len(writer.placed) - writer.items:
        out: list[str] = []
        _others(writer.plan, data, writer.plan.trie, "", out)
        return out
    return [leaf for leaf in _leaves(data, "", []) if leaf not in writer.placed]


def unmap_text(mapping: Compiled, bericht: Bericht) -> tuple[bytes, list[str], list[str]]:
    """``unmap(mapping, bericht)`` as (its ``tostring()``, ``one_way``, ``unplaced``): written in one pass
    straight to text where the mapping and the message allow (gateway.mapping.reverse_text), else by
    :func:`unmap`, which also gives every error."""
    plan = text_plan(mapping) if mapping.match.root else None
    soort = mapping.top_rule("soort") if plan is not None else None
    if plan is not None and (soort is None or soort.constant is None or soort.constant == bericht.soort) \
            and (not mapping.wet or mapping.wet == bericht.wet):
        if mapping.versie and bericht.versie != mapping.versie:
            bericht = bericht.model_copy(update={"versie": mapping.versie})  # as unmap writes it
        try:
            text, one_way = write(plan, bericht)
        except Unfit:
            pass
        else:  # every value the pass met it placed: what is left is at no rule's path (see _unplaced)
            unplaced: list[str] = []
            written = mapping_plan(mapping)
            scan = written.scan
            if scan is None:  # _others, generated for this plan (the same paths in the same order)
                scan = written.scan = made(Bericht, written.trie, written.others, _value_leaves, _others, written)
            scan(bericht, unplaced)
            return text, sorted(set(one_way)), unplaced
    written_tree = unmap(mapping, bericht)
    return written_tree.tostring(), written_tree.one_way, written_tree.unplaced


def unmap(mapping: Compiled, bericht: Bericht) -> Reversed:
    """Write ``bericht`` in the dialect of ``mapping``; report one-way rules and unplaceable values."""
    if not mapping.match.root:
        raise ConversionError(f"mapping {mapping.name!r} has no match.root, so its root element is unknown",
                              field="match.root")
    plan = mapping_plan(mapping)
    root = Node(plan.tag)
    for name, expected in plan.root_attributes:
        root.set(name, expected)
    soort = mapping.top_rule("soort")
    if soort is not None and soort.constant is not None and soort.constant != bericht.soort:
        raise ConversionError(f"mapping {mapping.name!r} writes {soort.constant} messages; this message is a "
                              f"{bericht.soort}", field="soort")
    if mapping.wet and bericht.wet != mapping.wet:  # its BerichtCode and namespace are the other law's
        raise ConversionError(f"mapping {mapping.name!r} writes {WETTEN.get(mapping.wet, mapping.wet)} messages; this "
                              f"message is a {WETTEN.get(bericht.wet, bericht.wet)} {bericht.soort}", field="wet")
    if mapping.versie and bericht.versie != mapping.versie:
        bericht = bericht.model_copy(update={"versie": mapping.versie})  # written in the target's version
    writer = _Writer(plan)
    data = bericht  # the writer reads the model as it stands: no model_dump (a dict of it) to walk instead
    # One walk, not two: the writer notes a required value that looks empty (or a group it does not walk),
    # and only then (or when writing fails) missing() says what lacks, which goes before any writing error.
    try:
        writer.rules(mapping.rules, data, root, "")
    except Exception:
        missing = writer.missing(mapping.rules, data, "")
        if not missing:
            raise
    else:
        missing = writer.missing(mapping.rules, data, "") if writer.lacking else []
    if missing:  # raised outside the handler, so it carries no writing error as its context
        raise ConversionError(
            f"the canonical message lacks what {mapping.name} requires: {', '.join(missing)}",
            field=missing[0], code="StUF055")
    return Reversed(root, dict(plan.nsmap), sorted(set(writer.one_way)), _unplaced(writer, data))
