"""The reverse writer in one pass: a canonical model straight to the dialect's text, with no tree in between.

gateway.mapping.reverse builds a light tree and then serialises it; each element is an object, looked up again
whenever a later rule writes below it. For most mappings the shape of that tree follows from the mapping alone:
each element name below a parent has one role (a container the rules write into, one rule's leaf, or a group's
items), and the rules that write below one container are consecutive, so an element is complete once the walk
has moved past it. Its text can then be written as the walk goes, in the order the tree would have. Per mapping
:func:`text_plan` checks that (else None). Per message :func:`write` gives up (:class:`Unfit`) on any value that
needs more than writing: a required value that looks empty, a constant the dialect does not say, a value at a
one-way rule, a character only lxml may judge, any error. The caller then runs the tree writer, so the bytes,
the reports and the errors stay that writer's. Names and texts from mapping files are only ever data here.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from pydantic import BaseModel

from .lighttree import DECLARATION, Spelling
from .reverse_code import BAIL, CONSTANT, FIELD, GROUP, LATE, LEAF, SKIP, Run, made
from .reverse_plan import Namespaces, field_plan, group_plan, mapping_plan, reverse_value, steps_of, text_of
from .rules import Compiled, FieldRule, GroupRule, Rule


class Unfit(Exception):
    """This message needs the tree writer (gateway.mapping.reverse.unmap)."""


class _Shapeless(Exception):
    """The mapping's tree cannot be written in one pass (two roles for one name, interleaved containers)."""


Step = tuple[int, str, tuple[str, ...], bool, Any, Any, Any, Any]
"""(kind, first segment, the other segments, required, then per kind: LEAF head id, start, end, FIELD data;
FIELD its data; CONSTANT the constant; GROUP its alternatives, target, several alternatives)."""


class ListPlan:
    """One rule list written below an element at one level: its steps and, between the containers its rules
    write into (0 is the element itself), the closing and opening tags that lead from one to the other."""

    __slots__ = ("moves", "run", "steps", "tops", "where")

    def __init__(self, steps: list[Step], moves: list[list[str]], tops: list[int], where: bool) -> None:
        self.steps = steps
        self.moves = moves
        self.tops = tops
        """The element right below the list's own that holds each container (by id; 0 for the list's own)."""
        self.where = where
        self.run: Run = made(steps, where, moves, tops, (Spelling.text, text_of, Unfit, _items, _chosen_items,
                                                         _field))
        """The steps as one function (gateway.mapping.reverse_code)."""
        """A step (here or in a group) may report a one-way rule: its path needs the item prefixes."""


class TextPlan:
    """A mapping's one-pass plan: the root's start and end tags and its rule list."""

    __slots__ = ("end", "mapping", "root", "start")

    def __init__(self, mapping: Compiled, start: str, end: str, root: ListPlan) -> None:
        self.mapping = mapping
        self.start = start
        self.end = end
        self.root = root


class _Compiler:
    """Works a mapping's rule lists out into :class:`ListPlan` s (a list shared by two groups, once per level)."""

    def __init__(self, ns: Namespaces, spelling: Spelling) -> None:
        self.ns = ns
        self.spelling = spelling
        self.done: dict[tuple[int, int, str | None], ListPlan] = {}

    def tag(self, tag: str, level: int, start: bool = True) -> str:
        if level > self.spelling.max_depth:
            raise _Shapeless("depth")
        return self.spelling.indents[level] + ("<" if start else "</") + self.spelling.name(tag)

    def rules(self, rules: list[Rule], level: int, implied: str | None = None) -> ListPlan:
        """The plan of ``rules`` below an element at ``level``; the rule targeting ``implied`` is said by the
        element's name (the item of a group whose rule names its alternative) and writes nothing."""
        key = (id(rules), level, implied)
        found = self.done.get(key)
        if found is None:
            found = self.done[key] = self._rules(rules, level, implied)
        return found

    def _rules(self, rules: list[Rule], level: int, implied: str | None) -> ListPlan:
        writes: list[tuple[tuple[int, int], tuple[str, ...]]] = []  # (position, path) of each element written
        steps: list[Step] = []
        where = False
        for r, (rule, first, rest, _, _, required) in enumerate(steps_of(rules, self.ns)):
            segments = (first, rest, required)  # as the tree writer reads them (required: what missing() checks)
            if rule.target == implied:
                step: Step = (SKIP, *segments, None, None, None, None)
            elif isinstance(rule, GroupRule):
                step = self.group(rule, segments, r, level, writes)
            else:
                step = self.field(rule, segments, r, writes)
            steps.append(step)
            where = where or (step[0] == FIELD and step[7][1] is not None) or (
                step[0] == GROUP and any(inner.where for _, inner in step[4]))
        order, late = _order(len(steps), writes)
        rank = {r: k for k, r in enumerate(order)}
        heads = _heads(sorted(((rank[r], p), path) for (r, p), path in writes))
        ids = {head: i for i, head in enumerate(heads)}
        placed = [self.placed(steps[r], ids, level) for r in order]
        steps = [(LATE, *step[1:4], ids[(late[r],)], step, None, None) if r in late else step
                 for r, step in zip(order, placed, strict=True)]
        moves = [[self.move(a, b, level) for b in heads] for a in heads]
        return ListPlan(steps, moves, [ids[head[:1]] for head in heads], where)

    def field(self, rule: FieldRule, segments: tuple[str, tuple[str, ...], bool], r: int, writes: list) -> Step:
        plan = field_plan(rule, self.ns)
        if rule.constant is not None:
            return (CONSTANT, *segments, rule.constant, None, None, None)
        reason = plan.reason
        if rule.when is not None or plan.slot is not None or (reason and not reason.startswith("value map")) or \
                not all(type(path) is tuple and path and not any(t[0] == "@" for t in path) for path in plan.paths):
            return (BAIL, *segments, None, None, None, None)
        paths: list[tuple[str, ...]] = plan.paths  # type: ignore[assignment]
        writes += [((r, p), path) for p, path in enumerate(paths)]
        return (LEAF if plan.leaf is not None else FIELD, *segments, paths, None, None,
                (plan, reason, rule.target))

    def group(self, rule: GroupRule, segments: tuple[str, tuple[str, ...], bool], r: int, level: int,
              writes: list) -> Step:
        _, alternatives, chooser, locals_ = group_plan(rule, self.ns)
        if not alternatives or not all(alternatives) or any(t[0] == "@" for tags in alternatives for t in tags):
            return (BAIL, *segments, None, None, None, None)
        writes += [((r, p), tags) for p, tags in enumerate(alternatives)]
        implied = chooser[0].target if chooser is not None else None
        inner = [(tags, self.rules(rule.rules, level + len(tags), implied)) for tags in alternatives]
        how = (chooser[0].target, chooser[1], tuple(locals_)) if chooser is not None else len(alternatives) > 1
        return (GROUP, *segments, inner, rule.target, how, None)

    def placed(self, step: Step, ids: dict[tuple[str, ...], int], level: int) -> Step:
        """``step`` with its paths as container ids and the tags it writes."""
        kind, first, rest, required, paths, _, _, data = step
        if kind in (LEAF, FIELD):
            ends = [(ids[path[:-1]], self.tag(path[-1], level + len(path)) + ">",
                     f"</{self.spelling.name(path[-1])}>") for path in paths]
            if kind == LEAF:
                return (LEAF, first, rest, required, *ends[0], (data[0], data[1], data[2], ends))
            return (FIELD, first, rest, required, None, None, None, (data[0], data[1], data[2], ends))
        if kind == GROUP:
            alternatives = [(ids[tags[:-1]], self.tag(tags[-1], level + len(tags)),
                             self.tag(tags[-1], level + len(tags), start=False) + ">", inner)
                            for tags, inner in paths]
            return (GROUP, first, rest, required, alternatives, step[5], step[6], None)
        return step

    def move(self, a: tuple[str, ...], b: tuple[str, ...], level: int) -> str:
        """The tags that close the containers of ``a`` not shared with ``b`` and open those of ``b``."""
        k = 0
        while k < min(len(a), len(b)) and a[k] == b[k]:
            k += 1
        closes = [self.tag(a[d], level + d + 1, start=False) + ">" for d in range(len(a) - 1, k - 1, -1)]
        opens = [self.tag(b[d], level + d + 1) + ">" for d in range(k, len(b))]
        return "".join(closes + opens)


def _order(count: int, writes: list[tuple[tuple[int, int], tuple[str, ...]]]) -> tuple[list[int], dict[int, str]]:
    """The steps of a list in an order its text can be written in: the steps of each element right below the
    list's own together, elements in the order of their first step (steps that write nothing first), and which
    steps that moves ahead of another element's step ("late"), with the element they write in. The tree writer
    puts each element where its first value falls, so a late step may only write into its element when an
    earlier step of it already did (:func:`_write` checks). Unchanged where a step writes into two elements."""
    tops: dict[int, set[str]] = {}
    for (r, _), path in writes:
        tops.setdefault(r, set()).add(path[0])
    if any(len(top) > 1 for top in tops.values()):
        return list(range(count)), {}
    element = [min(tops[r]) if r in tops else None for r in range(count)]
    first: dict[str, int] = {}
    late: dict[int, str] = {}
    for r, top in enumerate(element):
        if top is None:
            continue
        if top not in first:
            first[top] = r
        elif any(other not in (None, top) for other in element[first[top]:r]):
            late[r] = top
    rank = {top: k for k, top in enumerate(first)}
    return sorted(range(count), key=lambda r: (-1 if element[r] is None else rank[element[r]], r)), late


def _heads(writes: list[tuple[tuple[int, int], tuple[str, ...]]]) -> list[tuple[str, ...]]:
    """The containers below a list's element (``()`` first), after checking the tree has one shape: each name
    below a parent is a container or one rule's element, and the writes below each container are consecutive.
    ``writes`` are in the order the rules write them."""
    tree: dict[str, list] = {}  # tag -> [is container, first position, last position, children]
    heads: dict[tuple[str, ...], None] = {(): None}
    for position, path in writes:
        level = tree
        for depth, tag in enumerate(path):
            container = depth < len(path) - 1
            node = level.get(tag)
            if node is None:
                node = level[tag] = [container, position, position, {}]
            elif not container or not node[0]:
                raise _Shapeless(tag)  # a second element of one rule's name, or two roles
            node[2] = position
            level = node[3]
            if container:
                heads[path[:depth + 1]] = None
    _consecutive(tree)
    return list(heads)


def _consecutive(level: dict[str, list]) -> None:
    nodes = list(level.values())  # in the order of their first write
    for before, after in pairwise(nodes):
        if before[2] > after[1]:
            raise _Shapeless("interleaved")
    for node in nodes:
        _consecutive(node[3])


_PLANS: dict[int, tuple[Compiled, TextPlan | None]] = {}


def text_plan(mapping: Compiled) -> TextPlan | None:
    """The one-pass plan of ``mapping``, or None when its tree needs building (cached by identity)."""
    found = _PLANS.get(id(mapping))
    if found is None or found[0] is not mapping:
        if len(_PLANS) >= 1024:
            _PLANS.clear()
        found = _PLANS[id(mapping)] = (mapping, _compiled(mapping))
    return found[1]


def _compiled(mapping: Compiled) -> TextPlan | None:
    if not mapping.match.root:
        return None
    plan = mapping_plan(mapping)
    try:
        spelling = Spelling(plan.tag, dict(plan.nsmap), plan.root_attributes)
        root = _Compiler(plan.ns, spelling).rules(mapping.rules, 0)
        return TextPlan(mapping, spelling.start, f"\n</{spelling.name(plan.tag)}>\n", root)
    except Exception:  # _Shapeless, Spelling.Unsure, a name lxml refuses: the tree writer says what it does
        return None


def write(plan: TextPlan, data: BaseModel) -> tuple[bytes, list[str]]:
    """``data`` in the dialect as text, and the one-way rules it went through (Unfit: use the tree writer)."""
    out = [DECLARATION, plan.start]
    one_way: list[str] = []
    try:
        plan.root.run(data, out, one_way, "")
    except Exception as exc:  # whatever the values do, the tree writer says it (or writes it) its own way
        raise Unfit from exc
    if len(out) == 2:
        out[1] += "/>\n"
    else:
        out[1] += ">"
        out.append(plan.end)
    return "".join(out).encode("utf-8"), one_way


def _field(data: tuple, value: Any, out: list[str], one_way: list[str], prefix: str, moves: list[list[str]],
           at: int) -> int:
    """A field with more to it than one text (see ``_Writer.field``); returns the container it ends in."""
    plan, reason, target, ends = data
    texts = reverse_value(value, plan.table, plan.steps)
    if reason is not None:
        one_way.append(f"{prefix}{target} ({reason})")
    if len(ends) > 1:
        parts = texts if isinstance(texts, list) else [texts]
        if len(parts) > len(ends):
            raise Unfit("parts")
        pairs = list(zip(ends, parts, strict=False))
    elif isinstance(texts, list):
        pairs = [(ends[0], part) for part in texts]
    else:
        pairs = [(ends[0], texts)]
    for (head, start, end), part in pairs:
        if head != at:
            out.append(moves[at][head])
            at = head
        out.append(start + Spelling.text(part) + end)
    return at


Chooser = tuple[str, dict[str, str], tuple[str, ...]]
"""The rule of a group's items that names each one's alternative: its target, its value map reversed, the
alternatives' local names (see ``_Writer.group``)."""


def _items(alternatives: list, target: str, several: bool, items: list[BaseModel], out: list[str],
           one_way: list[str], prefix: str, moves: list[list[str]], at: int, numbers: list[int] | None = None) -> int:
    """A group's items, item i in alternative i when there are several; returns the container it ends in.
    ``numbers``: the items' own numbers in the message, where they are written in another order."""
    if several and len(items) > len(alternatives):
        raise Unfit("room")
    for i, item in enumerate(items):
        head, start, end, inner = alternatives[i if several else 0]
        if head != at:
            out.append(moves[at][head])
            at = head
        out.append(start)
        mark = len(out)
        if inner.where:
            inner.run(item, out, one_way, f"{prefix}{target}.{i if numbers is None else numbers[i]}.")
        else:
            inner.run(item, out, one_way, "")
        if len(out) == mark:
            out[-1] += "/>"
        else:
            out[mark - 1] += ">"
            out.append(end)
    return at


Chooser = tuple[str, dict[str, str], tuple[str, ...]]
"""The rule of a group's items that names each one's alternative: its target, its value map reversed, the
alternatives' local names (see ``_Writer.group``)."""


def _chosen_items(alternatives: list, target: str, chooser: Chooser, items: list[BaseModel], out: list[str],
                  one_way: list[str], prefix: str, moves: list[list[str]], at: int) -> int:
    """A group's items, each in the alternative its rule names: alternatives in their XSD order, the items of one
    in turn (``_Writer.group``). Returns the container it ends in."""
    order = _chosen(chooser, items)
    return _items([alternatives[a] for a, _ in order], target, True, [items[i] for _, i in order], out, one_way,
                  prefix, moves, at, [i for _, i in order])


def _chosen(chooser: Chooser, items: list[BaseModel]) -> list[tuple[int, int]]:
    """(alternative, item) in the XSD order of the alternatives, items in turn, as ``_Writer.group`` orders them."""
    named, table, locals_ = chooser
    chosen = []
    for i, item in enumerate(items):
        said = item.__dict__.get(named)
        local = table.get(text_of("" if said is None else said))
        if local not in locals_:
            raise Unfit("no alternative")
        chosen.append((locals_.index(local), i))
    return sorted(chosen)
