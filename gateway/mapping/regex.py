"""The regular expressions of mapping files (``extract:``, ``replace:``), run on RE2: time linear in the value.

Python's ``re`` backtracks: ``^(\\w+\\s?)+$`` took 16 s on a 28-character value and doubles with each
character more, in convert, batch and the sidecar alike, on a value any sender controls. RE2 cannot
backtrack, so it has no backreferences, lookarounds, conditionals, atomic groups or possessive
quantifiers; a mapping that uses one is refused when it compiles (``mapping check``), naming it.

The pattern is read by Python's own parser and written out again for RE2, so everything else means what it
means in Python: ``\\d``, ``\\w`` and ``\\s`` are Unicode classes (RE2's are ASCII), ``\\Z`` is the end,
group numbers and names, flags and ``with:`` templates (``\\1``, ``\\g<name>``) are Python's. Two things
differ and are documented: ``\\b``/``\\B`` need ``(?a)`` (RE2 knows ASCII word characters only, and so does
Python under ``(?a)``), and ``$`` matches at the very end only, not also before a final line break.
"""

from __future__ import annotations

import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import re2
from re2 import _re2  # the RE2 class itself: see Regex.search

_REFUSED = {
    sre.GROUPREF: "a backreference (\\1, (?P=name))",
    sre.GROUPREF_EXISTS: "a conditional group ((?(1)...|...))",
    sre.ASSERT: "a lookahead or lookbehind ((?=...), (?<=...))",
    sre.ASSERT_NOT: "a negative lookahead or lookbehind ((?!...), (?<!...))",
    sre.ATOMIC_GROUP: "an atomic group ((?>...))",
    sre.POSSESSIVE_REPEAT: "a possessive quantifier (*+, ++, ?+, {m,n}+)",
}
_WORD, _DIGIT, _SPACE = r"\p{L}\p{N}_", r"\p{Nd}", r"\t-\r\x{1C}-\x{1F}\x{85}\p{Z}"
"""Python's Unicode classes as RE2 class items: str.isalnum() or _, Unicode decimals, str.isspace()."""
_ASCII = {"word": "0-9A-Z_a-z", "digit": "0-9", "space": r"\t-\r "}
_CATEGORY = {
    sre.CATEGORY_DIGIT: ("digit", False), sre.CATEGORY_NOT_DIGIT: ("digit", True),
    sre.CATEGORY_WORD: ("word", False), sre.CATEGORY_NOT_WORD: ("word", True),
    sre.CATEGORY_SPACE: ("space", False), sre.CATEGORY_NOT_SPACE: ("space", True),
}
_FLAGS = ((sre.SRE_FLAG_IGNORECASE, "i"), (sre.SRE_FLAG_MULTILINE, "m"), (sre.SRE_FLAG_DOTALL, "s"))
MAX_REPEAT = 1000
"""RE2's largest repetition count ({m,n})."""


def _char(code: int) -> str:
    return chr(code) if chr(code).isascii() and chr(code).isalnum() else f"\\x{{{code:X}}}"


class _Writer:
    """Writes a parsed Python pattern (``re._parser``) out in RE2 syntax; ValueError for what RE2 lacks."""

    def __init__(self, names: dict[int, str]) -> None:
        self.names = names

    def items(self, parsed: Any, ascii_: bool) -> str:
        return "".join(self.item(op, av, ascii_) for op, av in parsed)

    def item(self, op: Any, av: Any, ascii_: bool) -> str:
        if op in _REFUSED:
            raise ValueError(f"{_REFUSED[op]} is not supported: mapping regexes run on RE2, which never backtracks")
        if op is sre.LITERAL:
            return _char(av)
        if op is sre.NOT_LITERAL:
            return f"[^{_char(av)}]"
        if op is sre.ANY:
            return "."
        if op is sre.IN:
            return self.charset(av, ascii_)
        if op is sre.BRANCH:
            return "(?:" + "|".join(self.items(alt, ascii_) for alt in av[1]) + ")"
        if op is sre.SUBPATTERN:
            return self.group(av, ascii_)
        if op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            return self.repeat(op, av, ascii_)
        if op is sre.AT:
            return self.at(av, ascii_)
        raise ValueError(f"{op} is not supported in a mapping regex")

    def group(self, av: Any, ascii_: bool) -> str:
        number, add, remove, parsed = av
        ascii_ = (ascii_ or bool(add & sre.SRE_FLAG_ASCII)) and not remove & sre.SRE_FLAG_ASCII
        on = "".join(letter for flag, letter in _FLAGS if add & flag)
        off = "".join(letter for flag, letter in _FLAGS if remove & flag)
        inner = self.items(parsed, ascii_)
        if on or off:
            inner = f"(?{on}{'-' + off if off else ''}:{inner})"
        if number is None:
            return inner if on or off else f"(?:{inner})"
        return f"(?P<{self.names[number]}>{inner})" if number in self.names else f"({inner})"

    def repeat(self, op: Any, av: Any, ascii_: bool) -> str:
        low, high, parsed = av
        if low > MAX_REPEAT or (high != sre.MAXREPEAT and high > MAX_REPEAT):
            raise ValueError(f"a repetition count over {MAX_REPEAT} is not supported by RE2")
        count = {(0, sre.MAXREPEAT): "*", (1, sre.MAXREPEAT): "+", (0, 1): "?"}.get((low, high))
        if count is None:
            count = f"{{{low},}}" if high == sre.MAXREPEAT else f"{{{low}}}" if low == high else f"{{{low},{high}}}"
        return f"(?:{self.items(parsed, ascii_)}){count}{'?' if op is sre.MIN_REPEAT else ''}"

    def at(self, where: Any, ascii_: bool) -> str:
        if where in (sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY) and not ascii_:
            raise ValueError("\\b and \\B are supported under (?a) only: RE2 counts only ASCII letters, digits and _ "
                             "as word characters (write (?a) at the start to accept that)")
        return {sre.AT_BEGINNING: "^", sre.AT_BEGINNING_STRING: r"\A", sre.AT_END: "$", sre.AT_END_STRING: r"\z",
                sre.AT_BOUNDARY: r"\b", sre.AT_NON_BOUNDARY: r"\B"}[where]

    def charset(self, items: list[tuple[Any, Any]], ascii_: bool) -> str:
        """A class; Python's ``\\W``/``\\S`` (and ``\\D`` under ``(?a)``) have no RE2 class item, so a class
        holding one becomes a union of classes (refused inside ``[^...]``, which would need an intersection)."""
        negate = bool(items) and items[0][0] is sre.NEGATE
        plain: list[str] = []
        complements: list[str] = []
        for op, av in items[1:] if negate else items:
            if op is sre.LITERAL:
                plain.append(_char(av))
            elif op is sre.RANGE:
                plain.append(f"{_char(av[0])}-{_char(av[1])}")
            elif op is sre.CATEGORY and av in _CATEGORY:
                kind, inverted = _CATEGORY[av]
                text = _ASCII[kind] if ascii_ else {"word": _WORD, "digit": _DIGIT, "space": _SPACE}[kind]
                if inverted and kind == "digit" and not ascii_:
                    plain.append(r"\P{Nd}")
                elif inverted:
                    complements.append(text)
                else:
                    plain.append(text)
            else:
                raise ValueError(f"{op} {av} is not supported in a class of a mapping regex")
        if not complements:
            return f"[{'^' if negate else ''}{''.join(plain)}]"
        if negate:
            raise ValueError("\\W, \\S (or \\D under (?a)) inside [^...] is not supported by RE2: write it another way")
        parts = ([f"[{''.join(plain)}]"] if plain else []) + [f"[^{text}]" for text in complements]
        return parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"


_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is reported once, as a mapping problem, not also on stderr
_UNANCHORED = _re2.RE2.Anchor.UNANCHORED
_NO_SPAN = (-1, -1)


class Match:
    """A match as ``extract`` reads it: ``group(n)`` (None for a group that took no part)."""

    __slots__ = ("_data", "_spans")

    def __init__(self, data: bytes, spans: list[tuple[int, int]]) -> None:
        self._data, self._spans = data, spans

    def group(self, number: int = 0) -> str | None:
        start, end = self._spans[number]
        return None if start < 0 else self._data[start:end].decode("utf-8")


def _step(data: bytes, at: int) -> int:
    """Bytes of the UTF-8 character at ``at``: an empty match moves on by one character."""
    lead = data[at]
    return 1 if lead < 0x80 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4


class Regex:
    """A mapping regex: Python's syntax and meaning, RE2's engine. ``str()`` is the pattern as written."""

    __slots__ = ("_re2", "_templates", "groups", "pattern", "python")

    def __init__(self, pattern: str) -> None:
        try:
            self.python = re.compile(pattern)  # the syntax check and group table; this object never matches
        except re.error as exc:
            raise ValueError(f"bad regular expression: {exc}") from None
        parsed = sre_parse.parse(pattern)
        names = {number: name for name, number in self.python.groupindex.items()}
        flags = parsed.state.flags
        prefix = "".join(letter for flag, letter in _FLAGS if flags & flag)
        body = _Writer(names).items(parsed, bool(flags & sre.SRE_FLAG_ASCII))
        self._re2 = _re2.RE2((f"(?{prefix}){body}" if prefix else body).encode("utf-8"), _OPTIONS)
        if not self._re2.ok():
            raise ValueError(f"not supported by the regex engine (RE2): {self._re2.error()}")
        self.pattern = pattern
        self.groups = self.python.groups
        self._templates: dict[str, tuple[str | int, ...]] = {}

    def __str__(self) -> str:
        return self.pattern

    def __repr__(self) -> str:
        return f"Regex({self.pattern!r})"

    def search(self, text: str) -> Match | None:
        """The first match, or None. RE2 is called directly on the UTF-8 bytes: google-re2's ``re``-like
        wrapper costs ~4 µs a call in Python, the match itself ~0.5 µs."""
        data = text.encode("utf-8")
        spans = self._re2.Match(_UNANCHORED, data, 0, len(data))
        return None if spans[0] == _NO_SPAN else Match(data, spans)

    def template(self, repl: str) -> tuple[str | int, ...]:
        """A ``with:`` text read as Python reads it (``\\1``, ``\\g<name>``, ``\\n``): literals and group numbers;
        ValueError for a bad one (checked when the mapping compiles), remembered for :meth:`sub`."""
        if repl in self._templates:
            return self._templates[repl]
        try:
            parsed = sre_parse.parse_template(repl, self.python)
        except (re.error, IndexError) as exc:
            raise ValueError(f"bad replacement {repl!r}: {exc}") from None
        if isinstance(parsed, tuple):  # Python 3.11: (positions of groups, literals with None at those positions)
            groups, literals = parsed
            items: list[Any] = list(literals)
            for position, number in groups:
                items[position] = number
        else:  # Python 3.12 on: literals and group numbers in order
            items = list(parsed)
        self._templates[repl] = tuple(item for item in items if item is not None and item != "")
        return self._templates[repl]

    def sub(self, repl: str, text: str) -> str:
        """Every match replaced by ``repl`` as Python's ``re.sub`` would, in one pass over the UTF-8 bytes: an
        empty match right after a match is replaced too, and the next search starts one character past an empty
        match (Python would first try a longer match at the same place: a pattern that prefers the empty match
        there, as ``x*?|a`` does, differs). An unmatched group gives ''."""
        items = [i.encode("utf-8") if isinstance(i, str) else i for i in self.template(repl)]
        data = text.encode("utf-8")
        size, match = len(data), self._re2.Match
        out: list[bytes] = []
        last = pos = 0
        while pos <= size:
            spans = match(_UNANCHORED, data, pos, size)
            start, end = spans[0]
            if start < 0:
                break
            out.append(data[last:start])
            out += [i if isinstance(i, bytes) else data[spans[i][0]:spans[i][1]] for i in items]
            last = end
            if end > start:
                pos = end
            elif end < size:
                pos = end + _step(data, end)
            else:
                break
        out.append(data[last:])
        return b"".join(out).decode("utf-8")
