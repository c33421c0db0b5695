"""docs/mapping-reference.md: every yaml block compiles, covers every construct and transform, and its
tests: example runs. Keeps the reference from drifting away from the compiler.

And the user docs (README.md, docs/*.md but the performance logs): every `overstap …` command they name
exists with the options they give it, every relative link (and #section) resolves, every complete mapping
file compiles and every sidecar config loads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

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


ROOT = DOC.parents[1]
USER_DOCS = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if not p.name.startswith("perf"))]
_COMMAND = re.compile(r"(?:^|[\s`(/$])overstap((?: [a-z][a-z-]*)+)(.*?)(?=`|#|;|\boverstap |$)")
_PIPE = re.compile(r"(?<![\w\\])\|\s*[a-z]")


def _own_part(rest: str) -> str:
    """What of the text after a command is its own: up to a shell pipe into another program (``| grep``; a ``|``
    between alternatives, ``zaak|created`` or ``\\| --all-dead``, is the synopsis's) or a ``)`` closing the prose
    around it (``(overstap x --y)``; a synopsis's own ``(--store is the same option)`` is kept)."""
    piped = _PIPE.search(rest)
    rest = rest[: piped.start()] if piped else rest
    depth = 0
    for i, char in enumerate(rest):
        depth += (char == "(") - (char == ")")
        if depth < 0:
            return rest[:i]
    return rest
MAPPING_OR_CONFIG = ("overstap-mapping:", "listen:", "data_dir:", "mappings:")
"""How a yaml block that is a whole mapping file or sidecar config starts (fragments start elsewhere)."""
_CODE_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _code_lines(text: str) -> list[tuple[int, str]]:
    """Lines of fenced blocks (a trailing backslash joins the next) and of `code` spans, with line numbers."""
    out: list[tuple[int, str]] = []
    for block in _CODE_BLOCK.finditer(text):
        start = text[: block.start(2)].count("\n") + 1
        joined, first = "", None
        for n, line in enumerate(block[2].splitlines(), start):
            first = first if joined else n
            if line.rstrip().endswith("\\"):
                joined += line.rstrip()[:-1] + " "
                continue
            if out and not joined and out[-1][0] >= start and re.match(r"\s+(\[|--)", line):
                out[-1] = (out[-1][0], f"{out[-1][1]} {line.strip()}")  # a synopsis continued without a backslash
                continue
            out.append((first or n, joined + line))
            joined = ""
    for n, line in enumerate(text.splitlines(), 1):
        out += [(n, span) for span in re.findall(r"`([^`]*)`", line) if "overstap " in span]
    return out


def _known_options(command: click.Command) -> set[str]:
    if isinstance(command, click.Group):
        return set().union(*(_known_options(c) for c in command.commands.values()))
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"--help", "-h"}


def test_every_command_in_the_docs_exists_with_its_options() -> None:
    from gateway.cli import every_command

    main = every_command()  # the commands are imported when named; the walk below reads main.commands
    problems: list[str] = []
    for doc in USER_DOCS:
        for n, line in _code_lines(doc.read_text(encoding="utf-8")):
            for m in _COMMAND.finditer(line):
                words, command, used = m[1].split(), main, 0
                while used < len(words) and isinstance(command, click.Group) and words[used] in command.commands:
                    command, used = command.commands[words[used]], used + 1
                if not used or (isinstance(command, click.Group) and used < len(words)):
                    problems.append(f"{doc.name}:{n}: no command 'overstap {' '.join(words[:used + 1])}'")
                    continue
                rest = _own_part(" ".join(words[used:]) + m[2])
                for option in set(re.findall(r"(?<![\w/=-])(--?[a-z][\w-]*)", rest)) - _known_options(command):
                    problems.append(f"{doc.name}:{n}: 'overstap {' '.join(words[:used])}' has no option {option}")
    assert not problems, "\n".join(problems)


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_in_the_docs_resolves() -> None:
    problems: list[str] = []
    for doc in USER_DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            found = (doc.parent / path) if path else doc
            if not found.exists():
                problems.append(f"{doc.name}: {target}: no such file")
            elif anchor and found.suffix == ".md":
                headings = {_slug(h) for h in re.findall(r"^#+ (.*)$", found.read_text(encoding="utf-8"), re.M)}
                if anchor not in headings:
                    problems.append(f"{doc.name}: {target}: no such section")
    assert not problems, "\n".join(problems)


def test_every_complete_mapping_file_and_sidecar_config_in_the_docs_loads(tmp_path: Path) -> None:
    from gateway.proxy.config_file import from_dict, substitute

    mappings: list[Path] = []
    configs = 0
    for doc in USER_DOCS:
        if doc == DOC:
            continue  # its own tests above
        for block in _CODE_BLOCK.finditer(doc.read_text(encoding="utf-8")):
            if block[1] != "yaml" or not block[2].lstrip().startswith(MAPPING_OR_CONFIG):
                continue
            if block[2].lstrip().startswith("overstap-mapping:"):
                mappings.append(tmp_path / f"{doc.stem}-{len(mappings)}.yaml")
                mappings[-1].write_text(block[2], encoding="utf-8")
                continue
            env = {name: "x" for name in re.findall(r"\$\{(\w+)", block[2])}
            from_dict(substitute(yaml.safe_load(block[2]), env), ROOT)  # raises ConfigError naming the place
            configs += 1
    registry = Registry(dirs=default_dirs(), files=mappings)
    assert mappings and configs >= 3
    assert not registry.errors, registry.errors
    assert all(registry.get(str(path)) for path in mappings)
