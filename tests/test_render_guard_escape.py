"""A value the guard's fast path accepts is written as it is, so that path must never accept one to escape."""

from __future__ import annotations

import pytest

from gateway.render import zkn_values as at
from gateway.render.guard import Guarded, guarding, parts, text

SPECIAL = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}


@pytest.mark.parametrize("char", list(SPECIAL))
def test_a_guarded_value_with_a_character_to_escape_is_escaped(char: str) -> None:
    value = f"Wmo {char} begeleiding"
    with guarding(True):
        out = parts([])
    assert isinstance(out, Guarded)
    assert text(out, at.OMSCHRIJVING, value) == f"Wmo {SPECIAL[char]} begeleiding"
    assert text([], at.OMSCHRIJVING, value) == f"Wmo {SPECIAL[char]} begeleiding"  # unguarded: the same text


def test_a_guarded_plain_value_is_written_as_it_is() -> None:
    with guarding(True):
        out = parts([])
    assert text(out, at.OMSCHRIJVING, "Wmo begeleiding 'individueel'; 2=2?") == "Wmo begeleiding 'individueel'; 2=2?"
