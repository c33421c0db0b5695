"""The scenario set as data: chains of dialect messages, what the receiver must answer, the zaken it ends with."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.mapping.loader import yaml_place

DEFAULT = Path(__file__).with_name("scenarios.yaml")
WRONGS = ("skip-creeer", "reuse-referentienummer", "repeat-tijdstip", "oud-from-nieuw", "skip-di01")
"""The ways a scenario can make one of its messages wrong on purpose (gateway/compliance/build.py)."""
STATE_FIELDS = ("startdatum", "einddatumGepland", "einddatum", "statussen", "omschrijving")


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file, scenario and key."""


@dataclass(frozen=True, slots=True)
class ZaakExpectation:
    """A zaak the receiver must hold at the end, found by a kenmerk and the zaaktype code."""

    kenmerk: str
    zaaktype: str
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Scenario:
    id: str
    title: str
    messages: tuple[Path, ...]
    answers: tuple[str, ...] | None = None
    """Bv03/Fo03 per message sent, in order; None: Bv03 for every one."""
    code: str | None = None
    """The fout code the refusal must carry, where the standard names one."""
    wrong: str | None = None
    zaken: tuple[ZaakExpectation, ...] = field(default_factory=tuple)
    profile: str = "zkn"
    """``zkn``: zaak messages (zakLk01); ``ggk``: StUF-GGk Di01/Du01 envelopes, as the ISD chain carries them."""


MAX_FILE = 1024 * 1024
"""Bytes of a scenario file read at most: the built-in set is 6 kB."""


class _AliasRefused(yaml.composer.ComposerError):
    """Valid YAML this file may not use (named as such, not as a syntax error)."""


class _NoAliases(yaml.SafeLoader):
    """YAML without anchors and aliases: a few lines of nested aliases expand into billions of strings when
    the scenario id is printed (the "billion laughs"); a scenario file has no use for them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise _AliasRefused(None, None, "aliases (*name) are not allowed in a scenario file",
                                self.peek_event().start_mark)
        return super().compose_node(parent, index)


def _path(raw: str, reference: Path, here: Path) -> Path:
    return (here / raw[2:]) if raw.startswith("./") else (reference / raw)


def _read(path: Path) -> Any:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE + 1)
    except OSError as exc:
        raise ScenarioError(f"{path}: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE:
        raise ScenarioError(f"{path}: more than {MAX_FILE} bytes; expected a scenario file (a few kB)")
    try:
        return yaml.load(data.decode("utf-8"), Loader=_NoAliases)  # a SafeLoader, without aliases
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: byte {exc.start} is not UTF-8; expected a UTF-8 YAML file") from None
    except _AliasRefused as exc:
        raise ScenarioError(f"{path}: {exc.problem}") from None
    except yaml.YAMLError as exc:  # one line naming file, line and column (not PyYAML's "<unicode string>")
        where, problem = yaml_place(path, exc)
        raise ScenarioError(f"{where}: not valid YAML: {problem}") from None


def _texts(value: Any, where: str, key: str) -> list[str]:
    """A list of strings (or numbers, as YAML reads a kenmerk), else :class:`ScenarioError` naming the key."""
    if not isinstance(value, list) or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        raise ScenarioError(f"{where}: {key} must be a list of texts")
    return [str(v) for v in value]


def _one_text(item: dict[str, Any], key: str, where: str) -> str | None:
    value = item.get(key)
    if value is not None and (not isinstance(value, str | int) or isinstance(value, bool)):
        raise ScenarioError(f"{where}: {key} must be a text")
    return None if value is None else str(value)


def _zaken(raw: Any, where: str) -> tuple[ZaakExpectation, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ScenarioError(f"{where}: zaken must be a list")
    zaken = []
    for z in raw:
        if not isinstance(z, dict) or "kenmerk" not in z or "zaaktype" not in z:
            raise ScenarioError(f"{where}: each zaak needs a kenmerk and a zaaktype")
        extra = set(z) - {"kenmerk", "zaaktype", *STATE_FIELDS}
        if extra:
            raise ScenarioError(f"{where}: zaak fields {', '.join(sorted(map(str, extra)))} are not checked; use "
                                f"{', '.join(STATE_FIELDS)}")
        if "statussen" in z:
            _texts(z["statussen"], where, "a zaak's statussen")
        zaken.append(ZaakExpectation(str(z["kenmerk"]), str(z["zaaktype"]),
                                     {k: v for k, v in z.items() if k in STATE_FIELDS}))
    return tuple(zaken)


def _scenario(item: Any, n: int, path: Path, reference: Path) -> Scenario:
    where = f"{path}: scenarios[{n}]"
    if not isinstance(item, dict) or not item.get("id") or not item.get("messages"):
        raise ScenarioError(f"{where}: needs an id and a messages list")
    ident = _one_text(item, "id", where)
    where = f"{path}: scenario {ident}"
    unknown = set(item) - {"id", "title", "messages", "answers", "code", "wrong", "zaken", "profile"}
    if unknown:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    if item.get("profile", "zkn") not in ("zkn", "ggk"):
        raise ScenarioError(f"{where}: profile must be zkn or ggk")
    if item.get("wrong") is not None and item["wrong"] not in WRONGS:
        raise ScenarioError(f"{where}: wrong: {item['wrong']!r} is not one of {', '.join(WRONGS)}")
    answers = item.get("answers")
    if answers is not None and (not isinstance(answers, list) or not all(a in ("Bv03", "Fo03") for a in answers)):
        raise ScenarioError(f"{where}: answers must be a list of Bv03/Fo03")
    messages = tuple(_path(m, reference, path.parent) for m in _texts(item["messages"], where, "messages"))
    missing = [str(m) for m in messages if not m.is_file()]
    if missing:
        raise ScenarioError(f"{where}: message file(s) not found: {', '.join(missing)}")
    return Scenario(str(ident), _one_text(item, "title", where) or str(ident), messages,
                    tuple(answers) if answers is not None else None, _one_text(item, "code", where),
                    item.get("wrong"), _zaken(item.get("zaken"), where), item.get("profile", "zkn"))


def load(path: Path, reference: Path) -> list[Scenario]:
    """Read and check a scenario file; every problem raises :class:`ScenarioError` naming where."""
    doc = _read(path)
    items = doc.get("scenarios") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items:
        raise ScenarioError(f"{path}: expected a 'scenarios:' list")
    out: list[Scenario] = []
    for n, item in enumerate(items):
        scenario = _scenario(item, n, path, reference)
        if any(s.id == scenario.id for s in out):
            raise ScenarioError(f"{path}: scenario {scenario.id}: a second scenario of that id; ids must differ")
        out.append(scenario)
    return out
