"""The unplaced scan of the one pass (``reverse._others``) as one Python function per mapping plan.

The scan visits ~54 fields a message in ~15 calls, each call looking up its model's field list and unpacking a
tuple per field. The function made here visits the same fields in the same order with the nesting unrolled: a
nested model or a group's item of the type the model declares is scanned inline; any other value (a subclass,
an unexpected type, a level deeper than :data:`MAX_LEVEL`) goes to ``_others`` itself, which stays the reference.

Mapping files stay data: every value (field names, trie nodes, model classes) reaches the function as an item of
the tuple ``K`` it is made with, under a name ``k<n>``; the source holds only this module's template and names it
makes up, and is checked before it is compiled (:func:`gateway.mapping.codegen.check_words`).
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from .codegen import Source, check_template

Scan = Callable[[BaseModel, list[str]], None]
"""A plan's scan: (the message, the list the paths of its values at no rule's path are appended to)."""

MAX_LEVEL = 5
"""Models nested deeper than this are scanned by ``_others`` (the canonical model has four levels)."""

_TEMPLATE_ONLY = re.compile(r"[A-Za-z0-9_ .,:=()\[\]+\n'-]*")
_LITERALS = ("''", "'.'")
_WORDS = frozenset({
    "def", "make", "K", "leaves", "others", "plan", "CONT", "run", "data", "out", "if", "is", "not", "None", "type",
    "str", "elif", "else", "for", "in", "enumerate", "append", "get", "__dict__", "or", "return", "dict", "name",
    "True", "pass",
})
_MADE_UP = re.compile(r"(?:k|d|v|x|i|p)[0-9]+")


def _models(annotation: Any) -> list[Any]:
    """The types of an annotation other than None (``Naam | None`` -> [Naam])."""
    if get_origin(annotation) in (Union, types.UnionType):
        return [a for a in get_args(annotation) if a is not type(None)]
    return [annotation]


def _declared(cls: type[BaseModel], key: str, items: bool) -> type[BaseModel] | None:
    """The model class field ``key`` of ``cls`` declares (``items``: of its list's items), else None."""
    info = cls.model_fields.get(key)
    kinds = _models(info.annotation) if info is not None else []
    if items:
        kinds = [a for k in kinds if get_origin(k) is list for a in get_args(k)]
    if len(kinds) == 1 and isinstance(kinds[0], type) and issubclass(kinds[0], BaseModel):
        return kinds[0]
    return None


class _Gen(Source):
    """Writes one plan's scan: the template, with every value it needs named ``k<n>``."""

    def __init__(self, fields: Callable[[type, Any], list[tuple[str, Any]]]) -> None:
        super().__init__()
        self.fields = fields

    def model(self, cls: type[BaseModel], trie: Any, depth: int, level: int, prefix: str) -> None:
        """The fields of a ``cls`` whose ``__dict__`` is ``d<level>``, at the path ``prefix`` (an expression; "" at
        the top), as ``_others`` visits them."""
        start = len(self.lines)
        v = f"v{level}"
        for key, node in self.fields(cls, trie):
            name = self.k(key)
            self.add(depth, f"{v} = d{level}.get({name})")
            self.add(depth, f"if {v} is not None:")
            if node is None:  # at no rule's path: named (an empty list or extra names nothing)
                self.add(depth + 1, f"if type({v}) is str:")
                self.add(depth + 2, f"out.append({prefix + ' + ' if prefix else ''}{name})")
                self.add(depth + 1, f"elif {v} or type({v}) not in CONT:")
                self.add(depth + 2, f"leaves({name}, {v}, {prefix or repr('')}, out)")
            elif type(node) is tuple:  # a group's items
                self.items(cls, key, node[0], depth + 1, level, prefix)
            else:  # a nested model, or extra: the names no rule writes
                self.nested(cls, key, node, depth + 1, level, prefix)
        if len(self.lines) == start:
            self.add(depth, "pass")

    def items(self, cls: type[BaseModel], key: str, node: Any, depth: int, level: int, prefix: str) -> None:
        item_cls = _declared(cls, key, items=True)
        at = f"{prefix + ' + ' if prefix else ''}{self.k(key + '.')} + str(i{level}) + '.'"
        self.add(depth, f"for i{level}, x{level} in enumerate(v{level}):")
        self.add(depth + 1, f"p{level + 1} = {at}")
        trie = self.k(node)
        if item_cls is not None and level < MAX_LEVEL:
            self.add(depth + 1, f"if type(x{level}) is {self.k(item_cls)}:")
            self.add(depth + 2, f"d{level + 1} = x{level}.__dict__")
            self.model(item_cls, node, depth + 2, level + 1, f"p{level + 1}")
            self.add(depth + 1, "else:")
            depth += 1
        self.add(depth + 1, f"others(plan, x{level}, {trie}, p{level + 1}, out)")

    def nested(self, cls: type[BaseModel], key: str, node: Any, depth: int, level: int, prefix: str) -> None:
        at = f"{prefix + ' + ' if prefix else ''}{self.k(key + '.')}"
        trie = self.k(node)
        v = f"v{level}"
        self.add(depth, f"if type({v}) is dict:")
        self.add(depth + 1, f"out += [{at} + name for name in {v} if {trie}.get(name) is not True]")
        sub = _declared(cls, key, items=False)
        if sub is not None and level < MAX_LEVEL:
            self.add(depth, f"elif type({v}) is {self.k(sub)}:")
            self.add(depth + 1, f"d{level + 1} = {v}.__dict__")
            self.model(sub, node, depth + 1, level + 1, at)
        self.add(depth, "else:")
        self.add(depth + 1, f"others(plan, {v}, {trie}, {at}, out)")


def source(root: type[BaseModel], trie: Any, fields: Callable[[type, Any], list[tuple[str, Any]]]) \
        -> tuple[str, tuple[Any, ...]]:
    """The source of ``make`` (which returns the scan of a ``root`` message under ``trie``) and its ``K``."""
    gen = _Gen(fields)
    gen.add(0, "def make(K, leaves, others, plan, CONT):")
    header = len(gen.lines)
    gen.add(1, "def run(data, out):")
    gen.add(2, f"if type(data) is not {gen.k(root)}:")
    gen.add(3, f"others(plan, data, {gen.k(trie)}, '', out)")
    gen.add(3, "return")
    gen.add(2, "d0 = data.__dict__")
    gen.model(root, trie, 2, 0, "")
    gen.add(1, "return run")
    names = ", ".join(f"k{n}" for n in range(len(gen.values)))
    gen.lines.insert(header, f"    ({names},) = K")
    text = "\n".join(gen.lines) + "\n"
    _check(text)
    return text, tuple(gen.values)


def _check(text: str) -> None:
    """Never fails by construction (no value is formatted into the text): a later edit that pastes one fails here."""
    check_template(text, _TEMPLATE_ONLY, _LITERALS, _WORDS, _MADE_UP, "generated unplaced scan")


def made(root: type[BaseModel], trie: Any, fields: Callable[[type, Any], list[tuple[str, Any]]],
         leaves: Callable[..., None], others: Callable[..., None], plan: Any) -> Scan:
    """The scan: :func:`source` compiled and made with its values and the reference's helpers."""
    text, values = source(root, trie, fields)
    namespace: dict[str, Any] = {}
    exec(compile(text, "<unplaced scan>", "exec"), {"__builtins__": {"type": type, "str": str, "dict": dict,
                                                                       "enumerate": enumerate}}, namespace)
    return namespace["make"](values, leaves, others, plan, (list, dict))  # type: ignore[no-any-return]
