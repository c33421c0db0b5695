"""Detection remembers what a root's tag alone decided (``Registry.match``), since issue 13's tenth session.

Why: every message ran the candidates' ``match:`` checks again (~2 µs), though for most dialects (namespace and
root only) the tag says it all. The remembered answer must be the one the checks give: never where a candidate
looks inside the message (``match.xpath``/``fields``), never across a reload, and the memory stays bounded."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.ingest import read
from gateway.mapping.registry import DECIDED_KEY_MAX, DECIDED_MAX, Registry, default_dirs, examples_dir

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "mappings/examples/vendor-extensions/fixtures/toewijzing.xml"


def _messages(reference_dir: Path) -> list[tuple[str, bytes]]:
    bases = (ROOT / "tests", ROOT / "mappings", reference_dir / "samples")
    files = [p for base in bases for p in sorted(base.rglob("*"))
             if p.is_file() and p.suffix in (".xml", ".ei", ".txt") and "README" not in p.name]
    return [(p.name, p.read_bytes()) for p in files]


def _detect(registry: Registry, data: bytes, route: str | None = None) -> str:
    try:
        source = read(data)
        return registry.match(source.root, source.format, route).name
    except Exception as exc:  # unreadable or unknown: the same refusal either way
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize("route", [None, "r1"])
def test_a_remembered_detection_is_the_one_the_checks_give(reference_dir: Path, route: str | None) -> None:
    """Every fixture and sample, with the examples in play (two of them share a 2.0 301's tag and tell it apart
    by an xpath): the first detection of each (nothing remembered) equals later ones in either order."""
    registry = Registry(dirs=[*default_dirs(), examples_dir()])
    messages = _messages(reference_dir)
    cold = []
    for _, data in messages:
        registry._dispatch[1].clear()
        cold.append(_detect(registry, data, route))
    assert len(set(cold)) > 10
    for order in (messages, messages[::-1], messages):
        warm = {name + str(i): _detect(registry, data, route) for i, (name, data) in enumerate(order)}
        expected = dict(zip([n + str(i) for i, (n, _) in enumerate(order)],
                            cold if order is messages else cold[::-1], strict=True))
        assert warm == expected
    assert registry._dispatch[1], "some detections were remembered"


def test_a_candidate_that_looks_inside_keeps_the_tag_from_deciding(reference_dir: Path) -> None:
    registry = Registry(dirs=[*default_dirs(), examples_dir()])
    plain = (reference_dir / "samples/iwmo20-xml/CasusA-02-WMO301_toewijzing.xml").read_bytes()
    vendor = VENDOR.read_bytes()
    assert read(plain).root.tag == read(vendor).root.tag
    for _ in range(3):
        assert _detect(registry, plain) == "iwmo20-wmo301"
        assert _detect(registry, vendor) == "example-vendor-extensions"


def test_a_reload_forgets_what_was_decided(tmp_path: Path, reference_dir: Path) -> None:
    text = (ROOT / "dialects/iwmo20/wmo301.yaml").read_text(encoding="utf-8")
    mapping = tmp_path / "m.yaml"
    mapping.write_text(text.replace("name: iwmo20-wmo301", "name: eerste"), encoding="utf-8")
    registry = Registry(dirs=[tmp_path])
    data = (reference_dir / "samples/iwmo20-xml/CasusA-02-WMO301_toewijzing.xml").read_bytes()
    assert _detect(registry, data) == _detect(registry, data) == "eerste"
    mapping.write_text(text.replace("name: iwmo20-wmo301", "name: tweede"), encoding="utf-8")
    assert registry.reload() == []
    assert _detect(registry, data) == "tweede"


def test_what_is_remembered_stays_bounded(reference_dir: Path) -> None:
    registry = Registry()
    data = (reference_dir / "samples/iwmo20-xml/CasusA-02-WMO301_toewijzing.xml").read_bytes()
    for i in range(3 * DECIDED_MAX):
        assert _detect(registry, data, f"route-{i}") == "iwmo20-wmo301"
        assert len(registry._dispatch[1]) <= DECIDED_MAX


def test_a_long_tag_is_detected_but_not_remembered(tmp_path: Path, reference_dir: Path) -> None:
    """A mapping that leaves the namespace open matches whatever namespace a sender writes, and a tag holds its
    namespace URI: a sender could make each as long as the message. Only short tags are remembered."""
    text = (ROOT / "dialects/iwmo20/wmo301.yaml").read_text(encoding="utf-8")
    namespace = "  namespace: http://www.istandaarden.nl/iwmo/2_0/wmo301/schema/2_0\n"
    assert namespace in text
    (tmp_path / "open.yaml").write_text(text.replace(namespace, "", 1).replace("name: iwmo20-wmo301", "name: open"),
                                        encoding="utf-8")
    registry = Registry(dirs=[tmp_path])
    data = (reference_dir / "samples/iwmo20-xml/CasusA-02-WMO301_toewijzing.xml").read_bytes()
    old = b"http://www.istandaarden.nl/iwmo/2_0/wmo301/schema/2_0"
    short, long_ = b"urn:kort", b"urn:" + b"x" * (DECIDED_KEY_MAX + 10)
    for ns in (short, long_):
        assert _detect(registry, data.replace(old, ns)) == "open"
    assert [len(tag) for _, tag, _ in registry._dispatch[1]] == [len("{urn:kort}Bericht")]
