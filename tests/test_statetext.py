"""The zaak state's stored text (gateway/ledger/statetext.py): one text per state, whoever wrote it, and
every ledger written before (``json.dumps(sort_keys=True)``) still reads the same."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from gateway.ledger.statetext import dump_state, load_state, same_state

TEXT = st.text(max_size=12)
STATES = st.recursive(st.none() | st.booleans() | TEXT | st.integers(-(2**53), 2**53),
                      lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                      max_leaves=20)


@given(st.dictionaries(TEXT, STATES, max_size=6))
def test_a_state_reads_back_as_written_and_in_either_spelling(state: dict) -> None:
    text = dump_state(state)
    assert load_state(text) == state
    old = json.dumps(state, sort_keys=True)
    assert load_state(old) == state and same_state(old, text)


@given(st.dictionaries(TEXT, STATES, min_size=2, max_size=6))
def test_one_state_has_one_text_whatever_order_its_keys_were_made_in(state: dict) -> None:
    backwards = dict(reversed(list(state.items())))
    assert dump_state(backwards) == dump_state(state)


def test_the_text_is_compact_utf8_with_sorted_keys() -> None:
    assert dump_state({"toelichting": "Cliënt", "as_of": None, "kenmerk": [["1", "B"]]}) == (
        '{"as_of":null,"kenmerk":[["1","B"]],"toelichting":"Cliënt"}')


def test_another_state_is_not_the_same() -> None:
    assert not same_state(dump_state({"a": "1"}), json.dumps({"a": "2"}))
