"""Playing the scenario set against a receiver and judging what it answers and the state it ends in."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from gateway.render import stuf

from .answer import NoAnswer, fetch, read_answer
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


class StateUnreadable(Exception):
    """The state URL answered, but not with a zaak as JSON: a failure of its own, never a traceback."""


def _state_of(client: httpx.Client, state_url: str, zaak: str, timeout: float) -> dict[str, Any] | None:
    """The zaak as the receiver shows it; None when it says it holds none (404); :class:`StateUnreadable` when
    the answer is no zaak: garbage must fail the scenario, not end the run with a traceback."""
    try:
        fetched = fetch(client, "GET", f"{state_url.rstrip('/')}/{zaak}", timeout)
    except NoAnswer as exc:
        raise StateUnreadable(f"the state URL gave {exc} for zaak {zaak}") from None
    if fetched.status == 404:
        return None
    try:
        found = json.loads(fetched.content) if fetched.status == 200 else None
    except ValueError:
        found = None
    if not _zaak_shaped(found):
        raise StateUnreadable(f"the state URL answered HTTP {fetched.status} for zaak {zaak}, not a zaak as JSON "
                              "(an object with identificatie, kenmerken and statussen lists)")
    return found  # type: ignore[no-any-return]


def _zaak_shaped(found: object) -> bool:
    if not isinstance(found, dict) or not isinstance(found.get("identificatie"), str):
        return False
    return all(isinstance(found.get(name, []), list) and all(isinstance(x, dict) for x in found.get(name) or [])
               for name in ("kenmerken", "statussen"))


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


@dataclass(frozen=True, slots=True)
class Under:
    """The receiver under test: where its messages go, where it shows its zaken, how long an answer may take."""

    client: httpx.Client
    target: str
    state_url: str | None
    timeout: float


def play(scenario: Scenario, under: Under, run: str, clock: RunClock,
         converter_settings: dict[str, object]) -> Outcome:
    """Send one scenario's messages to the receiver in order and judge the answers and the end state."""
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
    unsent = 0
    for n, (message, want) in enumerate(zip(messages, expected, strict=True)):
        sent, answered = _send(under, message, want)
        outcome.sent.append(sent)
        if not answered:  # a chain is not judged past an unanswered link: each later message would wait in vain
            unsent = len(messages) - n - 1
            break
    for sent in outcome.sent:
        if sent.answer != sent.expected:
            outcome.problems.append(f"{sent.operation} from {sent.source}: answered {sent.answer}"
                                    f"{' ' + sent.code if sent.code else ''}, expected {sent.expected}")
        elif sent.answer == "Fo03" and scenario.code and sent.code != scenario.code:
            outcome.problems.append(f"{sent.operation} from {sent.source}: refused with {sent.code}, but StUF names "
                                    f"{scenario.code} for this refusal")
    if unsent:
        outcome.problems.append(f"{unsent} later message(s) not sent: the receiver did not answer the one before")
    if scenario.zaken:
        if under.state_url is None:
            outcome.skipped.append("zaak state: the receiver shows no state (no --state-url)")
        else:
            outcome.problems += _judge_state(scenario, under, under.state_url, messages)
    return outcome


def _judge_state(scenario: Scenario, under: Under, state_url: str, messages: list[Outgoing]) -> list[str]:
    zaken = []
    for zaak in sorted({m.zaak for m in messages if m.zaak}):
        try:
            found = _state_of(under.client, state_url, zaak, under.timeout)
        except StateUnreadable as exc:
            return [str(exc)]
        if found is not None:
            zaken.append(found)
    return check_state(scenario.zaken, zaken)


def _send(under: Under, message: Outgoing, want: str) -> tuple[Sent, bool]:
    """The message sent and what came back; False when nothing usable came back (see :func:`.answer.fetch`)."""
    referentienummer = message.root.findtext(f"{{*}}stuurgegevens/{STUF}referentienummer")
    answered = True
    try:
        fetched = fetch(under.client, "POST", under.target, under.timeout, content=stuf.envelope(message.body()),
                        headers={"Content-Type": stuf.CONTENT_TYPE["soap11"],
                                 "SOAPAction": f'"{message.soap_action}"'})
        answer, code, omschrijving = read_answer(fetched, referentienummer)
    except NoAnswer as exc:
        answer, code, omschrijving, answered = str(exc), None, None, False
    return Sent(message.source, message.operation, message.zaak, want, answer, code, omschrijving), answered


def play_all(scenarios: list[Scenario], target: str, state_url: str | None,
             converter_settings: dict[str, object] | None = None, timeout: float = 30.0) -> list[Outcome]:
    """The whole set against ``target``, one scenario after another, in one run (one clock, fresh zaak names);
    ``timeout``: seconds an answer may take in all."""
    run, clock = uuid.uuid4().hex, RunClock()
    with httpx.Client(timeout=timeout) as client:
        under = Under(client, target, state_url, timeout)
        return [play(s, under, run, clock, converter_settings or {}) for s in scenarios]
