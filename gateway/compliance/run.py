"""Playing the scenario set against a receiver and judging what it answers and the state it ends in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from lxml import etree

from gateway.ingest import InputError, parse_xml
from gateway.render import stuf

from .build import BuildError, Outgoing, RunClock, build
from .scenarios import Scenario, ZaakExpectation

STUF = "{http://www.egem.nl/StUF/StUF0301}"


@dataclass(slots=True)
class Sent:
    """One message and the receiver's answer to it."""

    source: str
    operation: str
    zaak: str
    expected: str
    answer: str
    code: str | None = None
    omschrijving: str | None = None


@dataclass(slots=True)
class Outcome:
    """A scenario's verdict: passed when ``problems`` is empty; ``skipped`` says what could not be checked."""

    scenario: Scenario
    sent: list[Sent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def read_answer(response: httpx.Response) -> tuple[str, str | None, str | None]:
    """(Bv03 | Fo03 | what else came back, fout code, omschrijving) of a receiver's HTTP answer."""
    try:
        root = parse_xml(response.content, "answer", 1024 * 1024)
    except InputError:
        return f"HTTP {response.status_code}, not XML", None, None
    for el in root.iter(f"{STUF}Bv03Bericht", f"{STUF}Fo03Bericht"):
        if el.tag == f"{STUF}Bv03Bericht":
            return "Bv03", None, None
        return "Fo03", el.findtext(f"{STUF}body/{STUF}code"), el.findtext(f"{STUF}body/{STUF}omschrijving")
    return f"HTTP {response.status_code}, {etree.QName(root).localname}", None, None


def _state_of(client: httpx.Client, state_url: str, zaak: str) -> dict[str, Any] | None:
    response = client.get(f"{state_url.rstrip('/')}/{zaak}")
    return response.json() if response.status_code == 200 else None


def _matches(expectation: ZaakExpectation, zaak: dict[str, Any]) -> list[str]:
    """What differs between the expected and the held zaak ([] when it matches)."""
    wrong = []
    for name, want in expectation.fields.items():
        held = zaak.get(name)
        if name == "statussen":
            held = [s.get("statustype") for s in held or []]
        if held != want:
            wrong.append(f"{name} is {held!r}, expected {want!r}")
    return wrong


def check_state(expectations: tuple[ZaakExpectation, ...], zaken: list[dict[str, Any]]) -> list[str]:
    """Each expected zaak must be one of ``zaken`` (by kenmerk + zaaktype) with the expected fields."""
    problems, used = [], set()
    for want in expectations:
        candidates = [z for z in zaken if z["identificatie"] not in used and z.get("zaaktype") == want.zaaktype
                      and any(k.get("kenmerk") == want.kenmerk for k in z.get("kenmerken", []))]
        if not candidates:
            problems.append(f"no {want.zaaktype} zaak with kenmerk {want.kenmerk}")
            continue
        verdicts = [(_matches(want, z), z) for z in candidates]
        good = next((z for wrong, z in verdicts if not wrong), None)
        if good is None:
            wrong, z = min(verdicts, key=lambda v: len(v[0]))
            problems.append(f"{want.zaaktype} zaak {z['identificatie']} (kenmerk {want.kenmerk}): " + "; ".join(wrong))
            continue
        used.add(good["identificatie"])
    return problems


def play(scenario: Scenario, client: httpx.Client, target: str, state_url: str | None, run: str,
         clock: RunClock, converter_settings: dict[str, object]) -> Outcome:
    """Send one scenario's messages to ``target`` in order and judge the answers and the end state."""
    outcome = Outcome(scenario)
    try:
        messages = build(scenario, converter_settings, run, clock)
    except BuildError as exc:
        outcome.problems.append(f"the scenario could not be built: {exc}")
        return outcome
    expected = list(scenario.answers) if scenario.answers is not None else ["Bv03"] * len(messages)
    if len(expected) != len(messages):
        outcome.problems.append(f"the scenario sends {len(messages)} message(s) but names {len(expected)} answer(s)")
        return outcome
    for message, want in zip(messages, expected, strict=True):
        outcome.sent.append(_send(client, target, message, want))
    for sent in outcome.sent:
        if sent.answer != sent.expected:
            outcome.problems.append(f"{sent.operation} from {sent.source}: answered {sent.answer}"
                                    f"{' ' + sent.code if sent.code else ''}, expected {sent.expected}")
        elif sent.answer == "Fo03" and scenario.code and sent.code != scenario.code:
            outcome.problems.append(f"{sent.operation} from {sent.source}: refused with {sent.code}, but StUF names "
                                    f"{scenario.code} for this refusal")
    if scenario.zaken:
        if state_url is None:
            outcome.skipped.append("zaak state: the receiver shows no state (no --state-url)")
        else:
            created = sorted({m.zaak for m in messages if m.zaak})
            zaken = [z for z in (_state_of(client, state_url, zaak) for zaak in created) if z is not None]
            outcome.problems += check_state(scenario.zaken, zaken)
    return outcome


def _send(client: httpx.Client, target: str, message: Outgoing, want: str) -> Sent:
    try:
        response = client.post(target, content=stuf.envelope(message.body()),
                                headers={"Content-Type": stuf.CONTENT_TYPE["soap11"],
                                         "SOAPAction": f'"{message.soap_action}"'})
        answer, code, omschrijving = read_answer(response)
    except httpx.HTTPError as exc:
        answer, code, omschrijving = f"no answer ({type(exc).__name__})", None, None
    return Sent(message.source, message.operation, message.zaak, want, answer, code, omschrijving)


def play_all(scenarios: list[Scenario], target: str, state_url: str | None,
             converter_settings: dict[str, object] | None = None, timeout: float = 30.0) -> list[Outcome]:
    """The whole set against ``target``, one scenario after another, in one run (one clock, fresh zaak names)."""
    run, clock = uuid.uuid4().hex, RunClock()
    with httpx.Client(timeout=timeout) as client:
        return [play(s, client, target, state_url, run, clock, converter_settings or {}) for s in scenarios]
