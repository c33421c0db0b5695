"""The generated untraced run (``mapping/walkgen.py``) does exactly what the interpreted one does.

``map_source`` runs a plan through a function generated from it once; ``engine._exec`` stays the reference.
Both run here over every built-in and example mapping and every message under tests/ (and the reference
samples when present): the same data, spots, consumed elements, groups and errors. A mapping file is data:
a hostile one (code in a namespace, a constant, a value map) maps as data and never enters the source.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from walks import run_walk as _run
from walks import use_walk

from gateway.ingest import InputError, read
from gateway.mapping import Compiled, Registry, engine, map_source, walkgen
from gateway.mapping.errors import ConversionError
from gateway.mapping.registry import default_dirs, examples_dir
from gateway.mapping.walkgen import _check, _Gen, walker_of

ROOT = Path(__file__).resolve().parents[1]


def _messages() -> list[tuple[str, Any]]:
    paths = sorted(p for p in (ROOT / "tests").rglob("*") if p.suffix in (".xml", ".ei") and p.is_file())
    reference = os.environ.get("OVERSTAP_REFERENCE_DIR")
    if reference and (Path(reference) / "samples").is_dir():
        paths += sorted(p for p in (Path(reference) / "samples").rglob("*") if p.is_file())
    out = []
    for path in paths:
        try:
            out.append((path.name, read(path.read_bytes(), path.name).root))
        except (InputError, ValueError, OSError):
            continue
    return out


REGISTRY = Registry(dirs=[*default_dirs(), examples_dir()])
MESSAGES = _messages()


@pytest.mark.parametrize("mapping", REGISTRY.all(), ids=lambda m: m.name)
def test_the_generated_run_is_the_interpreted_run(mapping: Compiled) -> None:
    assert MESSAGES
    for _name, root in MESSAGES:
        for track in (True, False):
            assert _run(mapping, root, track, True) == _run(mapping, root, track, False)


@pytest.mark.parametrize("mapping", REGISTRY.all(), ids=lambda m: m.name)
def test_the_native_run_is_the_generated_run(mapping: Compiled, monkeypatch: pytest.MonkeyPatch) -> None:
    """Data, errors, groups, what was read and what was left for the unmapped check: the same, message by
    message (the spots in the same order)."""
    use_walk("native", monkeypatch)
    for _name, root in MESSAGES:
        for track in (True, False):
            assert _run(mapping, root, track, True, native=True) == _run(mapping, root, track, True)


@pytest.mark.parametrize("mapping", REGISTRY.all(), ids=lambda m: m.name)
def test_map_source_gives_what_the_reference_gives(mapping: Compiled, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole of ``map_source`` (model, unmapped, warnings, errors), generated run against reference."""
    def result(name: str, root: Any) -> tuple[Any, ...]:
        try:
            r = map_source(mapping, root, source=name)
        except ConversionError as exc:
            return (str(exc), exc.field, exc.line)
        return (r.bericht.model_dump_json(), r.data, r.warnings, r.unmapped, r.groups)

    monkeypatch.setattr(walkgen, "NATIVE", False)
    fast = [result(name, root) for name, root in MESSAGES]
    if walkgen._native is not None:
        monkeypatch.setattr(walkgen, "NATIVE", True)
        assert [result(name, root) for name, root in MESSAGES] == fast
    monkeypatch.setattr(engine, "GENERATED", False)
    assert fast == [result(name, root) for name, root in MESSAGES]


HOSTILE_NS = "urn:x'''+__import__('os').system('touch_PWNED');'"  # a URI libxml2 accepts
CODE = "\"); __import__('os').system('touch PWNED') #"
HOSTILE = f"""overstap-mapping: 1
name: hostile
wet: wmo
bericht: "301"
versie: "2.0"
format: xml
match:
  namespace: {json.dumps(HOSTILE_NS)}
  root: Bericht
namespaces:
  m: {json.dumps(HOSTILE_NS)}
value_maps:
  geslacht:
    values: {{{json.dumps("1" + CODE)}: "1", "2": "2"}}
    fallback: error
rules:
  wet: {{constant: wmo}}
  soort: {{constant: toewijzing}}
  berichtcode: {{path: m:Header/m:Code, required: true}}
  versie: {{constant: {json.dumps("2.0" + CODE)}}}
  afzender: m:Header/m:Afzender
  ontvanger: m:Header/m:Ontvanger
  identificatie: m:Header/m:Id
  dagtekening: m:Header/m:Dag
  clients:
    each: m:Client
    rules:
      bsn: m:Bsn
      geslacht: {{path: m:Geslacht, map: geslacht}}
"""


def test_a_hostile_mapping_file_stays_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hostile.yaml").write_text(HOSTILE)
    mapping = Registry(dirs=[]).get(str(tmp_path / "hostile.yaml"))
    text, names = _Gen(mapping.plan, engine._HELPERS, {id(s.rule): None for s in mapping.plan.steps}).function()
    assert "__import__" not in text and "PWNED" not in text and "urn:x" not in text
    tags = [key for value in names.values() if isinstance(value, dict) for key in value if isinstance(key, str)]
    assert any(HOSTILE_NS in tag for tag in tags)  # the namespace is in a bound table's tags
    xml = (f'<Bericht xmlns="{HOSTILE_NS}"><Header><Code>414</Code><Afzender>0384</Afzender><Ontvanger>1</Ontvanger>'
           '<Id>a</Id><Dag>2016-02-20</Dag></Header><Client><Bsn>123456782</Bsn><Geslacht>2</Geslacht></Client>'
           '</Bericht>').encode()
    root = read(xml, "h.xml").root
    failure, data = _run(mapping, root, False, True)[:2]
    assert failure is None
    assert data["versie"].endswith("touch PWNED') #") and data["clients"][0]["geslacht"] == "2"
    assert _run(mapping, root, True, True) == _run(mapping, root, True, False)
    assert not list(tmp_path.iterdir())[1:]  # the mapping file, and no PWNED beside it


def test_the_source_check_refuses_a_word_no_template_has() -> None:
    """The guard behind the construction: a mapping's text pasted into the source would be refused."""
    _check("def run(ctx, o0, prefix, st):\n    return None\n", {})
    for bad in ("    __import__\n", "    x = 'a'\n", "    o0[K1] = K2  # note\n", "    run(); run()\n"):
        with pytest.raises(ValueError, match="generated walk"):
            _check("def run(ctx, o0, prefix, st):\n" + bad, {})


def test_a_trie_too_deep_to_unroll_runs_interpreted(monkeypatch: pytest.MonkeyPatch) -> None:
    mapping = Registry(dirs=default_dirs()).get("iwmo21-wmo301")  # its own plans: the walkers made here stay here
    monkeypatch.setattr("gateway.mapping.walkgen.MAX_DEPTH", 1)
    monkeypatch.setattr(walkgen, "NATIVE", False)  # the native walk recurses in C along the trie: no limit
    run = walker_of(mapping.plan, engine._HELPERS, engine._interpreted)  # type: ignore[arg-type]
    assert run.__qualname__.startswith("_interpreted")
    for _name, root in MESSAGES:
        assert _run(mapping, root, True, True) == _run(mapping, root, True, False)
