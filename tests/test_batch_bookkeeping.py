"""The batch parent's bookkeeping written faster must write what it wrote before.

Three shortcuts of the parent's per-message work (issue 13): a member's outputs kept in the ledger deflated
instead of as JSON, ``next_tijdstip`` skipping the parse of the value it made itself, and report lines written
by orjson. Each is held here against the plain version it replaced.
"""

from __future__ import annotations

import datetime as dt
import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.batch.ledgered import KEPT, kept_outputs, kept_text
from gateway.batch.report import encode_line
from gateway.ledger import base


def plain_tijdstip(last: str | None, now: dt.datetime) -> str:
    """``next_tijdstip`` as it was: format ``now``, and when that is not past ``last``, parse ``last`` + 1 ms."""
    value = now.strftime("%Y%m%d%H%M%S") + f"{now.microsecond // 1000:03d}"
    if last is not None and value <= last:
        moment = dt.datetime.strptime(last[:14], "%Y%m%d%H%M%S") + dt.timedelta(milliseconds=int(last[14:17]) + 1)
        value = moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"
    return value


def plain_line(line: dict[str, object]) -> bytes:
    return (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


outputs = st.lists(st.tuples(st.text(max_size=40), st.binary(max_size=3000)), max_size=4)


@given(outputs)
def test_kept_outputs_come_back_as_they_were_kept(kept: list[tuple[str, bytes]]) -> None:
    text = kept_text(kept)
    assert text.startswith(KEPT) and text.isascii()  # text: PostgreSQL's ``remembered.value`` holds it too
    assert kept_outputs(text) == kept


def test_outputs_kept_as_json_by_an_earlier_run_are_read_on_resume() -> None:
    """A run killed before this version kept ``[[name, xml], ...]``: its resume must still find them."""
    kept = [("zaak-1.xml", "<a>é</a>".encode()), ("zaak-2.xml", b"<b/>")]
    old = orjson.dumps([[name, xml.decode("utf-8")] for name, xml in kept]).decode("utf-8")
    assert kept_outputs(old) == kept


def test_kept_outputs_are_smaller_than_their_json() -> None:
    xml = b"<ZAK:zakLk01>" + b"<ZKN:omschrijving>Wmo aanvraag 07A03</ZKN:omschrijving>" * 80 + b"</ZAK:zakLk01>"
    kept = [("creeerZaak.xml", xml), ("updateZaak.xml", xml)]
    assert len(kept_text(kept)) < len(orjson.dumps([[n, x.decode()] for n, x in kept])) / 3


moments = st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9998, 12, 31))


@settings(max_examples=300)
@given(moments, st.lists(st.integers(0, 3), min_size=1, max_size=12), st.booleans())
def test_next_tijdstip_hands_out_what_parsing_the_last_value_would(now: dt.datetime, steps: list[int],
                                                                  ahead: bool) -> None:
    """A message's outputs share ``now``: each call gets the value before as ``last`` (one made here, or one a
    later clock made), and must get what formatting and parsing gave, also across a second's last millisecond."""
    last = plain_tijdstip(None, now + dt.timedelta(milliseconds=2)) if ahead else None
    for step in steps:
        moment = now + dt.timedelta(microseconds=step * 400)
        expected = plain_tijdstip(last, moment)
        assert base.next_tijdstip(last, moment) == expected
        last = expected


@settings(max_examples=300)
@given(st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
                    timezones=st.one_of(st.none(), st.timezones())))
def test_a_moment_reads_as_strftime_and_its_milliseconds(moment: dt.datetime) -> None:
    """``_stamp`` cuts the text out of ``isoformat``: any year, microsecond, offset (cut off) or zone."""
    assert base._stamp(moment) == moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"


def test_next_tijdstip_moves_past_the_last_millisecond_of_a_second() -> None:
    now = dt.datetime(2026, 12, 31, 23, 59, 59, 998_000)
    first = base.next_tijdstip(None, now)
    second = base.next_tijdstip(first, now)
    third = base.next_tijdstip(second, now)
    assert (first, second, third) == ("20261231235959998", "20261231235959999", "20270101000000000")


def test_a_last_value_made_elsewhere_is_parsed_not_trusted() -> None:
    """Only values this process made skip the parse: a malformed one from the ledger fails as it did."""
    now = dt.datetime(2026, 1, 2, 3, 4, 5)
    base.next_tijdstip(None, now)
    with pytest.raises(ValueError):
        base.next_tijdstip("20261399999999999", now)


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
lines = st.fixed_dictionaries({
    "source": texts, "status": st.sampled_from(["ok", "failed", "refused"]), "dialect": st.none() | texts,
    "envelopes": st.lists(texts, max_size=3), "outputs": st.lists(texts, max_size=3),
    "unmapped": st.integers(0, 2**40), "error": st.none() | st.fixed_dictionaries(
        {"code": texts, "field": st.none() | texts, "line": st.none() | st.integers(0, 10**9), "message": texts}),
})


@given(lines)
def test_report_lines_are_the_bytes_json_dumps_wrote(line: dict[str, object]) -> None:
    assert encode_line(line) == plain_line(line)


def test_a_line_orjson_refuses_takes_the_standard_librarys_path() -> None:
    assert encode_line({"unmapped": 2**70}) == plain_line({"unmapped": 2**70})
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate: refused as before, not written some other way
        encode_line({"source": "bad\udc80name"})
