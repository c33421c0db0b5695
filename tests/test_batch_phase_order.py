"""The batch takes a chunk step by step (session 31): a worker parses a run of members, then maps them, then
prepares them; the parent renders every member of a chunk against the ledger, then packs them. Why: one message
through every step before the next cost ~1.2x the CPU of each step over many messages (colder caches,
docs/performance-history.md). What a member leaves in OUT and the report must not change with the order, and a
member's deadline still covers its parse and its map together. Real converters, real archives; the spies only
record the order of the real calls.
"""

from __future__ import annotations

import contextlib
import gc
import json
import pickle
import time
import weakref
import zipfile
from pathlib import Path
from typing import Any

import pytest
from batch_corpus import varied
from proxy_helpers import sample, variant

from gateway.batch import BatchOptions, ledgered, run, work
from gateway.batch.sinks import SinkSpec
from gateway.batch.work import Chunk, MessageTimeout, WorkConfig, Worker
from gateway.pipeline import Converter, Planned

B01, B04 = "CasusB-01-WMO301_toewijzing.xml", "CasusB-04-WMO307_stop.xml"


def spied(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, step: str, calls: list[str]) -> None:
    """``owner.name`` still called, each call noted as ``step`` in ``calls``."""
    original = getattr(owner, name)

    def noted(*args: Any, **kwargs: Any) -> Any:
        calls.append(step)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, noted)


def mapped(tmp_path: Path, chunk: Chunk) -> tuple[bytes, bytes]:
    """A worker's result for ``chunk``: the packed quarantine copies and the pickled items (report lines and
    mapped members, with what the parent renders from)."""
    worker = Worker(WorkConfig(SinkSpec.for_target(tmp_path / "out.zip", 0), validate=True, stateful=True))
    result = worker.map_chunk(chunk)
    return result.payload, pickle.dumps(result.items)


def chunk_of_six() -> Chunk:
    """Six members: four that map, one that is not XML (fails its parse), one unreadable (never parsed)."""
    members: list[work.MemberTuple] = [(key, data, None, False) for key, data in varied(5, broken_every=3)]
    members.insert(4, ("batch/unreadable.xml", b"", "member is damaged", False))
    return Chunk(10, members)


def test_a_worker_parses_a_chunk_then_maps_it_then_prepares_it(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    for name, step in (("parse", "P"), ("map_parsed", "M"), ("prepare", "R")):
        spied(monkeypatch, Converter, name, step, calls)
    payload, items = mapped(tmp_path, chunk_of_six())
    assert "".join(calls) == "PPPPP" + "MMMM" + "RRRR"  # the unreadable member is never parsed, the broken never mapped

    calls.clear()
    monkeypatch.setattr(work, "RUN_BYTES", 1)  # runs of one member: member by member, as before session 31
    assert mapped(tmp_path, chunk_of_six()) == (payload, items)  # the same quarantine copies, lines and members
    assert "".join(calls) == "PMR" + "PMR" + "P" + "PMR" + "PMR"


def test_a_worker_holds_the_parse_trees_of_a_run_of_bytes_not_of_a_whole_chunk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunk of large members (a chunk ends at ~2 MB) is taken in runs of about RUN_BYTES of input."""
    members = [(key, data, None, False) for key, data in varied(6)]
    monkeypatch.setattr(work, "RUN_BYTES", sum(len(m[1]) for m in members[:2]))
    calls: list[str] = []
    for name, step in (("parse", "P"), ("map_parsed", "M")):
        spied(monkeypatch, Converter, name, step, calls)
    mapped(tmp_path, Chunk(0, members))
    assert "".join(calls) == "PPMM" * 3


def test_the_map_gets_what_the_parse_left_of_the_members_deadline(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """0.7 s to parse and 0.7 s to map is past a deadline of 1 s, though each step alone is within it."""
    original_parse, original_map = Converter.parse, Converter.map_parsed

    def slow_parse(self: Converter, data: bytes, name: str = "<input>", route: str | None = None) -> Any:
        if b"<!-- SLOW -->" in data:
            time.sleep(0.7)
        return original_parse(self, data, name, route)

    def slow_map(self: Converter, source: Any, name: str = "<input>", trace: bool = False) -> Any:
        if name.endswith("slow.xml"):
            time.sleep(0.7)
        return original_map(self, source, name, trace)

    monkeypatch.setattr(Converter, "parse", slow_parse)
    monkeypatch.setattr(Converter, "map_parsed", slow_map)
    (_, first), (_, second) = varied(2)
    worker = Worker(WorkConfig(SinkSpec.for_target(tmp_path / "out.zip", 0), validate=False, stateful=True,
                               timeout=1))
    items = worker.map_chunk(Chunk(0, [("a.xml", first, None, False),
                                       ("slow.xml", second + b"<!-- SLOW -->", None, False)])).items
    assert items is not None and isinstance(items[0], work.MappedMember)
    assert items[1]["status"] == "failed"
    assert items[1]["error"]["message"] == "conversion took longer than the deadline of 1 s and was ended"


def test_a_deadline_an_earlier_step_used_up_ends_at_once_and_dates_the_message_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(work, "_started", [0.0])
    monkeypatch.setattr(work, "_slot", 0)
    with pytest.raises(MessageTimeout), work._deadline(1, 1.0):
        pass
    before = time.monotonic()
    with work._deadline(1000, 100.0):
        assert before - 101 < work._started[0] <= time.monotonic() - 100  # the parse's start, for the parent's watch
    assert work._started[0] == 0.0


def test_the_parent_renders_a_chunk_before_it_packs_it_and_packs_in_member_order(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    spied(monkeypatch, Converter, "render", "R", calls)
    spied(monkeypatch, Converter, "plan", "L", calls)
    spied(monkeypatch, Planned, "write", "W", calls)
    spied(monkeypatch, ledgered, "pack_outputs", "P", calls)
    stop = variant(sample(B04), 7)  # a 307 for a zaak nobody created: its render fails (StUF064)
    members = [("0-start.xml", variant(sample(B01), 1, zaak=3)), ("1-stop.xml", stop),
               ("2-start.xml", variant(sample(B01), 2, zaak=4)), ("3-start.xml", variant(sample(B01), 3, zaak=5)),
               ("4-start.xml", variant(sample(B01), 4, zaak=6))]
    with zipfile.ZipFile(tmp_path / "in.zip", "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
    outcome = run(BatchOptions([tmp_path / "in.zip"], tmp_path / "out.zip", workers=0, progress="quiet",
                               state="none", chunk_size=4))
    assert outcome.exit_code == 1
    # planned all, then written all (session 32), then packed: the failed member is quarantined, not written or packed
    assert "".join(calls) == "LLLL" + "WWW" + "PPP" + "L" + "W" + "P"
    with zipfile.ZipFile(tmp_path / "out.zip") as zf:
        names = [n for n in zf.namelist() if n not in ("report.jsonl", "summary.json")]
        lines = [json.loads(line) for line in zf.read("report.jsonl").splitlines()]
        assert zf.read(lines[1]["quarantine"]) == stop
    assert [line["source"].rpartition("/")[2] for line in lines] == [name for name, _ in members]
    assert [line["status"] for line in lines] == ["ok", "failed", "ok", "ok", "ok"]
    entries = [path for line in lines for path in (line.get("outputs") or [line["quarantine"]])]
    assert [n for n in names if not n.endswith(".reason")] == entries  # OUT in member order, as one pass gave


def test_a_worker_runs_no_cyclic_collection_inside_a_run_and_restores_the_collector(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run's trees and models live through three passes and die together at its end: a collection inside the run
    only walks and promotes them (~30 µs a message, session 32). Paused for the run, as it was afterwards, and the
    same quarantine copies, report lines and mapped members as with the collector at work."""
    seen: list[bool] = []
    for name in ("parse", "map_parsed", "prepare"):
        original = getattr(Converter, name)

        def noted(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            seen.append(gc.isenabled())
            return _original(*args, **kwargs)

        monkeypatch.setattr(Converter, name, noted)
    models: list[weakref.ref[Any]] = []
    original_map = Converter.map_parsed  # already the spy above

    def kept(*args: Any, **kwargs: Any) -> Any:
        mapping, result = original_map(*args, **kwargs)
        models.append(weakref.ref(result.bericht))
        return mapping, result

    monkeypatch.setattr(Converter, "map_parsed", kept)
    alive: list[int] = []

    class Collector:
        """The gc module, noting how many of the run's models are alive when the collector comes back."""

        def __getattr__(self, name: str) -> Any:
            return getattr(gc, name)

        def enable(self) -> None:
            alive.append(sum(ref() is not None for ref in models))
            gc.enable()

    monkeypatch.setattr(work, "gc", Collector())
    assert gc.isenabled()
    worker = Worker(WorkConfig(SinkSpec.for_target(tmp_path / "out.zip", 0), validate=True, stateful=True))
    result = worker.map_chunk(chunk_of_six())
    paused = result.payload, pickle.dumps(result.items)
    assert seen == [False] * 13  # 5 parsed, 4 mapped, 4 prepared, none with automatic collections
    assert gc.isenabled()
    held = sum(getattr(item, "bericht", None) is not None for item in result.items)  # a member handed over whole
    assert len(models) == 4 and alive == [held]  # the run's other models freed before the collector came back
    del result
    gc.disable()  # a caller that turned it off itself finds it off afterwards
    try:
        mapped(tmp_path, chunk_of_six())
        assert not gc.isenabled()
    finally:
        gc.enable()
    seen.clear()
    monkeypatch.setattr(work, "collector_paused", contextlib.nullcontext)
    assert mapped(tmp_path, chunk_of_six()) == paused  # the collector's pause changes nothing a member becomes
    assert seen == [True] * 13


def test_the_collector_comes_back_when_a_run_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def stopped(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # not a member's failure: it leaves map_chunk

    monkeypatch.setattr(Converter, "prepare", stopped)
    with pytest.raises(KeyboardInterrupt):
        mapped(tmp_path, chunk_of_six())
    assert gc.isenabled()
