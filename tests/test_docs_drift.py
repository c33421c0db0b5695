"""The user docs (README.md, docs/*.md but the performance logs) against the code, without starting anything.

tests/test_mapping_reference_doc.py checks that every `overstap …` command the docs name exists with its options
and that whole mapping files and sidecar configs load. This file closes what that leaves open, each a way the docs
drifted from the code before session 29:

* every YAML block, fragments included (`console:` alone, a mapping file's `render:`), uses only keys the config
  loader or the mapping compiler accepts, section by section; a block of no known kind is itself a finding, so a
  misspelt first key cannot make a block pass unchecked;
* every option `--help` lists for a command, and every variable the Makefile lets a user set (`make run PORT=…`), is
  findable in the docs (an operator cannot use what is not there);
* every schema revision the docs print as head (`0010 (head)`, `this one reads 0010`) is the code's head.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
import yaml

from gateway.console.settings import KEYS as CONSOLE_KEYS
from gateway.mapping import compiler
from gateway.mapping.parts import MAP_KEYS
from gateway.proxy import config_file as cf
from gateway.proxy.render_config import RENDER_KEYS, ZAAKTYPE_KEYS
from gateway.schema import HEAD

ROOT = Path(__file__).resolve().parents[1]
USER_DOCS = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if not p.name.startswith("perf"))]
GUIDES = [doc for doc in USER_DOCS if doc.name != "testing.md"]
"""Where a user looks up an option or a make variable: not docs/testing.md, whose mutant lists name the very options
and variables their mutants take out of the guides (so a mutant would find its name there and survive)."""
_YAML_BLOCK = re.compile(r"^```ya?ml\n(.*?)^```", re.S | re.M)
OTHER_KINDS = {"apiVersion", "services", "args", "scenarios"}
"""First keys of the YAML blocks that are neither Overstap config nor mapping file: Kubernetes and Compose
manifests (and a fragment of one), compliance scenario files (their own loader, tests/test_compliance*.py)."""
MAPPING_ONLY = set(compiler.TOP_KEYS) - cf.TOP_KEYS


def yaml_blocks() -> list[tuple[str, int, Any]]:
    """(doc name, line, parsed document) of every fenced yaml block; a block of several documents gives each."""
    out: list[tuple[str, int, Any]] = []
    for doc in USER_DOCS:
        text = doc.read_text(encoding="utf-8")
        for block in _YAML_BLOCK.finditer(text):
            line = text[: block.start()].count("\n") + 1
            out += [(doc.name, line, parsed) for parsed in yaml.safe_load_all(block[1]) if parsed is not None]
    return out


def _unknown(node: Any, allowed: set[str], where: str) -> list[str]:
    if not isinstance(node, dict):
        return []
    return [f"{where}.{key}" if where else str(key) for key in node if key not in allowed]


def _each(node: Any) -> list[tuple[str, Any]]:
    return [(str(k), v) for k, v in node.items()] if isinstance(node, dict) else []


def _render(node: Any, where: str) -> list[str]:
    found = _unknown(node, RENDER_KEYS, where)
    for name, entry in _each((node or {}).get("zaaktypen") if isinstance(node, dict) else None):
        found += _unknown(entry, ZAAKTYPE_KEYS, f"{where}.zaaktypen.{name}")
    return found


def _downstream(node: Any, where: str) -> list[str]:
    found = _unknown(node, cf.DOWNSTREAM_KEYS, where)
    return found + _unknown((node or {}).get("retry") if isinstance(node, dict) else None, cf.RETRY_KEYS,
                            f"{where}.retry")


def config_problems(doc: dict[str, Any]) -> list[str]:
    """The keys of a sidecar config (or a fragment of one) that the loader would refuse, by place."""
    found = _unknown(doc, cf.TOP_KEYS, "")
    for section, keys in (("listen", cf.LISTEN_KEYS), ("tls", cf.TLS_KEYS), ("reply", cf.REPLY_KEYS),
                          ("retry", cf.RETRY_KEYS), ("console", CONSOLE_KEYS)):
        found += _unknown(doc.get(section), keys, section)
    found += _render(doc.get("render"), "render")
    for name, entry in _each(doc.get("downstreams")):
        found += _downstream(entry, f"downstreams.{name}")
    for name, route in _each(doc.get("routes")):
        found += _unknown(route, cf.ROUTE_KEYS, f"routes.{name}")
        if isinstance(route, dict):
            found += _render(route.get("render"), f"routes.{name}.render")
            found += _downstream(route.get("downstream"), f"routes.{name}.downstream")
    return found


def mapping_problems(doc: dict[str, Any]) -> list[str]:
    """The keys of a mapping file (or a fragment of one) the compiler would refuse; `rules:` is the compiler's
    own to check (docs/mapping-reference.md compiles whole files)."""
    found = _unknown(doc, set(compiler.TOP_KEYS), "")
    found += _unknown(doc.get("match"), compiler.MATCH_KEYS, "match")
    found += _unknown(doc.get("render"), compiler.RENDER_KEYS, "render")
    for name, entry in _each(doc.get("value_maps")):
        found += _unknown(entry, MAP_KEYS, f"value_maps.{name}")
    for i, case in enumerate(doc.get("tests") or []):
        found += _unknown(case, compiler.TEST_KEYS, f"tests[{i}]")
    return found


def test_every_yaml_block_in_the_docs_uses_only_keys_the_loaders_accept() -> None:
    problems: list[str] = []
    kinds = {"config": 0, "mapping": 0}
    for name, line, doc in yaml_blocks():
        keys = set(doc) if isinstance(doc, dict) else set()
        if keys & OTHER_KINDS:
            continue
        if keys and (keys & MAPPING_ONLY or keys <= set(compiler.TOP_KEYS)):
            kinds["mapping"] += 1
            problems += [f"{name}:{line}: mapping file key {k} is not one the compiler knows"
                         for k in mapping_problems(doc)]
        elif keys & cf.TOP_KEYS:
            kinds["config"] += 1
            problems += [f"{name}:{line}: config key {k} is not one the loader accepts" for k in config_problems(doc)]
        else:
            problems.append(f"{name}:{line}: a yaml block of no known kind (first keys {sorted(keys)[:3]})")
    assert not problems, "\n".join(problems)
    assert kinds["config"] >= 4 and kinds["mapping"] >= 20, kinds


def test_the_key_check_finds_a_misspelt_key_at_every_depth() -> None:
    """The check itself: a wrong key is named in each section the docs' blocks use."""
    doc = {"listen": {"hots": 1}, "console": {"session_minute": 1}, "render": {"zaaktypen": {"w": {"cod": 1}}},
           "downstreams": {"z": {"url": "u", "retry": {"max_attempt": 1}}},
           "routes": {"r": {"mapings": 1, "render": {"zendr": 1}, "downstream": {"ulr": 1}}}, "renew_grase": 1}
    assert sorted(config_problems(doc)) == sorted([
        "listen.hots", "console.session_minute", "render.zaaktypen.w.cod", "downstreams.z.retry.max_attempt",
        "routes.r.mapings", "routes.r.render.zendr", "routes.r.downstream.ulr", "renew_grase"])
    assert sorted(mapping_problems({"match": {"rot": 1}, "render": {"zaaktypen": 1}, "value_maps": {"m": {"csvv": 1}},
                                    "tests": [{"expects": 1}], "rule": 1})) == sorted([
        "match.rot", "render.zaaktypen", "value_maps.m.csvv", "tests[0].expects", "rule"])


def _leaves(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[str, click.Command]]:
    if isinstance(command, click.Group):
        return [leaf for name, sub in command.commands.items() for leaf in _leaves(sub, (*path, name))]
    return [(" ".join(path), command)]


def test_every_option_of_every_command_is_findable_in_the_docs() -> None:
    from gateway.cli import every_command

    main = every_command()  # the commands are imported when named: all of them, or the walk would miss some
    text = "\n".join(doc.read_text(encoding="utf-8") for doc in GUIDES)
    missing = [f"overstap {name} {option}" for name, command in _leaves(main) if not command.hidden
               for param in command.params if not getattr(param, "hidden", False)
               for option in (*param.opts, *param.secondary_opts)
               if option.startswith("--") and option != "--help"
               and not re.search(re.escape(option) + r"(?![\w-])", text)]
    assert not missing, "options no user doc names:\n" + "\n".join(missing)


def test_the_schema_head_the_docs_print_is_the_codes() -> None:
    said = re.compile(r"\b(\d{4}) \(head\)|this one reads (\d{4})|migrated from empty to (\d{4})|already at (\d{4})")
    wrong = [f"{doc.name}:{text[: m.start()].count(chr(10)) + 1}: {m[0]}"
             for doc in USER_DOCS for text in [doc.read_text(encoding="utf-8")] for m in said.finditer(text)
             if next(g for g in m.groups() if g) != HEAD]
    found = sum(len(said.findall(doc.read_text(encoding="utf-8"))) for doc in USER_DOCS)
    assert found >= 4 and not wrong, f"head is {HEAD}: " + "; ".join(wrong)


def test_every_make_variable_is_in_the_docs() -> None:
    """`make run PORT=… TESTBED_PORT=… DATA=…` and the rest: what the Makefile lets a user choose is written down."""
    names = re.findall(r"^(?:export )?([A-Z_]+) \?=", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
    text = "\n".join(doc.read_text(encoding="utf-8") for doc in GUIDES)
    assert {"PORT", "TESTBED_PORT", "DATA"} <= set(names)
    assert not [n for n in names if f"{n}=" not in text]
