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

from dataclasses import dataclass, field
from typing import Any

from gateway.model import Bericht

from .catalogue import Zaaktype
from .state import ATTRS, JsonDict, desired, yyyymmdd
from .units import Unit

CREEER, UPDATE, STATUS = "creeerZaak", "updateZaak", "actualiseerZaakstatus"
SOAP_ACTIONS = {
    CREEER: "http://www.egem.nl/StUF/sector/zkn/0310/creeerZaak_Lk01",
    UPDATE: "http://www.egem.nl/StUF/sector/zkn/0310/updateZaak_Lk01",
    STATUS: "http://www.egem.nl/StUF/sector/zkn/0310/actualiseerZaakstatus_Lk01",
}
"""SOAPActions of the ZDS 1.2 WSDL (zkn0310_ontvangAsynchroon_mutatie_zs-dms.wsdl)."""


class PlanError(ValueError):
    """A message that cannot be applied to any zaak (e.g. a 305 for a toewijzing never created)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Change:
    """One element of an updateZaak: its old (ledger) and new value; None means no value (geenWaarde)."""

    name: str
    old: Any
    new: Any


@dataclass(frozen=True, slots=True)
class Operation:
    kind: str  # CREEER | UPDATE | STATUS
    zaak: str
    state: JsonDict | None = None  # CREEER: the full state to create
    changes: tuple[Change, ...] = ()  # UPDATE: ZAK attributes, in schema order
    extra_changes: tuple[Change, ...] = ()  # UPDATE: extraElementen
    status: JsonDict | None = None  # STATUS: the new status
    statussen: tuple[JsonDict, ...] = ()  # STATUS: statuses the zaak already has (sent with I)

    @property
    def soap_action(self) -> str:
        return SOAP_ACTIONS[self.kind]


@dataclass(slots=True)
class Planned:
    operations: list[Operation] = field(default_factory=list)
    state: JsonDict | None = None
    warnings: list[str] = field(default_factory=list)


def _changes(old: JsonDict, new: JsonDict) -> tuple[tuple[Change, ...], tuple[Change, ...]]:
    attrs = tuple(Change(n, old["attrs"].get(n), new["attrs"].get(n)) for n in ATTRS
                  if old["attrs"].get(n) != new["attrs"].get(n))
    names = list(old["extra"]) + [n for n in new["extra"] if n not in old["extra"]]
    extra = tuple(Change(n, old["extra"].get(n), new["extra"].get(n)) for n in names
                  if old["extra"].get(n) != new["extra"].get(n))
    return attrs, extra


def _update(previous: JsonDict, want: JsonDict) -> tuple[Operation | None, JsonDict]:
    """The updateZaak from ``previous`` to ``want`` (ZAK attributes and extraElementen only), or None."""
    attrs, extra = _changes(previous, want)
    after = {**previous, "attrs": dict(want["attrs"]), "extra": dict(want["extra"]),
             "keys": sorted(set(previous["keys"]) | set(want["keys"]))}
    if not attrs and not extra:
        return None, after
    return Operation(UPDATE, previous["identificatie"], changes=attrs, extra_changes=extra), after


def _status(state: JsonDict, zaaktype: Zaaktype, event: str, datum: str, toelichting: str | None
            ) -> tuple[Operation | None, JsonDict]:
    """A status of type ``event`` (catalogue) on the zaak, unless the zaak already has exactly it."""
    kind = zaaktype.statustypes.get(event)
    if kind is None:
        raise PlanError(f"zaaktype {zaaktype.code} has no statustype for {event!r} in the catalogue", "zaaktype")
    status = {"volgnummer": kind.volgnummer, "omschrijving": kind.omschrijving, "zaaktype": zaaktype.code,
              "datum": datum, "toelichting": toelichting}
    if status in state["statussen"]:
        return None, state
    after = {**state, "statussen": [*state["statussen"], status]}
    return Operation(STATUS, state["identificatie"], status=status, statussen=tuple(state["statussen"])), after


def _end(state: JsonDict, zaaktype: Zaaktype, einddatum: str, uitkomst: str, out: Planned) -> JsonDict:
    """Close the zaak: updateZaak with einddatum and resultaat, then the eindstatus (ZDS 4.1.3)."""
    want = {**state, "attrs": {**state["attrs"], "einddatum": einddatum, "resultaat": uitkomst}}
    op, state = _update(state, want)
    if op is not None:
        out.operations.append(op)
    op, state = _status(state, zaaktype, "afgehandeld", einddatum, uitkomst)
    if op is not None:
        out.operations.append(op)
    return state


def plan_unit(bericht: Bericht, unit: Unit, previous: JsonDict | None, identificatie: str, zaaktype: Zaaktype,
              linked: list[str], omschrijving: str | None = None) -> Planned:
    """The operations one unit needs, given the zaak's stored state (None: the receiver does not know it).

    ``linked`` are identificaties of zaken this one relates to (the aanvraagzaak of a toewijzing, the
    toewijzingzaak of a 317); they are sent when the zaak is created. ``omschrijving`` is the configured
    omschrijving template (None: the default).
    """
    out = Planned()
    if unit.event in ("start", "stop"):
        if previous is None:
            raise PlanError(f"no zaak is known for this {unit.event} (looked for {', '.join(unit.keys)}); "
                            "the toewijzing must be converted first", "clients")
        out.state = _delivery(bericht, unit, previous, zaaktype, out)
        return out
    want = desired(bericht, unit, identificatie, zaaktype, omschrijving)
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
            state = _end(state, zaaktype, want["attrs"]["einddatum"], want["attrs"]["resultaat"], out)
        out.state = state
        return out
    if ending:  # one updateZaak with every change incl. einddatum and resultaat, then the eindstatus
        want["attrs"]["einddatumGepland"] = previous["attrs"].get("einddatumGepland")
    op, state = _update(previous, want)
    if op is not None:
        out.operations.append(op)
    if ending and previous["attrs"].get("einddatum") is None:
        op, state = _status(state, zaaktype, "afgehandeld", want["attrs"]["einddatum"], want["attrs"]["resultaat"])
        if op is not None:
            out.operations.append(op)
    out.state = state
    return out


def _delivery(bericht: Bericht, unit: Unit, state: JsonDict, zaaktype: Zaaktype, out: Planned) -> JsonDict:
    """305: status 'levering gestart' (a StatusAanlevering 3 line: the correcting status); 307: 'levering
    gestopt' and the end of the zaak."""
    product = bericht.clients[unit.client_index].producten[unit.line_index]
    begindatum = yyyymmdd(product.begindatum) or yyyymmdd(bericht.dagtekening)
    assert begindatum is not None
    if product.status_aanlevering == "3":
        what = "start" if unit.event == "start" else "stop"
        datum = begindatum if unit.event == "start" else (yyyymmdd(product.einddatum) or begindatum)
        op, state = _status(state, zaaktype, "correctie", datum,
                            f"Aanlevering {what} levering per {datum} verwijderd (StatusAanlevering 3)")
        if op is not None:
            out.operations.append(op)
        return state
    if unit.event == "start":
        op, state = _status(state, zaaktype, "gestart", begindatum, None)
        if op is not None:
            out.operations.append(op)
        return state
    einddatum = yyyymmdd(product.einddatum) or yyyymmdd(bericht.dagtekening)
    assert einddatum is not None
    reden = f"RedenBeeindiging {product.reden_beeindiging}" if product.reden_beeindiging else None
    op, state = _status(state, zaaktype, "gestopt", einddatum, reden)
    if op is not None:
        out.operations.append(op)
    if state["attrs"].get("einddatum") is None:
        state = _end(state, zaaktype, einddatum, "Levering gestopt" + (f" ({reden})" if reden else ""), out)
    return state
