"""The native trie walk (``mapping/_native.pyx``) against the generated Python walk, on messages bent out of shape.

``test_engine_generated`` compares the two on every message the project holds; here each sample is changed in
one place the way a sender could (or lxml could: CDATA, adjacent text nodes) — a comment or processing
instruction among the children or inside a leaf, CDATA, Unicode blanks around a value, a value made empty, an
element repeated, an attribute, an unknown child, an element moved to another namespace, non-ASCII text, a
child under a leaf — and both walks must give the same data, errors, reads and unmapped values.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from walks import run_walk, use_walk

from gateway.ingest import InputError, read
from gateway.mapping import Compiled, Registry, engine, map_source, walkgen
from gateway.mapping.errors import ConversionError
from gateway.mapping.registry import default_dirs, examples_dir
from gateway.mapping.result import MapState
from gateway.mapping.unmapped import _all_read

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = Registry(dirs=[*default_dirs(), examples_dir()])


def _samples() -> list[tuple[bytes, Compiled]]:
    paths = sorted(p for p in (ROOT / "tests" / "fixtures").rglob("*.xml") if p.is_file())
    reference = os.environ.get("OVERSTAP_REFERENCE_DIR")
    if reference and (Path(reference) / "samples" / "iwmo20-xml").is_dir():
        paths += sorted((Path(reference) / "samples" / "iwmo20-xml").glob("*.xml"))
    out = []
    for path in paths:
        data = path.read_bytes()
        try:
            source = read(data, path.name)
            out.append((data, REGISTRY.match(source.root, source.format, among=None, source=path.name)))
        except (InputError, ConversionError, ValueError):
            continue
    return out


SAMPLES = _samples()
OTHER_NS = "urn:overstap:test:elders"


def _bend(root: etree._Element, kind: str, at: int, text: str) -> None:
    """Change ``root`` in one place: ``kind`` at its ``at``-th element (modulo their number)."""
    elements = list(root.iter(etree.Element))
    el = elements[at % len(elements)]
    if kind == "comment":
        el.addprevious(etree.Comment(" c ")) if el.getparent() is not None else el.insert(0, etree.Comment("c"))
    elif kind == "comment-inside":
        el.insert(0, etree.Comment(" c "))
    elif kind == "pi":
        el.insert(0, etree.ProcessingInstruction("x", "y"))
    elif kind == "cdata":
        el.text = etree.CDATA(text or "v")
    elif kind == "blanks":
        el.text = f"\u00a0{el.text or ''}\u2003\u3000"
    elif kind == "empty":
        el.text = "" if text else None
    elif kind == "repeat" and el.getparent() is not None:
        el.addnext(copy.deepcopy(el))
    elif kind == "attribute":
        el.set("soort", text or "x")
    elif kind == "unknown":
        etree.SubElement(el, f"{{{etree.QName(el).namespace or ''}}}Onbekend" if etree.QName(el).namespace
                         else "Onbekend").text = text or "w"
    elif kind == "namespace":
        el.tag = f"{{{OTHER_NS}}}{etree.QName(el).localname}"
    elif kind == "unqualified":
        el.tag = etree.QName(el).localname
    elif kind == "text":
        el.text = text
    elif kind == "child-under-leaf" and not len(el):
        etree.SubElement(el, el.tag).text = text or "z"
    elif kind == "tail-text":
        el.tail = text or "t"


KINDS = ["comment", "comment-inside", "pi", "cdata", "blanks", "empty", "repeat", "attribute", "unknown",
         "namespace", "unqualified", "text", "child-under-leaf", "tail-text"]
TEXTS = st.sampled_from(["", " ", "é", "😀 x", "2016-02-20", "\u00a0", "1", "123456782", "a\tb"])


def _result(mapping: Compiled, root: etree._Element, native: bool) -> tuple[Any, ...]:
    was = walkgen.NATIVE
    walkgen.NATIVE = native
    try:
        try:
            r = map_source(mapping, root, source="m.xml")
        except ConversionError as exc:
            return ("error", str(exc), exc.field, exc.line)
        return (r.bericht.model_dump_json(), r.data, r.warnings, r.unmapped, r.groups)
    finally:
        walkgen.NATIVE = was


def _spots(mapping: Compiled, root: etree._Element, native: bool) -> tuple[Any, ...]:
    """The untraced walk alone (tracking what it reads): what it stored and left for the check."""
    return run_walk(mapping, root, True, True, native)


def _vouches(mapping: Compiled, root: etree._Element, native: bool) -> bool | None:
    """Whether the untraced walk's record vouches that nothing is left unmapped (no full scan needed): the
    native Track's check or unmapped._all_read; None when the walk hands over to the traced run."""
    was = walkgen.NATIVE
    walkgen.NATIVE = native
    state = MapState("m.xml", False, True, mapping.strictness == "lenient")
    try:
        walkgen.walker_of(mapping.plan, engine._HELPERS, engine._interpreted)(root, {}, "", state)  # type: ignore[arg-type]
    except (engine._Ambiguous, ConversionError):
        return None
    finally:
        walkgen.NATIVE = was
    if native:
        return bool(state.native.all_read(root, state.consumed, state.spots))
    return _all_read(root, state)


def test_the_samples_need_no_full_scan() -> None:
    """The fast path is taken: for every clean sample the native record vouches, as the Python one does."""
    vouched = [_vouches(mapping, etree.fromstring(data), True) for data, mapping in SAMPLES]
    assert vouched == [_vouches(mapping, etree.fromstring(data), False) for data, mapping in SAMPLES]
    assert all(vouched)  # clean samples: every value read


@pytest.fixture(autouse=True)
def native_built(monkeypatch: pytest.MonkeyPatch) -> None:
    use_walk("native", monkeypatch)


def test_the_walks_differ_where_a_value_differs() -> None:
    """The comparison can fail: a value changed in one copy shows in the native result."""
    data, mapping = next((d, m) for d, m in SAMPLES if b"Bsn>" in d)
    root = etree.fromstring(data)
    bent = etree.fromstring(data)
    bsn = next(el for el in bent.iter(etree.Element) if etree.QName(el).localname == "Bsn")
    bsn.text = "999999990"
    assert _result(mapping, root, True) != _result(mapping, bent, True)


def test_adjacent_text_nodes_are_read_as_lxml_reads_them() -> None:
    """A leaf holding text, then CDATA: the native walk asks lxml for such texts, never guesses."""
    data, mapping = next((d, m) for d, m in SAMPLES if b"Achternaam>" in d)
    parser = etree.XMLParser(strip_cdata=False)
    bent = data.replace(b"Achternaam>", b"Achternaam>Van<![CDATA[ der ]]>", 1)
    root = etree.fromstring(bent, parser)
    native = _result(mapping, root, True)
    assert native == _result(mapping, root, False)
    assert "Van der" in str(native[1])


@pytest.mark.parametrize("kind", KINDS)
def test_every_element_bent_one_way_walks_natively_as_in_python(kind: str) -> None:
    """Each sample bent at each of its elements in turn, one kind of change: exhaustive where the property
    test above samples combinations."""
    for data, mapping in {mapping.name: (data, mapping) for data, mapping in SAMPLES}.values():
        count = sum(1 for _ in etree.fromstring(data).iter(etree.Element))
        for at in range(count):
            root = etree.fromstring(data, etree.XMLParser(strip_cdata=False))
            _bend(root, kind, at, "é x")
            walked = _spots(mapping, root, True)
            assert walked == _spots(mapping, root, False), (kind, at)
            assert _vouches(mapping, root, True) == _vouches(mapping, root, False), (kind, at)
            if walked[0] is None:  # an ambiguous walk hands over to the traced run, which is not native
                assert _result(mapping, root, True) == _result(mapping, root, False), (kind, at)


def test_a_build_from_another_source_is_not_used(tmp_path: Path) -> None:
    """A stale build (the .pyx edited, `make venv` not run) must not walk: the digest it was built with decides."""
    source = Path(walkgen.__file__).with_name("_native.pyx")
    assert walkgen._load_native(source) == (walkgen._native, None)
    edited = tmp_path / "_native.pyx"
    edited.write_bytes(source.read_bytes() + b"\n# edited\n")
    module, why = walkgen._load_native(edited)
    assert module is None and why is not None and "another version" in why


def test_a_walked_subtree_taken_out_of_its_document_stays_alive_with_the_track() -> None:
    """lxml frees a subtree taken out of its document once no proxy into it is left; the Track keeps the proxy
    of each element a walk started from, so the pointers it holds never point into freed memory."""
    data, mapping = next((d, m) for d, m in SAMPLES if b"Client>" in d and m.name.startswith("iwmo"))
    root = etree.fromstring(data)
    client = next(el for el in root.iter(etree.Element) if etree.QName(el).localname == "Client")
    client.getparent().remove(client)
    state = MapState("m.xml", False, True, False)
    walker = walkgen.walker_of(mapping.plan, engine._HELPERS, engine._interpreted)
    with contextlib.suppress(engine._Ambiguous):  # a required header field is missing: the walk has still run
        walker(client, {}, "", state)  # type: ignore[arg-type]
    tags = [etree.QName(el).localname for el in client.iter(etree.Element)]
    del client
    gc.collect()
    junk = [etree.fromstring(b"<z>" + b"<y a='1'>q</y>" * 40 + b"</z>") for _ in range(200)]  # reuse freed memory
    spots: list[etree._Element] = []
    state.native.materialise(set(), spots)
    assert spots and {etree.QName(el).localname for el in spots} <= set(tags)
    assert junk


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(sample=st.integers(min_value=0), bends=st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 400), TEXTS),
                                                       min_size=1, max_size=3))
def test_a_bent_message_walks_natively_as_in_python(sample: int, bends: list[tuple[str, int, str]]) -> None:
    assert SAMPLES
    data, mapping = SAMPLES[sample % len(SAMPLES)]
    root = etree.fromstring(data, etree.XMLParser(strip_cdata=False, resolve_entities=False, no_network=True))
    for kind, at, text in bends:
        _bend(root, kind, at, text)
    assert _result(mapping, root, True) == _result(mapping, root, False)
    assert _spots(mapping, root, True) == _spots(mapping, root, False)
