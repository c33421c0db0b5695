"""The reverse writer's one pass (gateway.mapping.reverse_text) writes exactly what the tree writer writes.

``unmap_text`` is what profile ggk uses; ``unmap`` (a light tree, then its serialiser) stays the reference. For
every fixture, thinned at random (values dropped, items left out, markup and controls in the texts), and for
every dialect of its version, both give the same bytes, one-way rules and unplaced values, or the same error.
A mapping whose tree has no single shape (one name in two roles, a container its rules come back to) gets no
one-pass plan at all.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from gateway.mapping import Registry, reverse_code, reverse_text
from gateway.mapping.reverse import unmap, unmap_text
from gateway.mapping.rules import Compiled, GroupRule, Rule
from gateway.model import Bericht
from gateway.pipeline import Converter

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = sorted([*(ROOT / "tests/fixtures").glob("*/*.xml"), *(ROOT / "tests/fixtures").glob("*/families/*.xml")])
HOSTILE = ["a<b", "x & y", "]]>", 'say "no"', "tab\there", "cr\rlf\n", "\x01", "\ud800", "   ", "", "é€𝄞"]


@pytest.fixture(scope="module")
def converter() -> Converter:
    return Converter()


def _tree(mapping: Compiled, bericht: Bericht) -> tuple[bytes, list[str], list[str]] | str:
    try:
        written = unmap(mapping, bericht)
        return written.tostring(), written.one_way, written.unplaced
    except Exception as exc:  # the error itself is what must match
        return f"{type(exc).__name__}: {exc}"


def _text(mapping: Compiled, bericht: Bericht) -> tuple[bytes, list[str], list[str]] | str:
    try:
        return unmap_text(mapping, bericht)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


KEPT = ("wet", "soort", "versie")
"""What says which dialects write the message at all."""


def _required(rules: list[Rule], out: set[str]) -> set[str]:
    for rule in rules:
        if isinstance(rule, GroupRule):
            _required(rule.rules, out)
        elif rule.required:
            out.add(rule.segments[-1])
    return out


def _thinned(model: BaseModel, rng: random.Random, required: set[str]) -> BaseModel:
    """``model`` with some values left out or made awkward, some items dropped, the rest thinned in turn. A
    name some mapping requires mostly keeps its value (else the message is refused, not written)."""
    update: dict[str, Any] = {}
    for name, value in model.__dict__.items():
        if value is None or name in KEPT or rng.random() < (0.95 if name in required else 0.3):
            continue
        if isinstance(value, BaseModel):
            update[name] = None if rng.random() < 0.2 else _thinned(value, rng, required)
        elif isinstance(value, list) and value and isinstance(value[0], BaseModel):
            items = [_thinned(item, rng, required) for item in value if rng.random() < 0.8]
            update[name] = items[::-1] if rng.random() < 0.3 else items  # another order of alternatives
        elif isinstance(value, str) and rng.random() < 0.15:
            update[name] = rng.choice(HOSTILE)
        else:
            update[name] = None
    return model.model_copy(update=update)


def _reversed(model: BaseModel) -> BaseModel:
    """``model`` with every list of items in the other order (alternatives a rule names now out of XSD order)."""
    return model.model_copy(update={
        name: [_reversed(item) for item in reversed(value)] for name, value in model.__dict__.items()
        if isinstance(value, list) and value and isinstance(value[0], BaseModel)})


def _says(mapping: Compiled, soort: str) -> bool:
    """Whether ``mapping`` writes messages of ``soort`` (the others are refused before either writer runs)."""
    rule = mapping.top_rule("soort")
    return rule is None or rule.constant in (None, soort)


def _cases(converter: Converter) -> list[tuple[str, Compiled, Bericht]]:
    out = []
    rng = random.Random(13)
    required = set[str]()
    for mapping in converter.registry.all():
        _required(mapping.rules, required)
    for path in FIXTURES:
        bericht = converter.to_model(path.read_bytes(), path.name)[2].bericht
        pgb = bericht.model_copy(deep=True)  # a leveringsvorm the 2.1 dialects' constant does not say
        for client in pgb.clients:
            for product in client.producten:
                product.leveringsvorm = "PGB"
        variants = [bericht, pgb, _reversed(bericht)] + [_thinned(bericht, rng, required) for _ in range(40)]
        out += [(path.name, m, b) for b in variants for m in converter.registry.all()
                if (m.wet, m.versie, m.format) == (b.wet, b.versie, "xml") and _says(m, b.soort)]
    return out


def test_the_one_pass_writes_what_the_tree_writer_writes(converter: Converter, monkeypatch: pytest.MonkeyPatch) -> None:
    fits: list[str] = []
    write = reverse_text.write

    def counted(plan: reverse_text.TextPlan, data: BaseModel) -> tuple[bytes, list[str]]:
        found = write(plan, data)
        fits.append(plan.mapping.name)
        return found

    monkeypatch.setattr("gateway.mapping.reverse.write", counted)
    written = 0
    for name, mapping, bericht in _cases(converter):
        tree = _tree(mapping, bericht)
        assert _text(mapping, bericht) == tree, (name, mapping.name)
        written += isinstance(tree, tuple)
    print(f"{len(fits)} of {written} written in one pass")
    assert len(fits) > written / 2
    assert {"iwmo21-wmo301", "iwmo21-wmo302", "iwmo21-wmo315", "iwmo21-wmo316", "ijw21-jw301", "ijw21-jw302",
            "ijw21-jw316", "iwmo32-wmo317", "ijw32-jw317"} <= set(fits), set(fits)


def test_the_built_in_dialects_have_a_one_pass_plan(converter: Converter) -> None:
    """Heenberichten and retours (whose header rules come after the clients')."""
    for name in ("iwmo21-wmo301", "iwmo21-wmo302", "iwmo21-wmo305", "iwmo21-wmo307", "iwmo21-wmo315",
                 "iwmo21-wmo316", "ijw21-jw301", "ijw21-jw302", "ijw21-jw316", "iwmo32-wmo317"):
        assert reverse_text.text_plan(converter.registry.get(name)) is not None, name


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_every_fixture_is_written_back_in_one_pass_by_its_own_dialect(converter: Converter, path: Path) -> None:
    """No fixture needs the tree writer to be written in the dialect it came in (the 317 products' alternatives
    and the retours' headers included)."""
    _, mapping, result = converter.to_model(path.read_bytes(), path.name)
    plan = reverse_text.text_plan(mapping)
    assert plan is not None
    text, _ = reverse_text.write(plan, result.bericht)
    assert (text, []) == _tree(mapping, result.bericht)[:2]


def _variant(tmp_path: Path, name: str, edits: list[tuple[str, str]], append: str = "") -> Compiled:
    """The iWmo 2.1 301 dialect under another name, with ``edits`` made and ``append`` added to its rules."""
    text = (ROOT / "dialects/iwmo21/wmo301.yaml").read_text(encoding="utf-8")
    text = text.replace("name: iwmo21-wmo301", f"name: {name}").split("\ntests:")[0]
    for old, new in edits:
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text + "\n" + append, encoding="utf-8")
    return Registry(dirs=[ROOT / "dialects"], files=[path]).get(name)


AFZENDER = "  afzender: {path: m:Header/m:Afzender, required: true}\n"
IDENTIFICATIE = "  identificatie: {path: m:Header/m:BerichtIdentificatie/i:Identificatie, required: true}\n"
SHAPELESS = {
    # below the header, BerichtIdentificatie's rules come back to it after Afzender's
    "interleaved": ([(AFZENDER, ""), (IDENTIFICATIE, IDENTIFICATIE + AFZENDER)], ""),
    "two-roles": ([(AFZENDER, "  afzender: {path: m:Header, required: true}\n")], ""),  # Header a leaf, a container
    "one-path-twice": ([("  ontvanger: {path: m:Header/m:Ontvanger, required: true}\n",
                         "  ontvanger: {path: m:Header/m:Afzender, required: true}\n")], ""),
}
TOEWIJZING = ROOT / "tests/fixtures/iwmo21/CasusA-02-WMO301_toewijzing.xml"


@pytest.mark.parametrize("case", sorted(SHAPELESS))
def test_a_tree_without_a_single_shape_is_left_to_the_tree_writer(converter: Converter, tmp_path: Path,
                                                                  case: str) -> None:
    edits, append = SHAPELESS[case]
    mapping = _variant(tmp_path, f"shape-{case}", edits, append)
    assert reverse_text.text_plan(mapping) is None
    bericht = converter.convert(TOEWIJZING.read_bytes()).bericht
    assert _text(mapping, bericht) == _tree(mapping, bericht)


BERICHTCODE = "  berichtcode: {path: m:Header/m:BerichtCode, required: true}\n"
HEADER = ['  versie:\n    paths: [m:Header/m:BerichtVersie, m:Header/m:BerichtSubversie]\n    transform: {join: "."}\n',
          AFZENDER, "  ontvanger: {path: m:Header/m:Ontvanger, required: true}\n", IDENTIFICATIE,
          "  dagtekening: {path: m:Header/m:BerichtIdentificatie/i:Dagtekening, required: true}\n"]


def test_an_element_whose_rules_come_back_to_it_is_written_ahead_only_where_it_is_open(
        converter: Converter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The header's rules after the clients' but for berichtcode's (made optional), as the retour dialects have
    it: the tree writer puts the header first when berichtcode has a value, after the clients when only the
    later rules have one. The one pass writes those rules with berichtcode's, and gives up when it had none."""
    optional = BERICHTCODE.replace(", required: true", "")
    mapping = _variant(tmp_path, "header-late", [(BERICHTCODE, optional), *((line, "") for line in HEADER)],
                       "".join(HEADER))
    assert reverse_text.text_plan(mapping) is not None
    said: list[str] = []
    write = reverse_text.write

    def told(plan: reverse_text.TextPlan, data: BaseModel) -> tuple[bytes, list[str]]:
        try:
            found = write(plan, data)
        except reverse_text.Unfit as exc:
            said.append(str(exc.__cause__))
            raise
        said.append("written")
        return found

    monkeypatch.setattr("gateway.mapping.reverse.write", told)
    rng = random.Random(5)
    for path in sorted((ROOT / "tests/fixtures/iwmo21").glob("*WMO301*.xml")):
        bericht = converter.to_model(path.read_bytes(), path.name)[2].bericht
        for variant in [bericht, bericht.model_copy(update={"berichtcode": None})] + [
                _thinned(bericht, rng, {"afzender", "ontvanger", "identificatie", "dagtekening"}) for _ in range(10)]:
            assert _text(mapping, variant) == _tree(mapping, variant), path.name
    assert "written" in said and "late" in said


def test_the_interleaved_shape_is_why_the_plan_is_refused() -> None:
    """Rules writing ``A/x``, ``B``, ``A/y``: the tree writer puts ``A`` first when ``x`` has a value and after
    ``B`` when only ``y`` has one, which no text written as the rules go can follow."""
    with pytest.raises(reverse_text._Shapeless):
        reverse_text._heads([((0, 0), ("A", "x")), ((1, 0), ("B",)), ((2, 0), ("A", "y"))])
    assert reverse_text._heads([((0, 0), ("A", "x")), ((1, 0), ("A", "y")), ((2, 0), ("B",))]) == [(), ("A",)]


def test_names_and_namespaces_from_a_mapping_file_are_only_data(converter: Converter, tmp_path: Path) -> None:
    """A namespace URI with markup in it and element names a serialiser must check: either no plan, or the bytes
    of the tree writer (which hands anything unsure to lxml)."""
    uri = "urn:o'k&amp;x"
    own = "http://www.istandaarden.nl/iwmo/2_1/wmo301/schema/2_1"
    hostile = _variant(tmp_path, "hostile-namespace", [(f"  namespace: {own}\n", f'  namespace: "{uri}"\n'),
                                                       (f"  m: {own}\n", f'  m: "{uri}"\n')])
    bericht = converter.convert(TOEWIJZING.read_bytes()).bericht
    found = _text(hostile, bericht)
    assert found == _tree(hostile, bericht) and isinstance(found, tuple)
    assert b'xmlns:m="urn:o\'k&amp;amp;x"' in found[0] and reverse_text.text_plan(hostile) is not None


def _lists(plan: reverse_text.ListPlan) -> list[reverse_text.ListPlan]:
    out = [plan]
    for step in plan.steps:
        group = step if step[0] == reverse_code.GROUP else step[5] if step[0] == reverse_code.LATE else None
        if group is not None and group[0] == reverse_code.GROUP:
            out += [found for alternative in group[4] for found in _lists(alternative[3])]
    return out


def test_a_mapping_file_never_writes_code(converter: Converter, tmp_path: Path) -> None:
    """The one pass's rule lists are generated functions (gateway.mapping.reverse_code); every value of a
    mapping file reaches them as data. A constant made to break out of a string literal still gets a plan, is
    in no function's source, and the message is written as the tree writer writes it, with or without it."""
    hostile = "ZIN'); __import__('os')._exit(3) #\"\"\" {k0} \\"
    mapping = _variant(tmp_path, "hostile-constant", [("            constant: ZIN\n",
                                                        f"            constant: {json.dumps(hostile)}\n")])
    plan = reverse_text.text_plan(mapping)
    assert plan is not None
    made = [reverse_code.source(found.steps, found.where) for found in _lists(plan.root)]
    assert any(hostile in values for _, values in made) and not any("_exit" in text for text, _ in made)
    bericht = converter.to_model(TOEWIJZING.read_bytes())[2].bericht
    said = bericht.model_copy(deep=True)
    for client in said.clients:
        for product in client.producten:
            product.leveringsvorm = hostile
    for variant in (bericht, said):
        assert _text(mapping, variant) == _tree(mapping, variant)
    assert reverse_text.write(plan, said)[0] == _tree(mapping, said)[0]  # type: ignore[index]


def _set_every(model: BaseModel, kind: type, value: object) -> None:
    """Every field of ``model`` (and of the models below it) holding a ``kind`` now holds ``value``, unchecked."""
    for name, held in list(model.__dict__.items()):
        if type(held) is kind:
            model.__dict__[name] = value
        elif isinstance(held, BaseModel):
            _set_every(held, kind, value)
        elif isinstance(held, list):
            for item in held:
                if isinstance(item, BaseModel):
                    _set_every(item, kind, value)


ODD = [(dt.date, dt.date(1, 1, 1)), (dt.date, dt.date(9999, 12, 31)), (dt.date, dt.datetime(2024, 2, 29, 23, 59, 1)),
       (int, 0), (int, -7), (int, 10**30), (int, True)]
"""A date or an int the one pass writes by ``str`` (a date's and an int's own), and what only looks like one: a
datetime (whose ``str`` is not its ISO text) and a bool, which must be written as ``text_of`` writes them."""


@pytest.mark.parametrize(("kind", "value"), ODD, ids=repr)
def test_a_date_or_an_int_is_written_as_the_tree_writer_writes_it(converter: Converter, kind: type,
                                                                   value: object) -> None:
    for path in FIXTURES[::3]:
        _, mapping, result = converter.to_model(path.read_bytes(), path.name)
        bericht = result.bericht.model_copy(deep=True)
        _set_every(bericht, kind, value)
        assert _text(mapping, bericht) == _tree(mapping, bericht), (path.name, value)


@pytest.mark.parametrize("value", ["", 0, False, [], {}], ids=repr)
def test_an_empty_value_at_no_rule_s_path_is_unplaced_unless_it_is_an_empty_list_or_extra(
        converter: Converter, value: object) -> None:
    """Both writers name an empty text, a 0 or a False that no rule can place; an empty list or extra names nothing."""
    from gateway.mapping.reverse_plan import mapping_plan

    for path in FIXTURES[::4]:
        _, mapping, result = converter.to_model(path.read_bytes(), path.name)
        plan = mapping_plan(mapping)
        loose = [name for name, node in plan.others(Bericht, plan.trie) if node is None and name != "extra"]
        assert loose, path.name
        bericht = result.bericht.model_copy()
        for name in loose:
            bericht.__dict__[name] = value
        text = _text(mapping, bericht)
        assert text == _tree(mapping, bericht), path.name
        assert isinstance(text, tuple)
        named = set(text[2]) & set(loose)
        assert named == (set() if isinstance(value, list | dict) else set(loose)), (path.name, value)


def test_the_source_check_refuses_what_no_template_has() -> None:
    """The guard behind the construction: a value pasted into a generated GGk writer would be refused, whether
    a bare word, a quoted text or a quote of its own."""
    head = "def make(K, moves, tops, text, text_of, Unfit, items, chosen, field, LISTS, PLAIN):\n"
    fine = "    if not v: raise Unfit('lacking')\n    at = field(k3, v, out, one_way, '', moves, at)\n"
    reverse_code._check(head + fine)
    pasted = ("    v = ZIN\n", "    __import__(k1)\n", "    v = 'ZIN'\n", "    raise Unfit('late)\n", '    v = "a"\n')
    for bad in pasted:
        with pytest.raises(ValueError, match="generated"):
            reverse_code._check(head + bad)
