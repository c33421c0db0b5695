"""What a batch worker hands the parent crosses the pipe as one JSON text a chunk, and arrives as it left.

Why (session 34): pickled member by member, a chunk's mapped members (slots objects whose prepared facts were a
JSON text of their own) cost ~44 k instructions a member of the pipe's ~200 k, most of it in the worker. One
``orjson`` text for the chunk is cheaper on both sides; the parent must still get the same members, types and
order, and what JSON cannot hold must still cross (pickled, as before). Real workers, real messages, the real
pickle (``ForkingPickler`` is what the process pool uses).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pickle
from pathlib import Path
from typing import Any

from batch_corpus import varied
from shapes import same_shape

from gateway.batch import work
from gateway.batch.sinks import SinkSpec
from gateway.batch.work import Chunk, ChunkResult, MappedMember, WorkConfig, Worker
from gateway.render import zkn


def _mapped(tmp_path: Path, members: list[tuple[str, bytes]]) -> ChunkResult:
    """A worker's result for ``members`` as chunk 10.., mapped only (the stateful half), as a pool worker makes it."""
    worker = Worker(WorkConfig(SinkSpec.for_target(tmp_path / "out.zip", 0), validate=True, stateful=True))
    return worker.map_chunk(Chunk(10, [(key, data, None, False) for key, data in members]))


def _crossed(result: ChunkResult) -> ChunkResult:
    from multiprocessing.reduction import ForkingPickler

    return pickle.loads(ForkingPickler.dumps(result))


def test_a_chunks_mapped_members_cross_as_one_json_text_and_arrive_as_they_left(tmp_path: Path,
                                                                                 reference_dir: Path) -> None:
    """Mapped members, failures' report lines, another shard's None, a member handed over with its model and one
    that came in a GGk Di01: all arrive, in order, with the same values and types."""
    result = _mapped(tmp_path, varied(7, broken_every=3))
    items: list[Any] = result.items or []
    members = [item for item in items if isinstance(item, MappedMember)]
    assert len(members) == 5 and sum(isinstance(item, dict) for item in items) == 2
    assert all(isinstance(m.prepared, zkn.Prepared) and m.bericht is None for m in members)
    items.insert(3, None)  # a member another shard reports
    items.append(dataclasses.replace(members[0], ordinal=17, bericht={"stands": "for a model"}, prepared=None))
    items[0] = dataclasses.replace(members[0], received=("Di01", "ref-1")) if items[0] is members[0] else items[0]
    assert any(isinstance(m, MappedMember) and m.received == ("Di01", "ref-1") for m in items)

    rebuild, args = result.__reduce__()
    assert rebuild is work.unpacked_result
    text, others = args[5], args[6]
    assert isinstance(text, bytes) and text.count(b'"wmo"') == 5  # every member's facts inside the one text
    assert [type(o) for o in others] == [dict, type(None), dict, MappedMember]  # the rest pickled, in order

    back = _crossed(result)
    same_shape(result, back)
    assert [getattr(item, "key", None) for item in back.items or []] == [getattr(item, "key", None) for item in items]


def test_a_chunk_json_cannot_hold_crosses_pickled_as_before(tmp_path: Path, reference_dir: Path) -> None:
    """A member name with a surrogate escape (a file name that is not UTF-8) is text orjson refuses: the chunk
    then crosses as the pickle it was, every member with it."""
    (key, data), *rest = varied(3)
    result = _mapped(tmp_path, [(key[:-4] + "-caf\udce9.xml", data), *rest])
    assert result.items and all(isinstance(item, MappedMember) for item in result.items)
    assert result.__reduce__()[0] is ChunkResult
    back = _crossed(result)
    same_shape(result, back)
    assert back.items and back.items[0].key.endswith("-caf\udce9.xml")


def test_facts_json_would_change_make_the_chunk_cross_pickled(tmp_path: Path, reference_dir: Path) -> None:
    """A date among a member's facts would arrive as text through JSON without a word: the chunk is pickled."""
    result = _mapped(tmp_path, varied(2))
    assert result.items
    first: MappedMember = result.items[0]
    unit, facts = first.prepared.units[0]
    assert facts.want is not None
    dated = facts._replace(want={**facts.want, "registratiedatum": dt.date(2026, 12, 4)})
    result.items[0] = dataclasses.replace(first, prepared=first.prepared._replace(units=[(unit, dated)]))
    assert result.__reduce__()[0] is ChunkResult
    back = _crossed(result)
    same_shape(result, back)
    assert back.items[0].prepared.units[0][1].want["registratiedatum"] == dt.date(2026, 12, 4)


def test_a_chunk_with_nothing_mapped_crosses_as_it_is(tmp_path: Path, reference_dir: Path) -> None:
    """A chunk of failures only (and a stateless chunk, which has no items) needs no JSON text."""
    result = _mapped(tmp_path, [("a/broken.xml", b"not a message")])
    assert result.items and isinstance(result.items[0], dict)
    same_shape(result, _crossed(result))
    empty = dataclasses.replace(result, items=None)
    assert empty.__reduce__()[0] is ChunkResult
    same_shape(empty, _crossed(empty))
