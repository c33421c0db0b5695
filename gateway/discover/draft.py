"""A draft mapping file being built: its sections, the GUESS comment of every inferred line, and the YAML text.

The emitter is hand-written rather than ``yaml.dump`` because every guess must end up as a comment
on the line it concerns, where the integrator reviewing the file will see it. Rule specs are written
as JSON flow mappings, which are valid YAML and keep one rule on one line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from gateway.mapping.privacy import personal as personal_field
from gateway.tooling.mappingtest import UNCONFIRMED

from .shapes import personal

_PLAIN_KEY = re.compile(r"^[A-Za-z_][\w.-]*$")


class Block(dict):  # type: ignore[type-arg]
    """A dict written as an indented block (a section or a group), not as one flow line."""


@dataclass(slots=True)
class Draft:
    name: str
    title: str
    description: str
    extends: str
    match: dict[str, Any] = field(default_factory=dict)
    namespaces: dict[str, str] = field(default_factory=dict)
    value_maps: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules: Block = field(default_factory=Block)
    ignore: list[dict[str, str]] = field(default_factory=list)
    strictness: str | None = None
    guesses: dict[str, str] = field(default_factory=dict)
    tests: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def guess(self, where: str, why: str) -> None:
        """Mark the line at dotted key ``where`` (``rules.clients.rules.bsn``) as a guess, with the reason."""
        before = self.guesses.get(where)
        self.guesses[where] = why if before is None or why in before else f"{before}; {why}"

    def group(self, chain: str | list[str]) -> Block:
        """The rules block of the group at ``chain`` (``clients.producten``, or the group keys as a list when a
        key has a dot itself: ``["clients", "beschikking.producten"]``), created as a delta when absent."""
        node = self.rules
        for part in [p for p in chain.split(".") if p] if isinstance(chain, str) else chain:
            child = node.setdefault(part, Block())
            node = child.setdefault("rules", Block())
        return node

    def text(self) -> str:
        lines = [f"# {self.title}: written by `overstap scaffold`.",
                 "# Every line marked GUESS was inferred from the messages: check it, then delete the mark.",
                 "# The tests below were generated from example messages; each expected value starts with the",
                 f"# marker {UNCONFIRMED.strip()} and fails until you have checked it against its input message.",
                 *[f"# NOTE: {n}" for n in self.notes],
                 "overstap-mapping: 1", f"name: {self.name}", f"title: {json.dumps(self.title)}",
                 f"description: {json.dumps(self.description)}", f"extends: {self.extends}"]
        if self.strictness:
            lines.append(f"strictness: {self.strictness}" + self._comment("strictness"))
        for section in ("match", "namespaces", "value_maps"):
            body = getattr(self, section)
            if body:
                lines.append(f"{section}:{self._comment(section)}")
                _emit(Block(body), 2, section, self.guesses, lines)
        if self.rules:
            lines.append("rules:")
            _emit(self.rules, 2, "rules", self.guesses, lines)
        if self.ignore:
            lines.append("ignore:")
            for entry in self.ignore:
                lines.append(f"  - path: {json.dumps(entry['path'])}")
                lines.append(f"    reason: {json.dumps(entry['reason'], ensure_ascii=False)}")
        if self.tests:
            lines.append("tests:")
            dumped = yaml.safe_dump(self.tests, sort_keys=False, allow_unicode=True, width=110)
            lines += ["  " + line for line in dumped.splitlines()]
        return "\n".join(lines) + "\n"

    def _comment(self, where: str) -> str:
        return f"  # GUESS: {self.guesses[where]}" if where in self.guesses else ""


def _key(key: str) -> str:
    return key if _PLAIN_KEY.match(key) else json.dumps(key)


def _emit(node: dict[str, Any], indent: int, path: str, guesses: dict[str, str], out: list[str]) -> None:
    pad = " " * indent
    for key, value in node.items():
        where = f"{path}.{key}"
        comment = f"  # GUESS: {guesses[where]}" if where in guesses else ""
        if isinstance(value, dict) and (isinstance(value, Block) or (path.startswith("value_maps") and
                                                                      key == "values")):
            out.append(f"{pad}{_key(key)}:{comment}")
            _emit(value, indent + 2, where, guesses, out)
        else:
            out.append(f"{pad}{_key(key)}: {json.dumps(value, ensure_ascii=False)}{comment}")


def flatten(data: Any, prefix: str = "") -> dict[str, str]:
    """A canonical model dump as dotted paths -> text, leaving out personal fields (names, BSN, address, and
    the vendor's ``extra.*``, whose meaning Overstap cannot know: :func:`gateway.mapping.privacy.personal`)."""
    out: dict[str, str] = {}
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list):
        items = ((str(i), v) for i, v in enumerate(data))
    else:
        return {prefix: str(data)} if prefix else {}
    for key, value in items:
        where = f"{prefix}.{key}" if prefix else key
        if not key.isdigit() and (personal(key) or personal_field(where)):
            continue
        out.update(flatten(value, where))
    return out
