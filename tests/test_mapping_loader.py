"""The mapping loader reads YAML with libyaml's C parser where PyYAML has it, and with the pure-Python one
otherwise (or to word an error). Both must give the same located tree — values, types, key order and every
line:column an error message may quote — for every YAML file the project ships."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.mapping import loader

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted(p for folder in ("mappings", "dialects", "tests/fixtures") for p in (ROOT / folder).rglob("*.y*ml"))
needs_c = pytest.mark.skipif(not loader._C_PARSER, reason="PyYAML was built without libyaml here")


def located(node: Any) -> Any:
    """Everything the loader hands on, positions included, as plain comparable data."""
    if isinstance(node, loader.LocatedDict):
        return ("map", node.loc, [(k, node.key_locs[k], node.value_locs[k], located(v)) for k, v in node.items()])
    if isinstance(node, loader.LocatedList):
        return ("seq", node.loc, node.item_locs, [located(v) for v in node])
    return (type(node).__name__, node)


def read(text: str, parser: type) -> Any:
    try:
        return located(yaml.load(text, Loader=parser))
    except yaml.YAMLError as exc:
        return ("error", str(exc))


def test_the_project_ships_yaml_to_compare() -> None:
    assert len(FILES) > 40


@needs_c
@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_c_parser_gives_the_pure_parsers_located_tree(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    pure = read(text, loader._Loader)
    if pure[0] == "error":
        pytest.skip("a file the pure parser refuses: see the error test below")
    assert read(text, loader._FastLoader) == pure


@pytest.mark.parametrize("text", [
    "a: {b: 1: c}\n",  # a flow mapping broken the way tests/fixtures/broken-mappings/yaml-syntax.yaml is
    "name: x\nname: y\n",  # our own duplicate-key refusal
    "rules:\n  a: [1, 2\n",  # an unclosed flow sequence
    "a: b\n\tc: d\n",  # a tab where indentation is expected
])
def test_an_error_reads_the_same_whichever_parser_the_machine_has(text: str) -> None:
    with pytest.raises(yaml.YAMLError) as pure:
        yaml.load(text, Loader=loader._Loader)
    with pytest.raises(yaml.YAMLError) as through_loader:
        loader.load_yaml(text)
    assert str(through_loader.value) == str(pure.value)


@needs_c
def test_load_yaml_uses_the_c_parser_when_it_can(monkeypatch: pytest.MonkeyPatch) -> None:
    used: list[type] = []
    real = loader.load_bounded
    monkeypatch.setattr(loader, "load_bounded", lambda text, cls: used.append(cls) or real(text, cls))
    loader.load_yaml("a: '01'\nb: 0384\nc: true\n")
    assert used == [loader._FastLoader]
    assert loader.load_yaml("b: 0384\nc: true\nd: null\ne: 1.5\n") == {"b": "0384", "c": True, "d": None, "e": "1.5"}
