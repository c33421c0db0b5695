"""docs/mapping-reference.md: every yaml block compiles, covers every construct and transform, and its
tests: example runs. Keeps the reference from drifting away from the compiler."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from gateway.mapping import Registry, default_dirs, parts
from gateway.mapping import compiler as c
from gateway.mapping import transforms as tf
from gateway.mapping.rules import FieldRule, GroupRule
from gateway.tooling.mappingtest import SKIP, report, run_file

DOC = Path(__file__).resolve().parents[1] / "docs" / "mapping-reference.md"
_BLOCK = re.compile(r"(?:<!-- file: (?P<file>[\w.-]+) -->\n)?```(?P<lang>\w+)\n(?P<body>.*?)```", re.S)


def blocks() -> list[tuple[str, str | None, str]]:
    return [(m["lang"], m["file"], m["body"]) for m in _BLOCK.finditer(DOC.read_text(encoding="utf-8"))]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("doc")
    paths: list[Path] = []
    for i, (lang, name, body) in enumerate(blocks()):
        if lang not in ("yaml", "csv"):
            continue
        path = folder / (name or f"example-{i}.{lang}")
        path.write_text(body, encoding="utf-8")
        if lang == "yaml":
            paths.append(path)
    registry = Registry(dirs=default_dirs(), files=paths)
    return {"registry": registry, "paths": paths, "mappings": {p: registry.get(str(p)) for p in paths}}


def test_the_reference_has_many_examples() -> None:
    assert sum(lang == "yaml" for lang, _, _ in blocks()) >= 15


def test_every_yaml_block_compiles(compiled: dict[str, Any]) -> None:
    assert not compiled["registry"].errors, compiled["registry"].errors
    assert len(compiled["mappings"]) == sum(lang == "yaml" for lang, _, _ in blocks())


def _rules(rules: list[Any]) -> list[FieldRule]:
    out: list[FieldRule] = []
    for rule in rules:
        out += _rules(rule.rules) if isinstance(rule, GroupRule) else [rule]
    return out


def test_every_construct_has_an_example(compiled: dict[str, Any]) -> None:
    raws = [m.raw for m in compiled["mappings"].values()]
    top = set().union(*(set(r) for r in raws))
    assert set(c.TOP_KEYS) <= top, set(c.TOP_KEYS) - top
    matches = set().union(*(set(r.get("match") or {}) for r in raws))
    assert matches >= c.MATCH_KEYS, c.MATCH_KEYS - matches
    renders = set().union(*(set(r.get("render") or {}) for r in raws))
    assert renders >= c.RENDER_KEYS, c.RENDER_KEYS - renders
    maps = [body for r in raws for body in (r.get("value_maps") or {}).values()]
    assert set().union(*(set(m) for m in maps)) >= parts.MAP_KEYS
    assert {m.get("fallback", "error") for m in maps} >= set(parts.FALLBACKS)
    assert {r.get("strictness") for r in raws} >= {"lenient"}
    tests = [t for r in raws for t in r.get("tests") or []]
    assert set().union(*(set(t) for t in tests)) >= c.TEST_KEYS, c.TEST_KEYS - set().union(*(set(t) for t in tests))
    field_keys: set[str] = set()
    group_keys: set[str] = set()

    def walk(spec: Any) -> None:
        for body in (spec or {}).values():
            if isinstance(body, dict) and "each" in body:
                group_keys.update(body)
                walk(body.get("rules"))
            elif isinstance(body, dict):
                field_keys.update(body)

    for raw in raws:
        walk(raw.get("rules"))
    assert field_keys >= c.FIELD_KEYS, c.FIELD_KEYS - field_keys
    assert c.GROUP_KEYS - {"note"} <= group_keys, c.GROUP_KEYS - group_keys
    text = DOC.read_text(encoding="utf-8")
    assert ": null" in text and "<<: *" in text and "&naam" in text and "each: ." in text


def test_every_transform_is_used_in_an_example_and_listed_in_the_table(compiled: dict[str, Any]) -> None:
    used = {t.name for m in compiled["mappings"].values() for rule in _rules(m.rules) for t, _ in rule.transforms}
    assert set(tf.REGISTRY) <= used, set(tf.REGISTRY) - used
    text = DOC.read_text(encoding="utf-8")
    for name in tf.REGISTRY:
        assert f"| `{name}`" in text or f"`{name}`, `" in text or f", `{name}` |" in text, name


def test_the_tests_example_runs(compiled: dict[str, Any]) -> None:
    (path,) = [p for p, m in compiled["mappings"].items() if m.name == "doc-tests"]
    result = run_file(path, compiled["registry"])
    assert result.ok, "\n".join(report([result]))
    if all(case.status == SKIP for case in result.cases):
        pytest.skip("reference samples absent")
    assert len(result.cases) == 3


def test_the_berichtcode_table_is_the_code_list() -> None:
    from gateway.model.codes import BERICHTCODES, BERICHTNUMMERS

    rows = re.findall(r"^\| (\d{3}) \| (wmo|jw) \| (\w+) \| `([\w-]+)` \|$", DOC.read_text(encoding="utf-8"), re.M)
    assert {code: (wet, soort) for code, wet, _, soort in rows} == BERICHTCODES
    assert all(family.endswith(BERICHTNUMMERS[soort]) for _, _, family, soort in rows)
