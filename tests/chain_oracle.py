"""The oracle of the chain property (test_chain_property.py): the zaak state a receiver should hold after a chain
of events, worked out from the events alone, never from the converter's output.

The oracle follows docs/canonical-spec.md 3 and 7:

* a 301 for a toewijzing the receiver does not know creates it (its end, when the line ends it now, set after);
  for one it knows, an updateZaak of what differs, or nothing; a 305/307 for one it does not know is refused
  (StUF064, naming the message and the field);
* a line with RedenWijziging 02, 06, 07, 09 or 13 ends the toewijzing: when its Einddatum is not after the
  Dagtekening it closes the zaak (einddatum, resultaat naming the RedenWijziging, eindstatus "Afgehandeld", the
  einddatumGepland the zaak held kept), else the Einddatum becomes the einddatumGepland and the zaak stays open;
* a 305 sets "Levering gestart" at its Begindatum, a withdrawal "Start levering ingetrokken", each unless it is
  already the zaak's latest word on that date (of a start and its withdrawal the one set last counts); a 307 sets
  "Levering gestopt", then einddatum (its Einddatum), resultaat (naming the RedenBeeindiging) and "Afgehandeld";
  a 307 withdrawing a stop (StatusAanlevering 3) is refused (StUF058) when that stop closed the zaak, else as a
  305's withdrawal, its event the stop's Einddatum (:meth:`Oracle.withdraw_stop`, session 25);
* a 305/307 line without a ToewijzingNummer belongs, of the toewijzingen that ever named its product key, to the one
  whose period (startdatum to einddatum, else einddatumGepland) holds its Begindatum; when several or none do, to the
  one of those (or of all) that named the key last, with a warning naming them (spec 1);
* every status gets a datumStatusGezet strictly later than the ones held: the start of its event date, else the
  latest held plus a millisecond;
* a 301 registered before the one held (Toewijzingsdatum + -tijd), or not after the message that ended the zaak,
  is not sent; a later one that would change a closed zaak without ending it is refused (StUF058, "would
  reopen"); one that ends it again is not sent (a closed zaak takes no change); a 305/307 dated before the last
  one applied, or changing a closed zaak, is not sent; a retour changes nothing.

Choices where the spec leaves room, documented here: "delivery_as_of — the Dagtekening of the last 305/307
applied" (section 7) is read as "converted without a refusal and not left out as older or closed", so a 305 that
restates the zaak's latest word (no output) still counts as applied. A 307 that finds "Levering gestopt" the latest
word needs no second stop: it can only be the 307 of a zaak already closed, which takes no change either way.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chain_messages import FIRST_DAY, Toewijzing

STOP_INGETROKKEN = "stop ingetrokken"
"""The event (never a statustype) of a 307 StatusAanlevering 3: written as INGETROKKEN, the catalogue's correcting
statustype, but another event than a start's withdrawal (its toelichting names the stop)."""
STATUS_FIELD = "clients.producten.status_aanlevering"
GESTART, INGETROKKEN, GESTOPT, AFGEHANDELD = ("Levering gestart", "Start levering ingetrokken", "Levering gestopt",
                                              "Afgehandeld")
ENDING = ("02", "06", "07", "09")  # 2.1 RedenWijziging that end a toewijzing (13 is 3.x only: not in 2.1's list)
ENDING_3X = (*ENDING, "13")
"""3.x's: spec 3, "End of a zaak (2.0 RedenIntrekking; RedenWijziging 02, 06, 07, 09, 13; a 307)"."""


def ymd(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _gezet_after(held: list[str], day: str) -> str:
    """datumStatusGezet of a status of event date ``day`` on a zaak holding ``held``: the start of the day, or
    the latest held plus a millisecond when that is not later (canonical-spec 3, "datumStatusGezet orders ...")."""
    gezet = day + "000000000"
    if held and max(held) >= gezet:
        latest = dt.datetime.strptime(max(held)[:14], "%Y%m%d%H%M%S") + dt.timedelta(
            milliseconds=int(max(held)[14:]) + 1)
        gezet = latest.strftime("%Y%m%d%H%M%S") + f"{latest.microsecond // 1000:03d}"
    return gezet


@dataclass
class Zaak:
    """What the receiver should hold for one toewijzing."""

    startdatum: str
    einddatum_gepland: str | None
    einddatum: str | None = None
    resultaat: str | None = None
    volume: str = ""
    tijdstip: str = ""
    reden: str | None = None
    referentie: str | None = None  # the ReferentieAanbieder its last 301 named (a kenmerk)
    andere: list[str] = field(default_factory=list)
    """The ReferentieAanbieder of the request its creeerZaak names (heeftBetrekkingOpAndere): the check looks up that
    aanvraagzaak's identificatie, ``0384A<R>`` only for a short, safe R, else a hash (spec 1, "Identificatie")."""
    statussen: list[tuple[str, str]] = field(default_factory=list)  # (statustype, datumStatusGezet)
    events: list[tuple[str, str]] = field(default_factory=list)  # (statustype, event date) of each status
    as_of: str = ""
    ended_as_of: str | None = None
    delivery_as_of: str | None = None

    def attrs(self) -> tuple[Any, ...]:
        return (self.startdatum, self.einddatum_gepland, self.einddatum, self.resultaat, self.volume, self.tijdstip,
                self.reden, self.referentie)

    def closed(self) -> bool:
        return self.einddatum is not None and self.ended_as_of is not None

    def set_status(self, statustype: str, day: str, opposite: str | None = None) -> bool:
        """Add the status unless it is the zaak's latest word on ``day`` already (of it and ``opposite``)."""
        for held in reversed(self.events):
            if held == (statustype, day):
                return False
            if opposite is not None and held == (opposite, day):
                break
        self.statussen.append((statustype, _gezet_after([g for _, g in self.statussen], day)))
        self.events.append((statustype, day))
        return True


@dataclass
class Aanvraag:
    """What the receiver should hold for one request (a 315 line), named by its ReferentieAanbieder."""

    bsn: str
    as_of: str
    einddatum: str | None = None
    resultaat: str | None = None
    statussen: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Expected:
    """What converting one message should give: its operations, or a refusal with its code."""

    operations: list[str] = field(default_factory=list)
    refused: str | None = None
    warned: list[tuple[str, ...]] = field(default_factory=list)
    """For each line without a ToewijzingNummer that the rules left a choice, the toewijzingen its warning names."""
    refused_field: str | None = None
    """The field a refusal names where it is not the client's (``clients``): a withdrawn stop's StatusAanlevering."""


@dataclass
class Oracle:
    """The zaken the events describe, one per toewijzing, worked out from the spec's rules alone."""

    zaken: dict[str, Zaak] = field(default_factory=dict)
    aanvragen: dict[str, Aanvraag] = field(default_factory=dict)  # by ReferentieAanbieder
    alias: dict[str, str] = field(default_factory=dict)
    """The ReferentieAanbieder of the last 315 converted for each client (BSN): all requests of a client's
    beschikking for one product share the 2.x aanvraag-product key, and the last one converted holds it."""
    products: dict[tuple[str, str, str], str] = field(default_factory=dict)
    """The toewijzing each 2.x product key (beschikking, product code, Ingangsdatum) names: that of the last line
    converted that named it. Spec 1: "every key a message knows is bound to the zaak", and of two toewijzingen
    sharing the key "a message that names only the alias (2.0) finds the later one"; read as: the key is bound
    again by every line converted (a line left out as older or as no change too: it names the zaak all the same),
    never by a line of a refused message."""
    ending: tuple[str, ...] = ENDING
    """The RedenWijziging that end a toewijzing in the chain's version (3.x chains: ENDING_3X)."""
    shared: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    """Every toewijzing that ever named each 2.x product key, first named first: those a line without a
    ToewijzingNummer chooses from (spec 1, "A line without a ToewijzingNummer")."""

    def message(self, lines: list[Callable[[], Expected]]) -> Expected:
        """A message's lines in order, all or nothing: a refused line refuses the message, and its other lines
        change no zaak ("A failed message rolls back every state and key it would have written", spec 3)."""
        before = copy.deepcopy((self.zaken, self.aanvragen, self.alias, self.products, self.shared))
        operations: list[str] = []
        warned: list[tuple[str, ...]] = []
        for line in lines:
            expected = line()
            if expected.refused is not None:
                self.zaken, self.aanvragen, self.alias, self.products, self.shared = before
                return expected
            operations += expected.operations
            warned += expected.warned
        return Expected(operations, warned=warned)

    def vraag(self, t: Toewijzing, day: str, referentie: str) -> Expected:
        """A 315 line: a request of its own (a new ReferentieAanbieder is a new request, spec 1), or no change."""
        self.alias[t.bsn] = referentie
        if referentie in self.aanvragen:  # registered again: its moment moves on (spec 7, as_of)
            held = self.aanvragen[referentie]
            held.as_of = max(held.as_of, day + "000000")
            return Expected()
        self.aanvragen[referentie] = Aanvraag(t.bsn, day + "000000")
        return Expected(["creeerZaak"])

    def named(self, t: Toewijzing, referentie: str | None) -> str | None:
        """The request a 301 line names (spec 1, "Links"): by its ReferentieAanbieder, else (none given) by the
        aanvraag-product key; one of the same client only."""
        named = referentie if referentie is not None else self.alias.get(t.bsn)
        aanvraag = self.aanvragen.get(named or "")
        return named if aanvraag is not None and aanvraag.bsn == t.bsn else None

    def answer(self, t: Toewijzing, moment: str, named: str | None) -> list[str]:
        """Close the open request a 301 line names (spec 1, "An answered aanvraag is closed"), unless it was
        registered after the toewijzing."""
        aanvraag = self.aanvragen.get(named or "")
        if aanvraag is None or aanvraag.einddatum is not None or moment < aanvraag.as_of:
            return []
        aanvraag.einddatum, aanvraag.resultaat = moment[:8], f"Toegewezen (zaak 0384T{t.nummer})"
        aanvraag.statussen.append((AFGEHANDELD, _gezet_after([g for _, g in aanvraag.statussen], moment[:8])))
        return ["updateZaak", "actualiseerZaakstatus"]

    def toewijs(self, t: Toewijzing, day: str, moment: str, einde: str, volume: str, reden: str | None,
                referentie: str | None = None, ingang: str = ymd(FIRST_DAY)) -> Expected:
        """A 301 line, then the request it answers; ``ingang`` its Ingangsdatum, the zaak's startdatum (spec 4)."""
        named = self.named(t, referentie)
        expected = self._toewijzing(t, day, moment, einde, volume, reden, referentie, ingang)
        if expected.refused is None:
            self.name_product((t.beschikking, t.code, ingang), t.nummer)
            if expected.operations[:1] == ["creeerZaak"] and named is not None:
                self.zaken[t.nummer].andere = [named]
            expected.operations += self.answer(t, moment, named)
        return expected

    def _toewijzing(self, t: Toewijzing, day: str, moment: str, einde: str, volume: str, reden: str | None,
                    referentie: str | None, ingang: str) -> Expected:
        ending = reden in self.ending
        closes = ending and einde <= day
        resultaat = f"RedenWijziging {reden}" if closes else None
        held = self.zaken.get(t.nummer)
        if held is None:
            zaak = Zaak(ingang, einde, volume=volume, tijdstip=moment, reden=reden, referentie=referentie,
                        as_of=moment)
            self.zaken[t.nummer] = zaak
            if not closes:
                return Expected(["creeerZaak"])
            zaak.einddatum, zaak.resultaat, zaak.ended_as_of = einde, resultaat, moment
            zaak.set_status(AFGEHANDELD, einde)
            return Expected(["creeerZaak", "updateZaak", "actualiseerZaakstatus"])
        want = copy.deepcopy(held)
        want.einddatum_gepland = held.einddatum_gepland if closes else einde
        want.einddatum, want.resultaat = (einde, resultaat) if closes else (None, None)
        want.volume, want.tijdstip, want.reden, want.referentie = volume, moment, reden, referentie
        want.startdatum = ingang  # a corrected Ingangsdatum is the zaak's startdatum (spec 4, "startdatum")
        if want.attrs() == held.attrs():
            return Expected()  # no change
        if moment < held.as_of:
            return Expected()  # older than the state held
        if held.closed():
            assert held.ended_as_of is not None
            if moment <= held.ended_as_of or ending:
                return Expected()  # older than the end, or ending a closed zaak again
            return Expected(refused="StUF058")  # would reopen
        want.as_of = max(held.as_of, moment)
        operations = ["updateZaak"]
        if closes:
            want.ended_as_of = moment
            want.set_status(AFGEHANDELD, einde)
            operations.append("actualiseerZaakstatus")
        self.zaken[t.nummer] = want
        return Expected(operations)

    def name_product(self, key: tuple[str, str, str], nummer: str) -> None:
        """A line converted that names product key ``key`` for toewijzing ``nummer``: the key names it last."""
        self.products[key] = nummer
        if nummer not in self.shared.setdefault(key, []):
            self.shared[key].append(nummer)

    def period_holds(self, nummer: str, datum: str) -> bool:
        """Whether the toewijzing's period, as its zaak holds it (startdatum to einddatum, else einddatumGepland,
        else open), holds ``datum``."""
        zaak = self.zaken[nummer]
        end = zaak.einddatum or zaak.einddatum_gepland
        return zaak.startdatum <= datum and (end is None or datum <= end)

    def without_number(self, key: tuple[str, str, str], begindatum: str) -> tuple[str | None, tuple[str, ...]]:
        """The toewijzing a 305/307 line without a ToewijzingNummer belongs to, and the candidates a warning names
        (none when the rules leave no choice). Spec 1: of the toewijzingen that share its product key, the one whose
        period holds its Begindatum; when several or none do, of those (or all) the one named last."""
        candidates = [n for n in self.shared.get(key, []) if n in self.zaken]
        if len(candidates) < 2:
            return (candidates[0] if candidates else None), ()
        fit = [n for n in candidates if self.period_holds(n, begindatum)]
        if len(fit) == 1:
            return fit[0], ()
        pool = fit or candidates
        last = self.products.get(key)
        return (last if last in pool else pool[-1]), tuple(pool)

    def toewijs_without_number(self, t: Toewijzing, day: str, moment: str, einde: str, volume: str,
                               reden: str | None, ingang: str) -> Expected:
        """A 301 line without a ToewijzingNummer (optional in 2.1) for ``t``'s beschikking and product from
        ``ingang``: the toewijzing that key names when it names one (the zaak keeps its ToewijzingNummer: not naming
        it is no change of it); refused (StUF058) when it names several, a 301 changes the toewijzing itself and
        nothing in the line tells which (spec 1). A key no toewijzing named is not asked here: that line makes a
        zaak without a number, which the property's check finds by number only."""
        candidates = [n for n in self.shared.get((t.beschikking, t.code, ingang), []) if n in self.zaken]
        if len(candidates) > 1:
            return Expected(refused="StUF058")
        (nummer,) = candidates
        return self.toewijs(Toewijzing(nummer, t.bsn, t.beschikking, t.code), day, moment, einde, volume, reden,
                            None, ingang)

    def delivery(self, t: Toewijzing, day: str, status: str, datum: str, opposite: str | None,
                 stop: str | None = None, ingang: str = ymd(FIRST_DAY), by_product: bool = False,
                 begindatum: str | None = None) -> Expected:
        """A 305/307 line for ``t``, or (``by_product``: no ToewijzingNummer, as in 2.0) for the toewijzing its
        product key (``t``'s beschikking and product, from ``ingang``) and its ``begindatum`` choose
        (:meth:`without_number`; not given: ``datum``)."""
        key = (t.beschikking, t.code, ingang)
        candidates: tuple[str, ...] = ()
        if by_product:
            nummer, candidates = self.without_number(key, begindatum or datum)
        else:
            nummer = t.nummer
        held = self.zaken.get(nummer or "")
        if nummer is None or held is None:
            return Expected(refused="StUF064")
        self.name_product(key, nummer)
        expected = self._delivery(nummer, held, day, status, datum, opposite, stop)
        expected.warned = [candidates] if candidates else []
        return expected

    def _delivery(self, nummer: str, held: Zaak, day: str, status: str, datum: str, opposite: str | None,
                  stop: str | None) -> Expected:
        at = day + "000000"
        if held.delivery_as_of is not None and at < held.delivery_as_of:
            return Expected()  # older than the state held
        after = copy.deepcopy(held)
        operations = []
        if after.set_status(status, datum, opposite):
            operations.append("actualiseerZaakstatus")
            if stop is not None and after.einddatum is None:
                after.einddatum, after.resultaat, after.ended_as_of = datum, stop, at
                after.set_status(AFGEHANDELD, datum)
                operations += ["updateZaak", "actualiseerZaakstatus"]
        if operations and held.closed():
            return Expected()  # a closed zaak takes no change
        after.delivery_as_of = max(held.delivery_as_of or at, at)
        self.zaken[nummer] = after
        return Expected(operations)

    def withdraw_stop(self, t: Toewijzing, day: str, datum: str, stop: str, ingang: str = ymd(FIRST_DAY)) -> Expected:
        """A 307 line with StatusAanlevering 3 for ``t``: the stop per ``datum`` (resultaat ``stop``) withdrawn.

        Spec 3, "A withdrawn stop of zorg": "Start levering ingetrokken" at the stop's Einddatum, unless it is the
        zaak's latest word already (the stop it withdraws, the same date and RedenBeeindiging, set after it undoes
        that); on a closed zaak not sent, but refused (StUF058, would reopen) when that very stop closed it (its
        einddatum and a stop's resultaat)."""
        held = self.zaken.get(t.nummer)
        if held is None:
            return Expected(refused="StUF064")
        self.name_product((t.beschikking, t.code, ingang), t.nummer)
        at = day + "000000"
        if held.delivery_as_of is not None and at < held.delivery_as_of:
            return Expected()  # older than the state held
        sent = True
        for event in reversed(held.events):
            if event == (STOP_INGETROKKEN, datum):
                sent = False
                break
            if event == (GESTOPT, datum) and held.resultaat == stop:
                break
        if sent and held.closed():
            if (held.resultaat or "").startswith("RedenBeeindiging") and held.einddatum == datum:
                return Expected(refused="StUF058", refused_field=STATUS_FIELD)  # would reopen
            return Expected()  # a closed zaak takes no change
        after = copy.deepcopy(held)
        if sent:
            after.statussen.append((INGETROKKEN, _gezet_after([g for _, g in after.statussen], datum)))
            after.events.append((STOP_INGETROKKEN, datum))
        after.delivery_as_of = max(held.delivery_as_of or at, at)
        self.zaken[t.nummer] = after
        return Expected(["actualiseerZaakstatus"] if sent else [])
