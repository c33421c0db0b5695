"""The untraced run of a plan as one Python function, generated once per plan from its trie and steps.

:func:`.engine._exec` interprets a plan for every message: a table look-up and a tuple per child, a call per
trie node and per group item, a loop over the steps. The function made here does the same work with the
plan unrolled into nested loops, so what the interpreter decided per message is decided once. Where the
native walk is built (:mod:`._native`), the trie's loops run there instead, over libxml2's nodes, and only the
plan's remaining steps are generated here (:meth:`_Gen.native`).

Safety: a mapping file is data, and so it stays. The source text compiled here is made only of names this
module makes up (``K3``, ``f0``, ``c1``) and fixed templates; every tag, target, rule and function a mapping
brings in enters as a value bound to such a name in the function's namespace, never as source text. The
engine's :func:`.engine._exec` stays the reference (traced runs use it; tests run both and compare).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .codegen import check_words
from .rules import GroupRule
from .walkplan import DIRECT, FAST_NESTED, FAST_NODE, FAST_TEXT, WALKED_FIELD, WALKED_GROUP, Plan, Step, TrieNode

Walker = Callable[[Any, dict[str, Any], str, Any], None]
"""A generated run: ``(context element, output dict, prefix, MapState)``, as ``_exec`` untraced."""


_NATIVE_SOURCE = Path(__file__).with_name("_native.pyx")


def _load_native(source: Path = _NATIVE_SOURCE) -> tuple[Any, str | None]:
    """The built native walk, or None and why not: not built, or built from another version of its source
    (a stale build must never run: it would walk by rules the Python walk no longer has)."""
    try:
        from . import _native  # type: ignore[attr-defined]
    except ImportError as exc:
        return None, f"not built ({exc}); `make venv` builds it"
    except Exception as exc:  # a stale build whose start-up no longer fits the Python around it
        return None, f"cannot be loaded ({type(exc).__name__}: {exc}); `make venv` rebuilds it"
    if source.is_file() and hashlib.sha256(source.read_bytes()).hexdigest() != _native.SOURCE:
        return None, "built from another version of _native.pyx; `make venv` rebuilds it"
    if _native.KINDS != (FAST_TEXT, FAST_NESTED, FAST_NODE):
        return None, "numbering the walk's kinds unlike walkplan; fix _native.pyx"
    return _native, None


_native, NATIVE_MISSING = _load_native()
NATIVE = _native is not None and os.environ.get("OVERSTAP_NATIVE_WALK", "1") != "0"
"""Untraced runs walk the trie natively where :mod:`._native` is built; ``OVERSTAP_NATIVE_WALK=0`` (and tests)
run the generated Python walk instead. Both give the same results."""

MAX_DEPTH = 8
"""Deeper tries are not unrolled (Python allows 20 nested blocks; each level takes two): the plan runs
interpreted, as before."""


class _Source:
    """The lines of one generated function and the values its names stand for."""

    def __init__(self, env: dict[str, Any]) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {"__builtins__": {"len": len}, **env}
        self.ids: dict[int, str] = {}
        self.count = 0

    def const(self, value: Any) -> str:
        """A made-up name bound to ``value``: the only way a mapping's data reaches the function."""
        known = self.ids.get(id(value))
        if known is not None:
            return known
        name = f"K{self.count}"
        self.count += 1
        self.names[name] = value
        self.ids[id(value)] = name
        return name

    def line(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)


class _Gen:
    """Writes one plan's function: the walk of its trie, then its steps."""

    def __init__(self, plan: Plan, env: dict[str, Any], groups: dict[int, Walker]) -> None:
        self.plan = plan
        self.src = _Source(env)
        self.groups = groups
        self.found: dict[int, str] = {}  # the walk's key of a rule or path -> its local list
        self.items: dict[int, str] = {}  # id(group) -> its local list of items

    def local(self, table: dict[int, str], key: int, stem: str) -> str:
        name = table.get(key)
        if name is None:
            name = table[key] = f"{stem}{len(table)}"
        return name

    def walk(self, node: TrieNode, parent: str, depth: int, ind: int) -> None:
        """The loop over ``parent``'s children with output dict ``o{depth}``, as ``_fast_walk`` does it."""
        s = self.src
        c, out = f"c{depth}", f"o{depth}"
        texts = {tag: todo[1] for tag, todo in node.fast.items() if todo[0] == FAST_TEXT}
        others = [(tag, todo) for tag, todo in node.fast.items() if todo[0] != FAST_TEXT]
        s.line(ind, f"for {c} in {parent}[:]:")  # a list made in C: cheaper than the iterator
        ind += 1
        s.line(ind, f"t = {c}.tag")
        if texts:
            s.line(ind, f"n = {s.const(texts)}.get(t)")
            s.line(ind, "if n is not None:")
            self.leaf(c, out, "n", None, ind + 1)
            s.line(ind + 1, "continue")
        if not others:
            s.line(ind, "if track:")
            s.line(ind + 1, f"spots.append({c})")
            return
        s.line(ind, f"k = {s.const({tag: i for i, (tag, _) in enumerate(others)})}.get(t)")
        s.line(ind, "if k is None:")
        s.line(ind + 1, "if track:")
        s.line(ind + 2, f"spots.append({c})")
        s.line(ind + 1, "continue")
        for i, (_tag, todo) in enumerate(others):
            s.line(ind, f"{'if' if i == 0 else 'elif'} k == {i}:")
            if todo[0] == FAST_NESTED:
                self.leaf(c, out, s.const(todo[2]), s.const(todo[1]), ind + 1)
            else:
                assert todo[0] == FAST_NODE
                self.node(todo[1], todo[2], c, depth, ind + 1)

    def leaf(self, c: str, out: str, name: str, segments: str | None, ind: int) -> None:
        """A fused leaf: its text stored now; a second value or children make the run ambiguous."""
        s = self.src
        s.line(ind, f"if len({c}):")
        s.line(ind + 1, "raise Ambiguous")
        s.line(ind, "if track:")
        s.line(ind + 1, f"consumed.add({c})")
        s.line(ind, f"x = {c}.text")
        s.line(ind, "if x is not None and (x := x.strip()):")
        into = out
        if segments is not None:
            s.line(ind + 1, f"into = parent_of({out}, {segments})")
            into = "into"
        s.line(ind + 1, f"if {name} in {into}:")
        s.line(ind + 2, "raise Ambiguous")
        s.line(ind + 1, f"{into}[{name}] = x")

    def node(self, sub: TrieNode, key: str | None, c: str, depth: int, ind: int) -> None:
        """A trie node's element: spotted, collected for its rules and groups, its children walked."""
        s = self.src
        if not (sub.children or sub.groups):
            s.line(ind, "if track:")
        else:
            s.line(ind, f"if track and not len({c}):")
        s.line(ind + 1, f"spots.append({c})")
        for rid in sub.rule_ids:
            f = self.local(self.found, rid, "f")
            s.line(ind, f"if {f} is None:")
            s.line(ind + 1, f"{f} = [{c}]")
            s.line(ind, "else:")
            s.line(ind + 1, f"{f}.append({c})")
        for group in sub.groups:
            g = self.local(self.items, id(group), "g")
            s.line(ind, f"if {g} is None:")
            s.line(ind + 1, f"{g} = []")
            s.line(ind, f'p = f"{{prefix}}{{{s.const(group.target)}}}.{{len({g})}}."')
            s.line(ind, f"groups[p[:-1]] = {c}.sourceline")
            s.line(ind, "item = {}")
            s.line(ind, f"{s.const(self.groups[id(group)])}({c}, item, p, st)")
            s.line(ind, f"{g}.append(item)")
        if not sub.children:
            return
        inner = f"o{depth + 1}"
        if key is None:
            s.line(ind, f"{inner} = o{depth}")
            self.walk(sub, c, depth + 1, ind)
            return
        k, fresh = s.const(key), f"fresh{depth + 1}"
        s.line(ind, f"{inner} = o{depth}.get({k})")
        s.line(ind, f"{fresh} = {inner} is None")
        s.line(ind, f"if {fresh}:")
        s.line(ind + 1, f"{inner} = {{}}")
        self.walk(sub, c, depth + 1, ind)
        s.line(ind, f"if {fresh} and {inner}:")  # kept when a value landed in it, as _fast_walk does
        s.line(ind + 1, f"o{depth}[{k}] = {inner}")

    def step(self, step: Step) -> None:
        """One of the plan's ``fast_steps``, as ``_exec`` runs it untraced."""
        s = self.src
        rule = s.const(step.rule)
        if step.kind == DIRECT and _constant(step.rule):
            self.put(step.rule.segments, s.const(step.rule.constant), 1)  # type: ignore[union-attr]
            return
        if step.kind == DIRECT:
            group = step.rule.plan if isinstance(step.rule, GroupRule) else None
            walker = s.const(self.groups[id(step.rule)]) if group is not None else "None"
            s.line(1, f"direct({rule}, {walker}, ctx, o0, prefix, st)")
            return
        if step.kind == WALKED_GROUP:
            g = self.local(self.items, step.key, "g")
            s.line(1, f"if {g}:")
            s.line(2, f"set_at(o0, {s.const(step.rule.segments)}, {g})")
            return
        assert step.kind == WALKED_FIELD
        if step.keys is not None:
            per = ", ".join(f"{self.local(self.found, key, 'f')} or []" for key in step.keys)
            if step.optional:
                s.line(1, f"if {' or '.join(self.local(self.found, key, 'f') for key in step.keys)}:")
                s.line(2, f"field_or_fail({rule}, ctx, o0, prefix, st, [{per}])")
            else:
                s.line(1, f"field_or_fail({rule}, ctx, o0, prefix, st, [{per}])")
            return
        f = self.local(self.found, step.key, "f")
        s.line(1, f"if {f} is None:")
        s.line(2, "pass" if step.optional else f"field_or_fail({rule}, ctx, o0, prefix, st, [[]])")
        vmap = step.rule.value_map  # type: ignore[union-attr]
        if vmap is not None and not step.rule.transforms and not step.rule.many:  # type: ignore[union-attr]
            self.mapped(step, f, s.const(vmap.table))
            return
        if not step.plain:
            s.line(1, "else:")
            s.line(2, f"field_or_fail({rule}, ctx, o0, prefix, st, [{f}])")
            return
        s.line(1, f"elif len({f}) != 1 or len({f}[0]):")
        s.line(2, f"field_or_fail({rule}, ctx, o0, prefix, st, [{f}])")
        s.line(1, "else:")  # one plain leaf, no transforms: its text is the value
        s.line(2, "if track:")
        s.line(3, f"consumed.add({f}[0])")
        s.line(2, f"x = {f}[0].text")
        s.line(2, "if x is not None and (x := x.strip()):")
        self.put(step.rule.segments, "[x]" if step.rule.many else "x", 3)  # type: ignore[union-attr]
        s.line(2, "else:")
        s.line(3, f"field_or_fail({rule}, ctx, o0, prefix, st, [{f}])")

    def mapped(self, step: Step, f: str, table: str) -> None:
        """A one-path field through a value map: a code in the table is stored; anything else (no value, a
        code the map lacks, one it maps to an empty text) takes the interpreted rule, which defaults, warns or
        fails as it always did."""
        s, rule = self.src, self.src.const(step.rule)
        s.line(1, "else:")
        s.line(2, "h = None")
        s.line(2, f"if len({f}) == 1 and not len({f}[0]):")
        s.line(3, "if track:")
        s.line(4, f"consumed.add({f}[0])")
        s.line(3, f"x = {f}[0].text")
        s.line(3, "if x is not None and (x := x.strip()):")
        s.line(4, f"h = {table}.get(x)")
        s.line(2, "if not h:")  # a code the map lacks or maps to an empty text: the interpreted rule decides
        s.line(3, f"field_or_fail({rule}, ctx, o0, prefix, st, [{f}])")
        s.line(2, "else:")
        self.put(step.rule.segments, "h", 3)

    def put(self, segments: tuple[str, ...], value: str, ind: int) -> None:
        """Store ``value`` (a name in the generated code) at ``segments`` of ``o0``, as ``_set`` does."""
        s = self.src
        if len(segments) == 1:
            s.line(ind, f"o0[{s.const(segments[0])}] = {value}")
        else:
            s.line(ind, f"set_at(o0, {s.const(segments)}, {value})")

    def function(self) -> tuple[str, dict[str, Any]]:
        """The source of ``run`` and the namespace its names are bound in."""
        plan, s = self.plan, self.src
        if plan.trie.children:
            self.walk(plan.trie, "ctx", 0, 1)
        else:
            s.line(1, "if track:")
            s.line(2, "spots.append(ctx)")  # no walk goes through its children
        self.rest()
        head = ["def run(ctx, o0, prefix, st):", "    track = st.track", "    consumed = st.consumed",
                "    spots = st.spots", "    groups = st.groups"]
        head += [f"    {name} = None" for name in [*self.found.values(), *self.items.values()]]
        text = "\n".join([*head, *s.lines, "    return None"]) + "\n"
        _check(text, s.names)
        return text, s.names

    def rest(self) -> None:
        """What follows the walk: the required fields it stored checked, then the plan's other steps."""
        plan, s = self.plan, self.src
        if plan.trie.children:
            for segments in plan.must_have:  # a required field the walk stored itself: did its value land?
                if len(segments) == 1:
                    s.line(1, f"if o0.get({s.const(segments[0])}) is None:")
                else:
                    s.line(1, f"if not landed(o0, {s.const(segments)}):")
                s.line(2, "raise Ambiguous")
        for step in plan.fast_steps:
            self.step(step)

    def native(self) -> Walker:
        """The plan's run on the native walk (:mod:`._native`): the trie as its tables, the rest as a
        generated function of the walk's results (``F``: each rule's source elements, ``G``: each group's
        items, by the slot the tables put them in)."""
        assert _native is not None
        table = self.table(self.plan.trie)
        self.rest()
        s = self.src
        head = ["def steps(ctx, o0, prefix, st, F, G):", "    track = st.track", "    consumed = st.consumed"]
        head += [f"    {name} = F[{name[1:]}]" for name in self.found.values()]
        head += [f"    {name} = G[{name[1:]}]" for name in self.items.values()]
        text = "\n".join([*head, *s.lines, "    return None"]) + "\n"
        _check(text, s.names)
        exec(compile(text, "<mapping steps>", "exec"), s.names)  # made-up names only, as in generate()
        return _native.Walker(table, s.names["steps"], len(self.found), len(self.items),  # type: ignore[no-any-return]
                              s.names["Ambiguous"], s.names["parent_of"])

    def table(self, node: TrieNode) -> Any:
        """``node.fast`` as the native walk's table: each child tag with what to do, its slots resolved."""
        entries = []
        for tag, todo in node.fast.items():
            if todo[0] == FAST_TEXT:
                entries.append(_native.Entry(tag, FAST_TEXT, target=todo[1]))
            elif todo[0] == FAST_NESTED:
                entries.append(_native.Entry(tag, FAST_NESTED, target=todo[2], segments=todo[1]))
            else:
                sub: TrieNode = todo[1]
                slots = tuple(self.slot(self.found, rid, "f") for rid in sub.rule_ids)
                groups = tuple((self.slot(self.items, id(group), "g"), group.target, self.groups[id(group)])
                               for group in sub.groups)
                entries.append(_native.Entry(tag, FAST_NODE, sub=self.table(sub), key=todo[2],
                                             spot_always=not (sub.children or sub.groups), slots=slots,
                                             groups=groups))
        return _native.Table(entries)  # type: ignore[union-attr]

    def slot(self, table: dict[int, str], key: int, stem: str) -> int:
        """The index of ``key``'s local (``f3`` is slot 3 of ``F``)."""
        return int(self.local(table, key, stem)[len(stem):])


_WORDS = frozenset({
    "def", "run", "ctx", "prefix", "st", "track", "consumed", "spots", "groups", "None", "for", "in", "if", "elif",
    "else", "is", "not", "and", "or", "continue", "pass", "return", "raise", "len", "t", "tag", "n", "get", "k",
    "x", "text", "strip", "into", "p", "item", "sourceline", "append", "add", "Ambiguous", "parent_of", "set_at",
    "landed", "field_or_fail", "direct", "f", "h", "steps", "F", "G",
})
_MADE_UP = re.compile(r"(?:K|f|g|c|o|fresh)[0-9]+")


def _check(text: str, names: dict[str, Any]) -> None:
    """Belt and braces: the text is made of this module's templates and made-up names only (by construction;
    checked so a later edit that pastes a mapping's value into the source fails loudly, not silently)."""
    check_words(text, _WORDS, _MADE_UP, "generated walk")
    if re.search(r"['\\#;]", text) or text.count('"') != 2 * text.count('p = f"'):
        raise ValueError("generated walk: a quote, backslash, comment or semicolon outside the templates")


def _constant(rule: Any) -> bool:
    """A field that is a constant and nothing else: no condition, transform or value map to run."""
    return (not isinstance(rule, GroupRule) and rule.constant is not None and rule.when is None
            and not rule.transforms and rule.value_map is None)


def _depth(node: TrieNode) -> int:
    return 1 + max((_depth(sub) for sub in node.children.values()), default=0)


def generate(plan: Plan, env: dict[str, Any], interpret: Callable[[Plan], Walker]) -> Walker:
    """The generated run of ``plan`` (its groups' runs generated first); ``env`` holds the engine's helpers
    the generated code calls by name; ``interpret(plan)`` is the fallback for a trie too deep to unroll."""
    groups: dict[int, Walker] = {}
    for step in plan.steps:
        if isinstance(step.rule, GroupRule) and step.rule.plan is not None:
            groups[id(step.rule)] = walker_of(step.rule.plan, env, interpret)
    if NATIVE and _native is not None:
        return _Gen(plan, env, groups).native()
    if _depth(plan.trie) > MAX_DEPTH:
        return interpret(plan)
    text, names = _Gen(plan, env, groups).function()
    code = compile(text, "<mapping walk>", "exec")
    exec(code, names)  # the text holds made-up names only; the mapping's values are in `names`
    walker: Walker = names["run"]
    return walker


def walker_of(plan: Plan, env: dict[str, Any], interpret: Callable[[Plan], Walker]) -> Walker:
    """``plan``'s generated run, made on first use and kept on the plan (one for each of :data:`NATIVE`)."""
    walkers = plan.walker
    if walkers is None:
        walkers = plan.walker = [None, None]
    walker = walkers[NATIVE]
    if walker is None:
        walker = walkers[NATIVE] = generate(plan, env, interpret)
    return walker  # type: ignore[no-any-return]
