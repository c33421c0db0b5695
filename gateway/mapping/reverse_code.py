"""The one pass's rule lists (gateway.mapping.reverse_text) as Python functions, made once per list and level.

Walking a list of steps costs the interpreter a tuple unpacking and a chain of kind tests per step, ~86 steps a
message. A function with one block per step does only what each step needs. Mapping files stay data: every
value taken from one (field names, element names and their tags, constants, plans) reaches the function as an
item of the tuple ``K`` it is made with, under a name ``k<n>``. The source text holds only this module's own
template, those names and ints this module counts itself (positions, container ids). :func:`source` checks
that before anything is compiled.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from .codegen import Source as _Source
from .codegen import check_template

LEAF, FIELD, CONSTANT, GROUP, BAIL, LATE, SKIP = range(7)
"""Step kinds: one text at one path; a field with transforms, a value map or several paths; a constant the
dialect implies; a group's items; a rule the one pass does not write (a value there is ``Unfit``); a step
moved ahead of a sibling element's (its element must be open when it writes, see ``reverse_text._order``); the
rule an item's element name says (it writes nothing)."""

Run = Callable[[Any, list[str], list[str], str], None]
"""A rule list's writer: (the model, the text's parts, the one-way rules met, the canonical path prefix)."""

_PLAIN = frozenset({dt.date, int})
"""The types a value is written as by ``str``: exactly these (not a datetime, not a bool), whose text is digits and
``-`` only, as ``text_of`` and the serialiser would write it."""

_TEMPLATE_ONLY = re.compile(r"[A-Za-z0-9_ .,:;=!()\[\]+\n'-]*")
"""What the generated source is made of: names, ints, operators and the template's quotes (never a value)."""
_WORDS = frozenset({
    "def", "make", "K", "moves", "tops", "text", "text_of", "Unfit", "items", "chosen", "field", "LISTS", "PLAIN",
    "pass", "run", "data", "out", "one_way", "prefix", "get", "__dict__", "at", "if", "elif", "else", "is", "not",
    "None", "and", "or", "in", "return", "raise", "v", "type", "dict", "list", "str", "isalnum", "isinstance",
    "append", "lacking", "constant", "one", "way", "late",
})
"""The template's words: with the made-up names ``k<n>`` all a generated source may hold (codegen.check_words)."""
_MADE_UP = re.compile(r"k[0-9]+")
_LITERALS = ("'lacking'", "'constant'", "'one-way'", "'late'", "''")
"""The template's only string literals: a quote outside them would be a value pasted into the source."""


def source(steps: list[tuple], where: bool) -> tuple[str, tuple[Any, ...]]:
    """The source of ``make`` (which returns the writer of ``steps``) and the values ``K`` it is called with."""
    code = _Source()
    body = _Source()
    body.values = code.values
    for step in steps:
        _step(body, step, where)
    names = ", ".join(f"k{n}" for n in range(len(code.values)))
    code.add(0, "def make(K, moves, tops, text, text_of, Unfit, items, chosen, field, LISTS, PLAIN):")
    code.add(1, f"({names},) = K" if code.values else "pass")
    code.add(1, "def run(data, out, one_way, prefix):")
    code.add(2, "get = data.__dict__.get")
    code.add(2, "at = 0")
    code.lines += body.lines
    code.add(2, "if at:")
    code.add(3, "out.append(moves[at][0])")
    code.add(1, "return run")
    text = "\n".join(code.lines) + "\n"
    _check(text)
    return text, tuple(code.values)


def _check(text: str) -> None:
    """Never fails by construction (no value is formatted into the text): checked so a later edit that pastes
    one fails loudly at load."""
    check_template(text, _TEMPLATE_ONLY, _LITERALS, _WORDS, _MADE_UP, "generated GGk writer")


def _step(code: _Source, step: tuple, where: bool) -> None:
    kind, first, rest, required, a, b, c, d = step
    code.add(2, f"v = get({code.k(first)})")
    for segment in rest:  # one step into a nested model or extra; None stays None (the loop's break)
        name = code.k(segment)
        code.add(2, f"if v is not None: v = v.get({name}) if type(v) is dict else v.__dict__.get({name})")
    if required:
        code.add(2, "if not v: raise Unfit('lacking')")
    if kind == SKIP:
        return
    prefix = "prefix" if where else "''"
    if kind == LEAF:  # most values: one text, letters and digits (written as they are: see lighttree.Spelling)
        start, end = code.k(b), code.k(c)
        code.add(2, "if type(v) is str:")
        code.add(3, f"if at != {int(a)}: out.append(moves[at][{int(a)}]); at = {int(a)}")
        code.add(3, f"out.append({start} + (v if v.isalnum() else text(v)) + {end})")
        code.add(2, "elif type(v) in PLAIN:")  # a date or an int: its str() is text_of's, of digits and '-' only
        code.add(3, f"if at != {int(a)}: out.append(moves[at][{int(a)}]); at = {int(a)}")
        code.add(3, f"out.append({start} + str(v) + {end})")
        code.add(2, "elif v is not None and (v or not isinstance(v, LISTS)):")
        code.add(3, "if type(v) is not list:")
        code.add(4, f"if at != {int(a)}: out.append(moves[at][{int(a)}]); at = {int(a)}")
        code.add(4, f"out.append({start} + text(text_of(v)) + {end})")
        code.add(3, "else:")
        code.add(4, f"at = field({code.k(d)}, v, out, one_way, prefix, moves, at)")
        return
    code.add(2, "if v is not None and (v or not isinstance(v, LISTS)):")
    if kind == GROUP:
        _group(code, step, prefix)
    elif kind == CONSTANT:
        code.add(3, f"if text_of(v) != {code.k(a)}: raise Unfit('constant')")
    elif kind == BAIL:
        code.add(3, "raise Unfit('one-way')")
    elif kind == LATE:
        code.add(3, f"if tops[at] != {int(a)}: raise Unfit('late')")
        if b[0] == GROUP:
            _group(code, b, prefix)
        else:
            code.add(3, f"at = field({code.k(b[7])}, v, out, one_way, prefix, moves, at)")
    else:
        code.add(3, f"at = field({code.k(d)}, v, out, one_way, prefix, moves, at)")


def _group(code: _Source, step: tuple, prefix: str) -> None:
    """Its items in alternative i for item i, or in the one alternative, or (the alternatives a rule of the items
    names, a tuple) in the alternative each names."""
    writer = "chosen" if type(step[6]) is tuple else "items"
    code.add(3, f"at = {writer}({code.k(step[4])}, {code.k(step[5])}, {code.k(step[6])}, v, out, one_way, {prefix}, "
                "moves, at)")


def made(steps: list[tuple], where: bool, moves: list[list[str]], tops: list[int], helpers: tuple) -> Run:
    """The writer of ``steps``: :func:`source` compiled, then made with its values and ``helpers`` (text,
    text_of, Unfit, items, chosen items, field)."""
    text, values = source(steps, where)
    namespace: dict[str, Any] = {}
    exec(compile(text, "<reverse_code>", "exec"), {"__builtins__": {"type": type, "dict": dict, "list": list,
                                                                    "str": str, "isinstance": isinstance}},
         namespace)
    return namespace["make"](values, moves, tops, *helpers, (list, dict), _PLAIN)  # type: ignore[no-any-return]
