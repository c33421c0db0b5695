"""What the mapping's two code generators (walkgen, reverse_code) share: the check that a generated source is made
of the generator's own template words and made-up names only.

Both put every value a mapping file brings in (tags, targets, constants) into the function's namespace under a
made-up name, never into the source text. That holds by construction; this check makes a later edit that pastes
a value into the text fail loudly at load instead of running a mapping author's text as code.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9]*")


def check_words(text: str, words: frozenset[str], made_up: re.Pattern[str], what: str) -> None:
    """Raise ValueError unless every identifier-like word of ``text`` is a template word or a made-up name."""
    for word in _WORD.findall(text):
        if word not in words and not made_up.fullmatch(word):
            raise ValueError(f"{what}: unexpected word {word!r} in the generated source")
