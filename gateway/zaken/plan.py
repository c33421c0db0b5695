"""Planning: a message and what the receiver already holds -> the ZDS operations to send (pure).

No ledger, no XML: ``plan_unit`` takes the stored state of one zaak (or None) and returns the operations
(creeerZaak, updateZaak, actualiseerZaakstatus) and the state the receiver holds after applying them.
States are never changed in place: a new state is a shallow copy with new containers only where it differs
from the old one (a deep copy of every state was a third of the render step's time), so an operation's
state, the stored one and the next one may share the parts none of them changes.
The rules are those of docs/canonical-spec.md 3: a new toewijzing is created (T); a known one is updated
with exactly the changed elements in old and new (StUF 03.01 table 5.3); an end sets einddatum and
resultaat and then the eindstatus; 305/307 become statuses on the toewijzing's zaak.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import NamedTuple

from gateway.model import Bericht
from gateway.model.codes import REDEN_AFWIJZING_LABELS

from .catalogue import Zaaktype
from .changes import Change, RelationChange, attribute_changes, relation_changes
from .gezet import event_of, placed
from .state import JsonDict, desired, yyyymmdd
from .units import Unit, clock, day

CREEER, UPDATE, STATUS = "creeerZaak", "updateZaak", "actualiseerZaakstatus"
SOAP_ACTIONS = {
    CREEER: "http://www.egem.nl/StUF/sector/zkn/0310/creeerZaak_Lk01",
    UPDATE: "http://www.egem.nl/StUF/sector/zkn/0310/updateZaak_Lk01",
    STATUS: "http://www.egem.nl/StUF/sector/zkn/0310/actualiseerZaakstatus_Lk01",
}
"""SOAPActions of the ZDS 1.2 WSDL (zkn0310_ontvangAsynchroon_mutatie_zs-dms.wsdl)."""


class PlanError(ValueError):
    """A message that cannot be applied to any zaak (e.g. a 305 for a toewijzing never created: StUF064), or
    not to the one it names (a later 301 that would reopen an ended zaak: StUF058)."""

    def __init__(self, message: str, field: str | None = None, code: str = "StUF064") -> None:
        super().__init__(message)
        self.field = field
        self.code = code


@dataclass(frozen=True, slots=True)
class Operation:
    kind: str  # CREEER | UPDATE | STATUS
    zaak: str
    state: JsonDict | None = None  # CREEER: the full state to create
    changes: tuple[Change, ...] = ()  # UPDATE: ZAK attributes, in schema order
    extra_changes: tuple[Change, ...] = ()  # UPDATE: extraElementen
    relation_changes: tuple[RelationChange, ...] = ()  # UPDATE: relations replaced, changed, dropped, added
    status: JsonDict | None = None  # STATUS: the new status
    statussen: tuple[JsonDict, ...] = ()  # STATUS: statuses the zaak already has (sent with I)
    omschrijving: str | None = None  # UPDATE, STATUS: the zaak's omschrijving, a kerngegeven (never changed)
    zaaktype: JsonDict | None = None  # UPDATE, STATUS: the zaaktype of its isVan, a kerngegeven (never changed)

    @property
    def soap_action(self) -> str:
        return SOAP_ACTIONS[self.kind]


@dataclass(slots=True)
class Planned:
    operations: list[Operation] = field(default_factory=list)
    state: JsonDict | None = None
    warnings: list[str] = field(default_factory=list)
    note: str | None = None
    """Why there are no operations when it is not "no change" (a message older than the state held)."""


def kerngegevens(state: JsonDict) -> JsonDict:
    """The ZAK kerngegevens besides its identificatie (zkn0310 ``ZAK-kerngegevens``: omschrijving, isVan) from the
    state held: every object of a W carries them (StUF 03.01 5.2.4, ZDS 1.2 4.1.5.2), and neither ever changes."""
    return {"omschrijving": state["omschrijving"], "zaaktype": state["zaaktype"]}


def andere_zaak(identificatie: str, state: JsonDict) -> JsonDict:
    """A related zaak as a creeerZaak names it (``heeftBetrekkingOpAndere``): a gerelateerde ZAK with its kerngegevens
    (StUF 03.01 5.2.4: "De kerngegevens van een topfundamenteel, relatie of gerelateerde moeten altijd worden
    opgenomen"), from the state the ledger holds of it."""
    return {"identificatie": identificatie, **kerngegevens(state)}


def _update(previous: JsonDict, want: JsonDict) -> tuple[Operation | None, JsonDict]:
    """The updateZaak from ``previous`` to ``want`` (ZAK attributes, extraElementen, relations), or None.

    The state keeps each relation as it was last sent: it changes only with a relation change sent."""
    attrs, extra = attribute_changes(previous, want)
    relations = relation_changes(previous, want)
    # a new dict that shares what it does not change (states are never changed in place): no deep copy
    after = {**previous, "attrs": dict(want["attrs"]), "extra": dict(want["extra"]),
             "keys": sorted(set(previous["keys"]) | set(want["keys"]))}
    for change in relations:
        if change.name == "betrokkene":
            after["betrokkenen"] = [b for b in after["betrokkenen"] if change.old is None or b != change.old] + (
                [copy.deepcopy(change.new)] if change.new is not None else [])
        else:
            after[change.name] = copy.deepcopy(change.new)
    if not attrs and not extra and not relations:
        return None, after
    return Operation(UPDATE, previous["identificatie"], changes=attrs, extra_changes=extra,
                     relation_changes=relations, **kerngegevens(previous)), after


def _status_value(zaaktype: Zaaktype, event: str, datum: str, toelichting: str | None) -> JsonDict:
    kind = zaaktype.statustypes.get(event)
    if kind is None:
        raise PlanError(f"zaaktype {zaaktype.code} has no statustype for {event!r} in the catalogue", "zaaktype")
    status = {"volgnummer": kind.volgnummer, "omschrijving": kind.omschrijving, "zaaktype": zaaktype.code,
              "datum": datum, "toelichting": toelichting}
    if kind.code is not None:  # the rest of the statustype's kerngegevens, where the catalogue has them
        status["code"] = kind.code
    if kind.ingangsdatum is not None:
        status["ingangsdatum"] = kind.ingangsdatum
    return status


def _status(state: JsonDict, status: JsonDict, opposite: JsonDict | None = None) -> tuple[Operation | None, JsonDict]:
    """Set ``status`` on the zaak unless the receiver's latest word on it is already this status.

    ``opposite`` is the status that undoes it (a start and its withdrawal): of the two, only the one set last
    counts, so a start withdrawn, delivered again and withdrawn once more (CasusF-01, F-02, E-01) is sent
    every time, while the same message converted again is not. Statuses are compared on what they say
    (:func:`~.gezet.event_of`), and the one sent gets a datumStatusGezet later than every held one
    (:func:`~.gezet.placed`: ZDS 1.2 4.1.3.1 orders a zaak's statuses by it).
    """
    for held in reversed(state["statussen"]):  # the latest of the two the receiver holds, if any
        if event_of(held) == event_of(status):
            return None, state
        if opposite is not None and event_of(held) == event_of(opposite):
            break
    status = placed(state["statussen"], status)
    after = {**state, "statussen": [*state["statussen"], status]}
    return Operation(STATUS, state["identificatie"], status=status, statussen=tuple(state["statussen"]),
                     **kerngegevens(state)), after


def _end(state: JsonDict, zaaktype: Zaaktype, einddatum: str, uitkomst: str, out: Planned, moment: str) -> JsonDict:
    """Close the zaak: updateZaak with einddatum and resultaat, then the eindstatus (ZDS 4.1.3)."""
    want = {**state, "attrs": {**state["attrs"], "einddatum": einddatum, "resultaat": uitkomst}}
    op, state = _update(state, want)
    if op is not None:
        out.operations.append(op)
    op, state = _status(state, _status_value(zaaktype, "afgehandeld", einddatum, uitkomst))
    if op is not None:
        out.operations.append(op)
    state["ended_as_of"] = moment
    return state


def moment(bericht: Bericht, unit: Unit) -> str:
    """When the source registered what it says (yyyymmddhhmmss): a 301 line's Toewijzingsdatum and -tijd,
    otherwise the message's Dagtekening. Later messages are compared with it (docs/canonical-spec.md 7)."""
    if unit.event == "verzoek-antwoord":  # a 319 has no lines: its Dagtekening is its moment
        return day(bericht.dagtekening) + "000000"
    product = bericht.clients[unit.client_index].producten[unit.line_index]
    if unit.event == "toewijzing" and product.toewijzingsdatum is not None:
        tijd = clock(product.toewijzingstijd) if product.toewijzingstijd else "000000"
        return day(product.toewijzingsdatum) + tijd
    return day(bericht.dagtekening) + "000000"


def _older(previous: JsonDict, at: str, ending: bool) -> str | None:
    """Why a 301/315/317 registered at ``at`` is not sent (older than the state held, or ending a zaak already
    closed: :func:`_closed`), or None; refuses a later one that would reopen an ended zaak."""
    held, ended = previous.get("as_of"), previous.get("ended_as_of")
    zaak = previous["identificatie"]
    if held and at < held:
        return (f"older than the state held: zaak {zaak} holds a toewijzing registered at {held}, this one was "
                f"registered at {at}; not sent (StUF 03.01 Tabel 5.8, StUF065)")
    if previous["attrs"].get("einddatum") is None or not ended:
        return None
    if at <= ended:
        return (f"older than the state held: zaak {zaak} was ended by a message of {ended}, this one was "
                f"registered at {at}; not sent, an ended zaak is not rolled back (StUF 03.01 Tabel 5.8, StUF065)")
    if not ending and previous.get("kind") == "aanvraag":
        raise PlanError(f"aanvraagzaak {zaak} was answered and closed by a toewijzing of {ended}; this later "
                        "request changes it, which no ZDS 1.2 operation does (4.1.3: at its eindstatus the zaak is "
                        "closed). A new request needs a new ReferentieAanbieder", "clients", "StUF058")
    if not ending:
        raise PlanError(f"zaak {zaak} was ended by a message of {ended}; this later toewijzing does not end it and "
                        "would reopen it, which no ZDS 1.2 operation does (4.1.3: at its eindstatus the zaak is "
                        "closed). A toewijzing that runs again needs a new ToewijzingNummer", "clients", "StUF058")
    return _closed(previous, "toewijzing")


def _closed(previous: JsonDict, what: str) -> str | None:
    """Why a change to ``previous`` is not sent when its eindstatus closed it, else None.

    ZDS 1.2 changes a lopende zaak only (4.1.3 actualiseerZaakstatus: "Een lopende zaak heeft een nieuwe status
    bereikt"; 4.1.5 updateZaak: "attributen van een bestaande lopende zaak"), and at the eindstatus "dient het ZS
    de betreffende zaak af te sluiten": a 307 after the 301 that ended the toewijzing, or a 301 ending it again
    after its 307, has no operation a zaaksysteem could apply. A zaak stored before ``ended_as_of`` existed is
    not checked."""
    ended = previous.get("ended_as_of")
    if not ended or previous["attrs"].get("einddatum") is None:
        return None
    return (f"not sent: zaak {previous['identificatie']} was closed at its eindstatus by a message of {ended}; "
            f"this {what} would change it, and ZDS 1.2 changes a lopende zaak only (4.1.3, 4.1.5)")


def _refuse_reopening(previous: JsonDict, delivery: Delivery, event: str) -> None:
    """Refuse a 307 StatusAanlevering 3 that withdraws the very stop that closed ``previous`` (StUF058).

    Why: the withdrawal says the stop never happened, so the zaak should run on; ZDS 1.2 cannot reopen a zaak
    closed at its eindstatus (4.1.3), and "not sent" left the receiver closed on a stop nobody made, unseen. A stop
    that did not close it (a 301 ended it first; a later stop the closed zaak never took) keeps "not sent"."""
    attrs = previous["attrs"]
    if event != "stop" or not str(attrs.get("resultaat") or "").startswith("Levering gestopt") \
            or attrs.get("einddatum") != delivery.einddatum:
        return
    raise PlanError(f"zaak {previous['identificatie']} was closed at its eindstatus by the stop of zorg per "
                    f"{delivery.einddatum} (a message of {previous.get('ended_as_of')}) that this 307 withdraws "
                    "(StatusAanlevering 3); withdrawing it would reopen the zaak, which no ZDS 1.2 operation does "
                    "(4.1.3: at its eindstatus the zaak is closed). The zaak must be corrected at the receiver",
                    "clients.producten.status_aanlevering", "StUF058")


def answer_aanvraag(previous: JsonDict, zaaktype: Zaaktype, at: str, toewijzing: str) -> Planned:
    """A 301 line that answers an aanvraagzaak (315, or a 317 line) closes it: updateZaak with einddatum (the day
    the toewijzing was registered) and resultaat "Toegewezen", then its eindstatus.

    Why: the aanvraag is decided once the gemeente sends the toewijzing; without its eindstatus the receiver keeps
    every answered aanvraag lopend for ever (ZDS 1.2 4.1.3: at the eindstatus "dient het ZS de betreffende zaak af
    te sluiten"). An aanvraag already closed gets nothing (a later 301 of the same chain answers nothing new); a
    toewijzing registered before the aanvraag cannot answer it and leaves it open, with a warning."""
    out = Planned()
    if previous.get("kind") != "aanvraag" or previous["attrs"].get("einddatum") is not None:
        return out
    return _decide(previous, zaaktype, at, f"Toegewezen (zaak {toewijzing})",
                   f"the toewijzing of zaak {toewijzing} was registered at", out)


def _decide(previous: JsonDict, zaaktype: Zaaktype, at: str, uitkomst: str, answer: str, out: Planned) -> Planned:
    """Close the open aanvraagzaak ``previous`` with ``uitkomst`` as of ``at``, unless the answer (``answer``: how
    it came at ``at``) is older than the aanvraag and so cannot answer it: then it stays open, with a warning."""
    held = previous.get("as_of")
    if held and at < held:
        out.warnings.append(f"aanvraagzaak {previous['identificatie']} left open: {answer} {at}, before the aanvraag "
                            f"({held}), so it does not answer it")
        return out
    out.state = _end(previous, zaaktype, at[:8], uitkomst, out, at)
    return out


class Answer(NamedTuple):
    """What a 319 says about the verzoek it answers: VerzoekAntwoord (WJ760) and RedenAfwijzingVerzoek (WJ759)."""

    verzoek_antwoord: str
    reden: str | None


def afgewezen(answer: Answer) -> str:
    """The resultaat of a refused aanvraag: ``Afgewezen``, with the reden's text and code when the 319 gives one
    (``Afgewezen: geen contract (3)``)."""
    if answer.reden is None:
        return "Afgewezen"
    return f"Afgewezen: {REDEN_AFWIJZING_LABELS.get(answer.reden, 'reden')} ({answer.reden})"


def refuse_aanvraag(previous: JsonDict, zaaktype: Zaaktype, at: str, answer: Answer) -> Planned:
    """A 319 that refuses the verzoek (VerzoekAntwoord 1) closes its aanvraagzaak: updateZaak with einddatum (the
    319's Dagtekening) and resultaat "Afgewezen" (with the reden), then its eindstatus, as :func:`answer_aanvraag`
    closes an aanvraag a toewijzing answers.

    Why: a refused aanvraag is decided; without its eindstatus the receiver keeps it lopend for ever. A 319 in
    onderzoek (2) changes nothing (OP274: a toewijzing or a refusal follows within 8 weeks). An aanvraag already
    closed gets nothing, with a warning, whichever the answer (TR359: no 319 after a toewijzing for the
    ReferentieAanbieder; TR365: one final answer per ReferentieAanbieder); a 319 dated before the aanvraag leaves it
    open, with a warning."""
    out = Planned()
    zaak = previous["identificatie"]
    if answer.verzoek_antwoord == "2" and previous["attrs"].get("einddatum") is not None:  # decided already
        out.warnings.append(f"aanvraagzaak {zaak} was already closed by a message of {previous.get('ended_as_of')}; "
                            "this answer (in onderzoek) changes nothing (TR359: no 319 after a toewijzing for its "
                            "ReferentieAanbieder, TR365: none after its final answer)")
        return out
    if answer.verzoek_antwoord == "2":
        out.note = (f"no change: aanvraagzaak {zaak} stays open, the aanvraag is in onderzoek (VerzoekAntwoord 2; "
                    "OP274: a toewijzing or a 319 that refuses it follows within 8 weeks)")
        return out
    if previous["attrs"].get("einddatum") is not None:
        if previous.get("ended_as_of") == at and previous["attrs"].get("resultaat") == afgewezen(answer):
            out.note = f"no change: aanvraagzaak {zaak} already holds this refusal (the same 319 again)"
            return out
        out.warnings.append(f"aanvraagzaak {zaak} was already closed by a message of {previous.get('ended_as_of')}; "
                            "this refusal is not sent (TR359: no 319 after a toewijzing for its ReferentieAanbieder, "
                            "TR365: one final answer per ReferentieAanbieder)")
        return out
    return _decide(previous, zaaktype, at, afgewezen(answer), "the refusal is dated", out)


class Delivery(NamedTuple):
    """What a 305/307 line says: the dates and reason of its status, and whether it withdraws one (3)."""

    begindatum: str
    einddatum: str
    datum: str
    """The date a withdrawal names: the begindatum of a start, the stop's einddatum (else its begindatum)."""
    reden: str | None
    withdraws: bool


class UnitFacts(NamedTuple):
    """What planning one unit needs from the message, worked out from the message alone: a batch worker hands
    these over as plain data instead of the canonical model. Used once (planning completes ``want`` in place)."""

    at: str
    """:func:`moment`."""
    want: JsonDict | None
    """301/315/317: the state the message describes, its identificatie still None (:func:`desired`)."""
    delivery: Delivery | None
    """305/307: the line's delivery."""
    answer: Answer | None = None
    """319: what it answers (:func:`refuse_aanvraag`)."""


def unit_facts(bericht: Bericht, unit: Unit, zaaktype: Zaaktype, omschrijving: str | None = None) -> UnitFacts:
    """The :class:`UnitFacts` of ``unit``; ``omschrijving`` is the configured omschrijving template."""
    at = moment(bericht, unit)
    if unit.event == "verzoek-antwoord":
        assert bericht.antwoord is not None
        return UnitFacts(at, None, None, Answer(bericht.antwoord.verzoek_antwoord, bericht.antwoord.reden_afwijzing))
    if unit.event in ("start", "stop"):
        return UnitFacts(at, None, _delivered(bericht, unit))
    return UnitFacts(at, desired(bericht, unit, zaaktype, omschrijving), None)


def plan_unit(bericht: Bericht, unit: Unit, previous: JsonDict | None, identificatie: str, zaaktype: Zaaktype,
              linked: list[JsonDict], omschrijving: str | None = None) -> Planned:
    """The operations one unit needs, given the zaak's stored state (None: the receiver does not know it).

    ``linked`` are the zaken this one relates to (the aanvraagzaak of a toewijzing, the toewijzingzaak of a
    317), each as :func:`andere_zaak` of its identificatie and state; they are sent when the zaak is
    created. ``omschrijving`` is the configured omschrijving template (None: the default).
    """
    return plan_facts(unit_facts(bericht, unit, zaaktype, omschrijving), unit, previous, identificatie, zaaktype,
                      linked)


def plan_facts(facts: UnitFacts, unit: Unit, previous: JsonDict | None, identificatie: str, zaaktype: Zaaktype,
               linked: list[JsonDict]) -> Planned:
    """:func:`plan_unit` from the unit's :class:`UnitFacts` instead of the message."""
    out = Planned()
    at = facts.at
    if facts.delivery is not None:
        if previous is None:
            raise PlanError(f"no zaak is known for this {unit.event} (looked for {', '.join(unit.keys)}); "
                            "the toewijzing must be converted first", "clients")
        held = previous.get("delivery_as_of")
        if held and at < held:
            out.state = previous
            out.note = (f"older than the state held: zaak {previous['identificatie']} holds a delivery message of "
                        f"{held}, this {unit.event} is of {at}; not sent (StUF 03.01 Tabel 5.8, StUF065)")
            return out
        out.state = _delivery(facts.delivery, unit, previous, zaaktype, out, at)
        note = _closed(previous, unit.event) if out.operations else None
        if note is not None and facts.delivery.withdraws:
            _refuse_reopening(previous, facts.delivery, unit.event)
        if note is not None:
            out.operations.clear()
            out.state, out.note = previous, note
            return out
        out.state["delivery_as_of"] = max(held or at, at)
        return out
    want = facts.want
    assert want is not None
    want["identificatie"] = identificatie
    want["as_of"] = at
    ends = want.pop("ends", False)  # the line ends the toewijzing, now or at a later einddatumGepland
    ending = want["attrs"]["einddatum"] is not None
    if previous is None:
        base = {**want, "attrs": dict(want["attrs"]), "andere": list(linked)}  # want is fresh: no deeper copy
        if ending:  # the receiver never had it: create it as it ran, then end it (a reported decision)
            base["attrs"]["einddatum"] = None
            base["attrs"]["resultaat"] = None
            out.warnings.append(f"zaak {identificatie}: the message changes a toewijzing no zaak is known for "
                                f"({unit.primary}); it is created from the message's content and then ended")
        out.operations.append(Operation(CREEER, identificatie, state=base))
        state = base
        if ending:
            state = _end(state, zaaktype, want["attrs"]["einddatum"], want["attrs"]["resultaat"], out, at)
        out.state = state
        return out
    if ending:  # one updateZaak with every change incl. einddatum and resultaat, then the eindstatus
        want["attrs"]["einddatumGepland"] = previous["attrs"].get("einddatumGepland")
    if previous.get("kind") == "aanvraag" and previous["attrs"].get("einddatum") is not None:  # its answer closed
        # it, not the request: the same request again (a later Dagtekening) changes nothing, a changed one is refused
        want["attrs"]["einddatum"], want["attrs"]["resultaat"] = (previous["attrs"]["einddatum"],
                                                                  previous["attrs"]["resultaat"])
    if unit.kind == "toewijzing":
        _keep_number(previous, want)
    op, state = _update(previous, want)
    if op is not None:
        note = _older(previous, at, ends)
        if note is not None:
            out.state, out.note = previous, note
            return out
        out.operations.append(op)
    state["as_of"] = max(previous.get("as_of") or at, at)
    if ending and previous["attrs"].get("einddatum") is None:
        op, state = _status(state, _status_value(zaaktype, "afgehandeld", want["attrs"]["einddatum"],
                                                 want["attrs"]["resultaat"]))
        if op is not None:
            out.operations.append(op)
        state["ended_as_of"] = at
    out.state = state
    return out


def _keep_number(previous: JsonDict, want: JsonDict) -> None:
    """A 2.1 301 line without a ToewijzingNummer (optional there) names its toewijzing by beschikking and product: not
    naming the number is no change of it. Sent as given, its updateZaak dropped the ToewijzingNummer kenmerk the zaak
    held, and every later message naming that number no longer found the zaak at the receiver."""
    held = next((k for k in previous["attrs"].get("kenmerk") or () if k[1] == "ToewijzingNummer"), None)
    given = want["attrs"].get("kenmerk") or []
    if held is None or any(bron == "ToewijzingNummer" for _, bron in given):
        return
    at = sum(1 for _, bron in given if bron == "BeschikkingNummer")  # the order desired() writes them in
    want["attrs"]["kenmerk"] = [*given[:at], list(held), *given[at:]]


def _delivered(bericht: Bericht, unit: Unit) -> Delivery:
    """The :class:`Delivery` of a 305/307 unit."""
    product = bericht.clients[unit.client_index].producten[unit.line_index]
    begindatum = yyyymmdd(product.begindatum) or yyyymmdd(bericht.dagtekening)
    assert begindatum is not None
    einddatum = yyyymmdd(product.einddatum) or yyyymmdd(bericht.dagtekening)
    assert einddatum is not None
    reden = f"RedenBeeindiging {product.reden_beeindiging}" if product.reden_beeindiging else None
    datum = begindatum if unit.event == "start" else yyyymmdd(product.einddatum) or begindatum
    return Delivery(begindatum, einddatum, datum, reden, product.status_aanlevering == "3")


def _delivery(delivery: Delivery, unit: Unit, state: JsonDict, zaaktype: Zaaktype, out: Planned, at: str
              ) -> JsonDict:
    """305: status 'levering gestart' (a StatusAanlevering 3 line: the correcting status); 307: 'levering
    gestopt' and the end of the zaak."""
    begindatum, einddatum, datum, reden = delivery.begindatum, delivery.einddatum, delivery.datum, delivery.reden
    what = "start" if unit.event == "start" else "stop"
    delivered = _status_value(zaaktype, "gestart", begindatum, None) if unit.event == "start" else (
        _status_value(zaaktype, "gestopt", einddatum, reden))
    withdrawn = _status_value(zaaktype, "correctie", datum,
                              f"Aanlevering {what} levering per {datum} verwijderd (StatusAanlevering 3)")
    if delivery.withdraws:
        op, state = _status(state, withdrawn, delivered)
        if op is not None:
            out.operations.append(op)
        return state
    op, state = _status(state, delivered, withdrawn)
    if op is not None:
        out.operations.append(op)
    if unit.event == "stop" and state["attrs"].get("einddatum") is None:
        state = _end(state, zaaktype, einddatum, "Levering gestopt" + (f" ({reden})" if reden else ""), out, at)
    return state
