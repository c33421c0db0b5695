"""The scenario set as data: chains of dialect messages, what the receiver must answer, the zaken it ends with."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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


def _path(raw: str, reference: Path, here: Path) -> Path:
    return (here / raw[2:]) if raw.startswith("./") else (reference / raw)


def load(path: Path, reference: Path) -> list[Scenario]:
    """Read and check a scenario file; every problem raises :class:`ScenarioError` naming where."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    items = doc.get("scenarios") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not items:
        raise ScenarioError(f"{path}: expected a 'scenarios:' list")
    out: list[Scenario] = []
    for n, item in enumerate(items):
        where = f"{path}: scenarios[{n}]"
        if not isinstance(item, dict) or not item.get("id") or not item.get("messages"):
            raise ScenarioError(f"{where}: needs an id and a messages list")
        where = f"{path}: scenario {item['id']}"
        unknown = set(item) - {"id", "title", "messages", "answers", "code", "wrong", "zaken", "profile"}
        if unknown:
            raise ScenarioError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        if item.get("profile", "zkn") not in ("zkn", "ggk"):
            raise ScenarioError(f"{where}: profile must be zkn or ggk")
        if item.get("wrong") is not None and item["wrong"] not in WRONGS:
            raise ScenarioError(f"{where}: wrong: {item['wrong']!r} is not one of {', '.join(WRONGS)}")
        answers = item.get("answers")
        if answers is not None and (not isinstance(answers, list) or set(answers) - {"Bv03", "Fo03"}):
            raise ScenarioError(f"{where}: answers must be a list of Bv03/Fo03")
        messages = tuple(_path(str(m), reference, path.parent) for m in item["messages"])
        missing = [str(m) for m in messages if not m.is_file()]
        if missing:
            raise ScenarioError(f"{where}: message file(s) not found: {', '.join(missing)}")
        zaken = []
        for z in item.get("zaken") or []:
            if not isinstance(z, dict) or "kenmerk" not in z or "zaaktype" not in z:
                raise ScenarioError(f"{where}: each zaak needs a kenmerk and a zaaktype")
            extra = set(z) - {"kenmerk", "zaaktype", *STATE_FIELDS}
            if extra:
                raise ScenarioError(f"{where}: zaak fields {', '.join(sorted(extra))} are not checked; use "
                                    f"{', '.join(STATE_FIELDS)}")
            zaken.append(ZaakExpectation(str(z["kenmerk"]), str(z["zaaktype"]),
                                         {k: v for k, v in z.items() if k in STATE_FIELDS}))
        out.append(Scenario(str(item["id"]), str(item.get("title") or item["id"]), messages,
                            tuple(answers) if answers is not None else None, item.get("code"), item.get("wrong"),
                            tuple(zaken), item.get("profile", "zkn")))
    return out
