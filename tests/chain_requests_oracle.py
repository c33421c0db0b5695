"""The oracle of the 3.x request property (test_chain_property_requests.py): the aanvraagzaken and toewijzingzaken a
receiver should hold after a chain of 315s, 317s (lines that change a toewijzing, lines that ask for a new product,
the same ReferentieAanbieder offered again with other lines or values), 319s and 301s, worked out from the events and
docs/canonical-spec.md 1 and 3 alone, never from the converter's output. One oracle per wet: a gemeente numbers its
Wmo and Jeugdwet toewijzingen apart and an aanbieder's reference is its own, so the two never share a zaak (spec 1,
"Wmo and Jeugdwet never share a zaak").

The rules, with the spec's words:

* a 315 line is a request of its own, named by its ReferentieAanbieder R; a 317 line one of its own too, named by R
  and the ToewijzingNummer it asks to change, or by R and ``nieuw{line}`` (its place among the 317's lines, from 1)
  when it asks for a new product ("a 317 line ``aanvraag:{gemeente}:{ReferentieAanbieder}:{ToewijzingNummer, or
  nieuw{line}}``");
* a request offered again: unchanged (but for its Dagtekening) is no change; changed (a corrected 317: another
  Omvang, another product on a new-product line) an updateZaak of what differs, unless dated before the request
  held (not sent), or the request is closed: then not sent when dated on or before what closed it, else refused
  ("a changed 315 or 317 line for an answered aanvraagzaak is refused (StUF058: a new request needs a new
  ReferentieAanbieder)"), the whole message rolled back;
* a 317 line asking to change a toewijzing the receiver holds names it in its creeerZaak ("a 317 line links to the
  toewijzingzaak named by its ToewijzingNummer");
* a 301 line naming R links to, and answers, the 315 line of R ("a 301 line whose ReferentieAanbieder ... matches an
  aanvraagzaak links to it") and the 317 line of R asking to change its ToewijzingNummer ("A 301 line answers a 317
  line when it names the 317's ReferentieAanbieder and the ToewijzingNummer that line asked to change"); a 301 line
  that creates its toewijzing, without RedenWijziging, also the new-product line of R for its product ("a 301 line
  that *creates* its toewijzing with that ReferentieAanbieder and product answers it"; "Two new-product lines of one
  ReferentieAanbieder for the same product are told apart by nothing the 301 carries: the later line holds the key";
  "a corrected 317 asking for another product leaves the first product's key bound, and a toewijzing of that first
  product does not answer it"); answered: closed with the Toewijzingsdatum and "Toegewezen (zaak ...)" if open and
  not registered after the toewijzing; a closed one gets nothing but is linked all the same;
* a 319 for R: "It answers the verzoek its ReferentieAanbieder names: a 315 line (key
  ``aanvraag:{gemeente}:{ReferentieAanbieder}``) or a whole 317"; VerzoekAntwoord 1 closes each open one found
  with the 319's Dagtekening and "Afgewezen" plus the reden, unless dated before it; none found: StUF064.

Choices where the spec is silent, documented here and in docs/canonical-spec.md 1: a ReferentieAanbieder that a 315
and a 317 share (an aanbieder's error: the reference is its own, "ReferentieAanbieder is the aanbieder's own
reference", and retourcodes 9359/9365 speak of one answer per ReferentieAanbieder) names both requests; a 319 for it
refuses both, and a 301 naming it answers the 315 line and the 317 line its own rules find, each: nothing in the
answer tells them apart, and leaving one open for ever is the defect "An answered aanvraag is closed" was written
against.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from chain_oracle import AFGEHANDELD, Expected, _gezet_after

AFGEWEZEN = "Afgewezen: geen contract (3)"
SAFE = re.compile(r"^[A-Za-z0-9._-]+$")


def identificatie(gemeente: str, wet: str, key_rest: str, kind: str = "aanvraag") -> str:
    """The zaak identificatie spec 1 gives a chain key ``{kind}:{gemeente}:{key_rest}`` (``jw-`` before a Jeugdwet
    kind): ``0384A<rest>`` when short and safe, else ``0384A-`` and the first 10 hex of the key's SHA-256, a ``J``
    after the gemeentecode for the Jeugdwet; a toewijzing ``0384T<ToewijzingNummer>``."""
    j = "J" if wet == "jw" else ""
    if kind == "toewijzing":
        return f"{gemeente}{j}T{key_rest}"
    if SAFE.match(key_rest) and len(key_rest) <= 34:
        return f"{gemeente}{j}A{key_rest}"
    key = f"{'jw-' if wet == 'jw' else ''}{kind}:{gemeente}:{key_rest}"
    return f"{gemeente}{j}A-{hashlib.sha256(key.encode()).hexdigest()[:10].upper()}"


def key_part(value: str) -> str:
    """A ReferentieAanbieder as spec 1 writes it in a key: ``%`` as ``%25``, ``:`` as ``%3A``."""
    return value.replace("%", "%25").replace(":", "%3A")


@dataclass
class Request:
    """One aanvraagzaak: a 315 line (``line`` None) or a 317 line (a ToewijzingNummer, or ``nieuw{place}``)."""

    referentie: str
    line: str | None
    as_of: str  # yyyymmdd of the request (and of it offered again, later)
    product: str | None  # the product code it asks for (a 315 line, a new-product line)
    volume: str | None
    budget: str | None = None  # a new-product line asking for a budget (no Product, no Omvang)
    einddatum: str | None = None
    resultaat: str | None = None
    ended_as_of: str | None = None  # yyyymmddhhmmss of what closed it
    statussen: list[tuple[str, str]] = field(default_factory=list)
    andere: list[str] = field(default_factory=list)  # identificaties its creeerZaak names

    def close(self, at: str, resultaat: str) -> list[str]:
        self.einddatum, self.resultaat, self.ended_as_of = at[:8], resultaat, at
        self.statussen.append((AFGEHANDELD, _gezet_after([g for _, g in self.statussen], at[:8])))
        return ["updateZaak", "actualiseerZaakstatus"]


@dataclass
class Toewijzing:
    moment: str
    referentie: str | None
    reden: str | None
    andere: list[str] = field(default_factory=list)


@dataclass
class RequestOracle:
    """The zaken of one wet's requests and toewijzingen (one client, one aanbieder, gemeente 0384)."""

    wet: str = "wmo"
    gemeente: str = "0384"
    requests: dict[tuple[str, str | None], Request] = field(default_factory=dict)
    toewijzingen: dict[str, Toewijzing] = field(default_factory=dict)
    nieuw: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    """(R, product) -> the new-product line last converted that asked for it under R."""
    verzoek: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """R -> its 317 lines in the order they were first converted (how a 319 finds them)."""

    def ident(self, key: tuple[str, str | None]) -> str:
        referentie, line = key
        rest = key_part(referentie) if line is None else f"{key_part(referentie)}:{line}"
        return identificatie(self.gemeente, self.wet, rest)

    def toewijzing_ident(self, nummer: str) -> str:
        return identificatie(self.gemeente, self.wet, nummer, "toewijzing")

    def message(self, lines: list[Callable[[], Expected]]) -> Expected:
        """All lines or none (spec 3: "A failed message rolls back every state and key it would have written")."""
        before = copy.deepcopy((self.requests, self.toewijzingen, self.nieuw, self.verzoek))
        operations: list[str] = []
        for line in lines:
            expected = line()
            if expected.refused is not None:
                self.requests, self.toewijzingen, self.nieuw, self.verzoek = before
                return expected
            operations += expected.operations
        return Expected(operations)

    def vraag(self, day: str, referentie: str, line: str | None, product: str | None, volume: str,
              nummer: str | None = None, budget: bool = False) -> Expected:
        """A 315 line (``line`` None) or a 317 line (``nummer``: the toewijzing it asks to change; ``budget``: a new
        line asking for a budget of ``volume`` * 50000, no product)."""
        key = (referentie, line)
        amount, volume = (str(int(volume) * 50000), None) if budget else (None, volume)
        if line is not None:
            if nummer is None:
                self.nieuw[(referentie, product)] = key  # bound by every line converted, the later one holds it
            order = self.verzoek.setdefault(referentie, [])
            if key not in order:
                order.append(key)
        held = self.requests.get(key)
        if held is None:
            andere = [self.toewijzing_ident(nummer)] if nummer in self.toewijzingen else []
            self.requests[key] = Request(referentie, line, day, product, volume, amount, andere=andere)
            return Expected(["creeerZaak"])
        if (held.product, held.volume, held.budget) == (product, volume, amount):
            held.as_of = max(held.as_of, day)
            return Expected()
        if day < held.as_of:
            return Expected()  # older than the request held: not sent
        if held.ended_as_of is not None:
            if day + "000000" <= held.ended_as_of:
                return Expected()  # not after what closed it: not sent
            return Expected(refused="StUF058")  # a new request needs a new ReferentieAanbieder
        held.product, held.volume, held.budget, held.as_of = product, volume, amount, day
        return Expected(["updateZaak"])

    def antwoord(self, day: str, referentie: str, afgewezen: bool) -> Expected:
        """A 319 for R: the 315 line of R, then every 317 line of R (spec 1, "A refused aanvraag is closed too")."""
        found = [key for key in [(referentie, None), *self.verzoek.get(referentie, [])] if key in self.requests]
        if not found:
            return Expected(refused="StUF064")
        operations: list[str] = []
        for key in found:
            held = self.requests[key]
            if afgewezen and held.einddatum is None and day >= held.as_of:
                operations += held.close(day + "000000", AFGEWEZEN)
        return Expected(operations)

    def toewijs(self, nummer: str, moment: str, referentie: str | None, product: str | None, reden: str | None
                ) -> Expected:
        """A 301 line creating or changing toewijzing ``nummer`` of ``product`` (None: a budget), naming R or
        none."""
        before = self.toewijzingen.get(nummer)
        named: list[tuple[str, str | None]] = []
        if referentie is not None:
            candidates = [(referentie, None), (referentie, nummer)]
            if before is None and reden is None:
                line = self.nieuw.get((referentie, product))
                if line is not None and self.requests[line].product == product:
                    candidates.append(line)
            named = [key for key in dict.fromkeys(candidates) if key in self.requests]
        if before is None:
            operations = ["creeerZaak"]
            self.toewijzingen[nummer] = Toewijzing(moment, referentie, reden, [self.ident(key) for key in named])
        elif (before.moment, before.referentie, before.reden) == (moment, referentie, reden) or moment < before.moment:
            operations = []  # no change, or older than the state held: not sent; the requests it names answered
        else:
            operations = ["updateZaak"]
            before.moment, before.referentie, before.reden = moment, referentie, reden
        for key in named:
            held = self.requests[key]
            if held.einddatum is None and moment[:8] >= held.as_of:
                operations += held.close(moment, f"Toegewezen (zaak {self.toewijzing_ident(nummer)})")
        return Expected(operations)
