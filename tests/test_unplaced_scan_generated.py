"""The one pass's unplaced scan as a generated function per mapping plan (gateway.mapping.others_code) names the
same paths in the same order as ``reverse._others``, which stays the reference.

Why: since issue 13's tenth session profile ggk runs the generated scan (~4 µs a message instead of ~8). It
inlines a nested model or a group's item only when its type is exactly the one the model declares; anything else
must still reach ``_others``. And a mapping file stays data: nothing of it is ever source text.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from gateway.mapping import others_code
from gateway.mapping.reverse import _others, _value_leaves
from gateway.mapping.reverse_plan import mapping_plan
from gateway.model import Bericht, Client, Product
from gateway.model.versions import VERSIONS, for_version
from gateway.pipeline import Converter

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = sorted([*(ROOT / "tests/fixtures").glob("*/*.xml"), *(ROOT / "tests/fixtures").glob("*/families/*.xml")])
ODD = ["", " ", 0, -3, False, True, [], {}, ["a", "b"], {"x": "1"}, 1.5, "é€𝄞"]


class ClientPlus(Client):
    """A subclass with a field of its own: the declared type's inline code must not scan it."""

    eigen: str | None = None


class ProductPlus(Product):
    eigen: str | None = None


def _reference(plan: Any, bericht: BaseModel) -> list[str] | str:
    out: list[str] = []
    try:
        _others(plan, bericht, plan.trie, "", out)
    except Exception as exc:  # an odd value where a model belongs: the same failure from both
        return f"{type(exc).__name__}: {exc} after {out}"
    return out


def _generated(plan: Any, bericht: BaseModel) -> list[str] | str:
    scan = others_code.made(Bericht, plan.trie, plan.others, _value_leaves, _others, plan)
    out: list[str] = []
    try:
        scan(bericht, out)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc} after {out}"
    return out


def _varied(model: BaseModel, rng: random.Random) -> BaseModel:
    """A copy with some values replaced by odd ones (empty texts, 0, False, lists, extra names), some dropped, some
    items left out or given as a subclass instance, nested models varied in turn."""
    copy = model.model_copy()
    for name, value in list(copy.__dict__.items()):
        roll = rng.random()
        if isinstance(value, BaseModel):
            copy.__dict__[name] = None if roll < 0.1 else _varied(value, rng)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            items = [_varied(item, rng) for item in value if rng.random() < 0.85]
            copy.__dict__[name] = [_subclassed(item, rng) for item in items]
        elif name == "extra":
            copy.__dict__[name] = {"eigen": "1", "ander": "2"} if roll < 0.3 else value
        elif roll < 0.25:
            copy.__dict__[name] = rng.choice(ODD)
        elif roll < 0.35:
            copy.__dict__[name] = None
    return copy


def _subclassed(item: BaseModel, rng: random.Random) -> BaseModel:
    kind = {Client: ClientPlus, Product: ProductPlus}.get(type(item))
    if kind is None or rng.random() < 0.7:
        return item
    made = kind.model_construct(**item.__dict__)
    made.__dict__["eigen"] = "x" if rng.random() < 0.8 else None
    return made


@pytest.fixture(scope="module")
def cases(reference_dir: Path) -> list[tuple[Any, Bericht]]:
    """Every fixture in every built-in dialect of its wet and kind, in that dialect's version."""
    converter = Converter()
    found = []
    for path in FIXTURES:
        bericht = converter.to_model(path.read_bytes(), path.name)[2].bericht
        for (wet, _, versie), dialect in sorted(converter.registry.dialects().items()):
            if wet != bericht.wet or (wet, versie) not in VERSIONS or dialect.top_rule("soort") is None:
                continue
            soort = dialect.top_rule("soort")
            if soort.constant is not None and soort.constant != bericht.soort:
                continue
            found.append((mapping_plan(dialect), for_version(bericht, wet, versie).bericht))
    assert len(found) > 30
    return found


def test_the_generated_scan_names_what_the_reference_names(cases: list[tuple[Any, Bericht]]) -> None:
    rng = random.Random(10)
    named = 0
    for plan, bericht in cases:
        assert _generated(plan, bericht) == _reference(plan, bericht)
        for _ in range(12):
            varied = _varied(bericht, rng)
            expected = _reference(plan, varied)
            assert _generated(plan, varied) == expected
            named += len(expected) if isinstance(expected, list) else 0
    assert named > 1000


def test_a_subclass_item_goes_to_the_reference_and_its_own_field_is_named(cases: list[tuple[Any, Bericht]]) -> None:
    plan, bericht = next((p, b) for p, b in cases if b.clients and b.clients[0].producten)
    client = bericht.clients[0]
    odd = ClientPlus.model_construct(**{**client.__dict__, "producten": [
        ProductPlus.model_construct(**client.producten[0].__dict__, eigen="p")]}, eigen="c")
    varied = bericht.model_copy(update={"clients": [odd]})
    out = _generated(plan, varied)
    assert out == _reference(plan, varied)
    assert "clients.0.eigen" in out and "clients.0.producten.0.eigen" in out


def test_a_message_of_another_type_goes_to_the_reference(cases: list[tuple[Any, Bericht]]) -> None:
    class BerichtPlus(Bericht):
        eigen: str | None = None

    plan, bericht = cases[0]
    odd = BerichtPlus.model_construct(**bericht.__dict__, eigen="b")
    assert _generated(plan, odd) == _reference(plan, odd) and "eigen" in _generated(plan, odd)


def test_names_from_the_model_and_the_mapping_are_never_source_text() -> None:
    """The scan of a model whose field names are hostile text: they reach the function only as values."""
    hostile = "x'); __import__('os')._exit(3) #"

    def fields(model: type, trie: Any) -> list[tuple[str, Any]]:
        return [(hostile, None), ("{k0}", {hostile: True})]

    text, values = others_code.source(Bericht, {hostile: {}}, fields)
    assert hostile not in text and "{k0}" not in text and "__import__" not in text
    assert hostile in values
    scan = others_code.made(Bericht, {}, fields, _value_leaves, _others, None)
    bericht = Bericht.model_construct()
    bericht.__dict__.update({hostile: "v", "{k0}": {hostile: "1", "y": "2"}})
    out: list[str] = []
    scan(bericht, out)
    assert out == [hostile, "{k0}.y"]


def test_the_source_check_refuses_what_no_template_has() -> None:
    head = "def make(K, leaves, others, plan, CONT):\n    def run(data, out):\n"
    others_code._check(head + "        v0 = d0.get(k3)\n        others(plan, v0, k4, p1 + k5 + '.', out)\n")
    for bad in ("        v0 = ZIN\n", "        __import__(k1)\n", "        v0 = 'ZIN'\n", '        v0 = "a"\n',
                "        out.append('x' + k1)\n", "        v0 = 'out'\n", "        out.append('k1 + k2')\n"):
        with pytest.raises(ValueError, match="generated"):
            others_code._check(head + bad)
