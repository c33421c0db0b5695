"""A message rendered from its prepared facts gives what rendering the model gives: outputs, notes, ledger.

Why: a batch worker hands the parent ``Converter.prepare`` (units, desired states and delivery dates as plain
data) instead of the canonical model, so the parent's serial render neither unpickles the model nor works
out what depends on the message only. The parent must still write the same bytes and leave the same ledger
as ``convert`` does from the model, and hand a message back to the model wherever its render needs it.
"""

from __future__ import annotations

import datetime as dt
import pickle
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from shapes import same_shape
from shared_registry import shared_registry

from gateway.batch.sinks import SinkSpec
from gateway.batch.work import Chunk, MappedMember, WorkConfig, Worker
from gateway.ledger.base import MemoryLedger
from gateway.pipeline import FAILURES, Converter
from gateway.proxy.mapped import map_message
from gateway.render import zkn
from gateway.render.settings import RenderSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import batch_bench  # a script folder, not a package

NOW = dt.datetime(2026, 12, 4, 12, 0, 0)


@pytest.fixture
def counted_uuids(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Referentienummers 1, 2, 3, … so two renders of the same messages can be compared byte for byte."""
    count = [0]

    def uuid4() -> uuid.UUID:
        count[0] += 1
        return uuid.UUID(int=count[0], version=4)

    monkeypatch.setattr(uuid, "uuid4", uuid4)
    yield count


def _render_all(messages: list[tuple[str, bytes]], prepared: bool) -> tuple[list[Any], dict[str, Any]]:
    """Every message in order against one memory ledger: from the model, or from its pickled prepared facts."""
    ledger = MemoryLedger()
    converter = Converter(shared_registry(), ledger=ledger, clock=lambda: NOW)
    seen: list[Any] = []
    for name, data in messages:
        _, mapping, result = converter.to_model(data, name)
        facts = converter.prepare(result.bericht, mapping) if prepared else None
        if prepared:
            assert facts is not None, name  # the whole mix can be prepared: none falls back to the model
            facts = pickle.loads(pickle.dumps(facts))  # as a worker hands it over
        notes: list[str] = []
        try:
            outputs = converter.render(None if facts else result.bericht, mapping, notes, prepared=facts)
        except FAILURES as exc:
            seen.append(("failed", name, type(exc).__name__, str(exc)))
            continue
        seen.append((name, [(o.name, o.xml, o.operation) for o in outputs], notes))
    return seen, ledger._data


def test_prepared_facts_render_what_the_model_renders(reference_dir: Path, counted_uuids: list[int]) -> None:
    """Two passes over the benchmark mix (creeerZaak, updates, ends, 305/307 statuses and their withdrawals)."""
    messages = list(batch_bench.messages(2 * len(batch_bench.templates())))
    from_model, model_ledger = _render_all(messages, prepared=False)
    counted_uuids[0] = 0
    from_facts, facts_ledger = _render_all(messages, prepared=True)
    assert from_facts == from_model
    assert facts_ledger == model_ledger
    assert sum(len(item[1]) for item in from_model if item[0] != "failed") > len(messages)


def test_a_message_whose_render_needs_the_model_is_not_prepared(reference_dir: Path) -> None:
    """No zaaktype for a unit: the model is handed over and its render raises the error, in its place."""
    converter = Converter(shared_registry())
    name, data = next(batch_bench.messages(1))
    _, mapping, result = converter.to_model(data, name)
    assert zkn.prepare(result.bericht, RenderSettings(zaaktypen={})) is None
    retour = result.bericht.model_copy(update={"soort": result.bericht.soort + "-retour"})
    assert zkn.prepare(retour, converter.settings_for(mapping)) is None
    assert Converter(shared_registry(), profile="ggk").prepare(result.bericht, mapping) is None


def test_a_worker_hands_over_prepared_facts_instead_of_the_model(reference_dir: Path, tmp_path: Path) -> None:
    worker = Worker(WorkConfig(SinkSpec.for_target(tmp_path / "out", 0), stateful=True))
    members = [(name, data, None, False) for name, data in batch_bench.messages(4)]
    items = worker.map_chunk(Chunk(0, members)).items or []
    assert [type(item) for item in items] == [MappedMember] * 4
    assert all(item.bericht is None and isinstance(item.prepared, zkn.Prepared) for item in items)


def test_the_sidecar_maps_to_prepared_facts_and_renders_them(reference_dir: Path, counted_uuids: list[int]) -> None:
    """The sidecar's workers hand its serial ledger step the same plain data; the outputs do not change."""
    messages = list(batch_bench.messages(len(batch_bench.templates())))
    converter = Converter(shared_registry(), ledger=MemoryLedger(), clock=lambda: NOW)
    mapped = [map_message(converter, "route", "route", data) for _, data in messages]
    assert all(m.bericht is None and isinstance(m.prepared, zkn.Prepared) for m in mapped)
    outputs = []
    for one in mapped:
        one = pickle.loads(pickle.dumps(one))  # as a worker process hands it over
        outputs.append([o.xml for o in converter.render(one.bericht, converter.registry.get(one.mapping or ""),
                                                        prepared=one.prepared)])
    counted_uuids[0] = 0
    direct = Converter(shared_registry(), ledger=MemoryLedger(), clock=lambda: NOW)
    assert outputs == [[o.xml for o in direct.convert(data, name).outputs] for name, data in messages]


def test_prepared_facts_travel_as_json_and_arrive_unchanged(reference_dir: Path) -> None:
    """The hand-over form (``Prepared.__reduce__``): one JSON text, read back to the same values and types."""
    converter = Converter(shared_registry())
    travelled = 0
    for name, data in batch_bench.messages(2 * len(batch_bench.templates())):
        _, mapping, result = converter.to_model(data, name)
        facts = converter.prepare(result.bericht, mapping)
        assert facts is not None
        rebuild, args = facts.__reduce__()
        assert rebuild is zkn.prepared_from_text and isinstance(args[0], bytes), name
        same_shape(facts, pickle.loads(pickle.dumps(facts)), name)
        travelled += len(facts.units)
    assert travelled > 2 * len(batch_bench.templates())


def test_a_319s_answer_travels_as_json_and_arrives_an_answer(reference_dir: Path) -> None:
    """The 319s (not in batch_bench's mix): the answer a refusal reads by field name arrives an ``Answer``."""
    converter = Converter(shared_registry())
    fixtures = Path(__file__).parent / "fixtures"
    for path in (fixtures / "iwmo32" / "WMO319_verzoek_antwoord.xml",
                 fixtures / "ijw32" / "JW319_verzoek_antwoord.xml"):
        _, mapping, result = converter.to_model(path.read_bytes(), path.name)
        facts = converter.prepare(result.bericht, mapping)
        assert facts is not None and facts.units[0][1].answer is not None, path.name
        assert facts.__reduce__()[0] is zkn.prepared_from_text
        back = pickle.loads(pickle.dumps(facts))
        same_shape(facts, back, path.name)
        assert back.units[0][1].answer.verzoek_antwoord == "1"


class _Code(str):
    """A str subclass (as an Enum of text would be): JSON would hand back plain text."""


def test_prepared_facts_json_cannot_hold_travel_as_before(reference_dir: Path) -> None:
    """A key that is not text, text that is not UTF-8 (a surrogate escape), a date or a str subclass (which JSON
    would turn into plain text) fall back to the tuple form."""
    converter = Converter(shared_registry())
    name, data = next(batch_bench.messages(1))
    _, mapping, result = converter.to_model(data, name)
    facts = converter.prepare(result.bericht, mapping)
    assert facts is not None
    unit, unit_facts = facts.units[0]
    assert unit_facts.want is not None
    for odd in ({**unit_facts.want, 7: "seven"}, {**unit_facts.want, "omschrijving": "caf\udce9"},
                {**unit_facts.want, "registratiedatum": dt.date(2026, 12, 4)},
                {**unit_facts.want, "kind": _Code("toewijzing")}):
        strange = facts._replace(units=[(unit, unit_facts._replace(want=odd))])
        assert strange.__reduce__()[0] is zkn.Prepared
        back = pickle.loads(pickle.dumps(strange))
        same_shape(strange, back)
