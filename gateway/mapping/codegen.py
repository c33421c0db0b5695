"""What the mapping's code generators (walkgen, reverse_code, others_code) share: the check that a generated source
is made of the generator's own template words and made-up names only.

Both put every value a mapping file brings in (tags, targets, constants) into the function's namespace under a
made-up name, never into the source text. That holds by construction; this check makes a later edit that pastes
a value into the text fail loudly at load instead of running a mapping author's text as code.
"""

from __future__ import annotations

import re
from typing import Any

_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def check_words(text: str, words: frozenset[str], made_up: re.Pattern[str], what: str) -> None:
    """Raise ValueError unless every identifier-like word of ``text`` is a template word or a made-up name."""
    for word in _WORD.findall(text):
        if word not in words and not made_up.fullmatch(word):
            raise ValueError(f"{what}: unexpected word {word!r} in the generated source")


def check_template(text: str, template_only: re.Pattern[str], literals: tuple[str, ...], words: frozenset[str],
                   made_up: re.Pattern[str], what: str) -> None:
    """Raise ValueError unless ``text`` is made of the template's characters, its only string ``literals`` and
    (:func:`check_words`) its words and made-up names: a quote outside them would be a value pasted in."""
    bare = text
    for literal in literals:
        bare = bare.replace(literal, " ")
    if not template_only.fullmatch(text) or "'" in bare:
        raise ValueError("generated source holds more than its template")
    check_words(text, words, made_up, what)


class Source:
    """The lines of one generated function, and the values they name (``k<n>`` is ``K[n]``)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.values: list[Any] = []

    def k(self, value: Any) -> str:
        self.values.append(value)
        return f"k{len(self.values) - 1}"

    def add(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)
