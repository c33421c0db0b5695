"""The reference receiver: a small StUF-ZKN 3.10 zaaksysteem that applies zakLk01 and answers Bv03 or Fo03.

Order of checks follows StUF 03.01 §4.4.3: a known referentienummer is answered first (same body: the
earlier Bv03 again, nothing applied twice; other body: StUF016), then tijdstipBericht per zender
(StUF019), then the kennisgeving itself (§5.2). A refused message changes no zaak, and does not advance the
zender's tijdstipBericht. Offered again unchanged it is processed as if received for the first time (§4.4.3: "Als
bij het opnieuw aanbieden van het bericht de fout inmiddels is opgelost bij de ontvanger, dan dient een
Bv03-bevestigingsbericht te worden teruggestuurd en kan het bericht verwerkt worden"), its tijdstipBericht not
measured against messages processed since: the zender "mag bij het opnieuw aanbieden het referentienummer en
tijdstipBericht niet wijzigen".
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections import OrderedDict
from typing import Any

from gateway.ingest import DEFAULT_MAX_BYTES

from .apply import create, refuse, update
from .message import Inbound, Refusal, Zender, read_message
from .zaak import Zaak


@dataclasses.dataclass(frozen=True)
class Answer:
    """What the receiver answers: Bv03 (accepted) or Fo03 (refused, with the fout)."""

    accepted: bool
    referentienummer: str | None  # of the message answered: the crossRefnummer of a Bv03/Fo03
    zaak: str | None = None
    operation: str | None = None  # creeerZaak, updateZaak or actualiseerZaakstatus
    fout: Refusal | None = None
    duplicate: bool = False  # the same message again: the earlier answer, nothing applied
    zender: Zender | None = None  # who sent it: the ontvanger of the Bv03/Fo03 (None when unreadable)
    digest: str | None = None  # set when the receiver remembers the message (a resend is recognised by it)

    @property
    def berichtcode(self) -> str:
        return "Bv03" if self.accepted else "Fo03"

    @property
    def code(self) -> str | None:
        return self.fout.code if self.fout else None

    @property
    def rule(self) -> str | None:
        return self.fout.rule if self.fout else None


@dataclasses.dataclass(frozen=True)
class _Seen:
    """A message answered before: a resend is recognised by its digest (same zender and referentienummer)."""

    digest: str
    accepted: Answer | None  # the Bv03 to give again; None: refused, so a resend is processed again (§4.4.3)
    in_order: bool  # its tijdstipBericht passed the order check, so a resend is exempt from it


EINDSTATUSSEN = frozenset({"Afgehandeld"})
"""Statustype omschrijvingen that are an eindstatus: the demo catalogue's (docs/canonical-spec.md 2)."""


class Receiver:
    """An in-memory zaak store with the refusal rules of StUF 03.01 and ZDS 1.2; safe to share between threads."""

    def __init__(self, *, validate: bool = True, max_bytes: int = DEFAULT_MAX_BYTES,
                 remembered: int = 100_000, eindstatussen: frozenset[str] = EINDSTATUSSEN) -> None:
        """``remembered``: how many referentienummers are kept for duplicate detection (oldest forgotten first),
        so a long-running testbed does not grow without bound on messages alone. ``eindstatussen``: the statustype
        omschrijvingen of the receiver's ZTC that close a zaak (ZDS 1.2 4.1.3.1: the ZS knows from its ZTC which
        status is the eindstatus); the only part of a zaaktypecatalogus this receiver models."""
        self.validate = validate
        self.max_bytes = max_bytes
        self.remembered = remembered
        self.eindstatussen = eindstatussen
        self._zaken: dict[str, Zaak] = {}
        self._seen: OrderedDict[tuple[Zender, str], _Seen] = OrderedDict()
        self._last_tijdstip: dict[Zender, str] = {}
        self._lock = threading.Lock()

    def receive(self, data: bytes, soap_action: str | None = None) -> Answer:
        """Apply one zakLk01 (bare or in SOAP); ``soap_action`` is the HTTP SOAPAction when there was one."""
        try:
            inbound = read_message(data, soap_action, max_bytes=self.max_bytes, validate=self.validate)
        except Refusal as fout:
            return Answer(False, fout.referentienummer, fout=fout, zender=fout.zender)
        with self._lock:
            key = (inbound.zender, inbound.referentienummer)
            seen = self._seen.get(key)
            if seen is not None and seen.digest != inbound.digest:
                return Answer(False, inbound.referentienummer, fout=refuse(
                    "referentienummer-reused", "stuurgegevens/referentienummer",
                    "this zender sent another message with this referentienummer (StUF 03.01 §4.4.3)", "StUF016"),
                    zender=inbound.zender)
            if seen is not None and seen.accepted is not None:
                return dataclasses.replace(seen.accepted, duplicate=True)
            resend = seen is not None and seen.in_order  # refused before for its content, offered again unchanged
            late = None if resend else self._out_of_order(inbound)
            answer = dataclasses.replace(late or self._process(inbound), zender=inbound.zender, digest=inbound.digest)
            self._remember(key, _Seen(inbound.digest, answer if answer.accepted else None, late is None))
            return answer

    def recall_refused(self, data: bytes, soap_action: str | None, code: str | None) -> None:
        """Take back, applying nothing, that ``data`` was refused with ``code`` before a restart (the testbed journal
        replays its history), so a resend accepted after it is recognised again instead of refused StUF019."""
        try:
            inbound = read_message(data, soap_action, max_bytes=self.max_bytes, validate=self.validate)
        except Refusal:
            return  # unreadable: receive kept nothing of it either
        self.recall(inbound.zender, inbound.referentienummer, inbound.digest, code)

    def recall(self, zender: Zender, referentienummer: str, digest: str, code: str | None) -> None:
        """As :meth:`recall_refused`, from what an answer said (its zender, referentienummer, digest and code)
        instead of the body: the journal need not keep a refused body to replay the refusal."""
        with self._lock:
            key = (zender, referentienummer)
            if key not in self._seen:  # else a StUF016 or a resend, which receive kept nothing new of
                self._remember(key, _Seen(digest, None, code != "StUF019"))

    def _remember(self, key: tuple[Zender, str], seen: _Seen) -> None:
        """Keep the newest ``remembered`` answered messages, refused ones too, so memory stays bounded."""
        self._seen[key] = seen
        self._seen.move_to_end(key)
        while len(self._seen) > self.remembered:
            self._seen.popitem(last=False)

    def _out_of_order(self, inbound: Inbound) -> Answer | None:
        """The StUF019 refusal of a new message whose tijdstipBericht is not after the zender's last processed one."""
        last = self._last_tijdstip.get(inbound.zender)
        if last is None or inbound.tijdstip > last:
            return None
        return Answer(False, inbound.referentienummer, fout=refuse(
            "tijdstipBericht", "stuurgegevens/tijdstipBericht", f"tijdstipBericht {inbound.tijdstip} is not "
            f"greater than {last}, the last of zender {inbound.zender} (StUF 03.01 §4.3.2)", "StUF019"))

    def _process(self, inbound: Inbound) -> Answer:
        try:
            zaak, operation = self._apply(inbound)
        except Refusal as fout:
            return Answer(False, inbound.referentienummer, fout=fout)
        zaak.berichten.append(inbound.referentienummer)
        self._zaken[zaak.identificatie] = zaak
        self._last_tijdstip[inbound.zender] = max(inbound.tijdstip, self._last_tijdstip.get(inbound.zender, ""))
        return Answer(True, inbound.referentienummer, zaak.identificatie, operation)

    def _apply(self, inbound: Inbound) -> tuple[Zaak, str]:
        """The zaak as it is after the message (a changed copy: the store is only touched on success)."""
        count = {"T": 1, "W": 2, "C": 2, "F": 2}.get(inbound.mutatiesoort)
        if count is None:
            raise refuse("mutatiesoort", "parameters/mutatiesoort", f"mutatiesoort {inbound.mutatiesoort!r} is "
                         "not one of the ZDS zakLk01 operations (T creeerZaak, W updateZaak/actualiseerZaakstatus)")
        if len(inbound.objects) != count:
            raise refuse("objecten", "object", f"mutatiesoort {inbound.mutatiesoort} carries {count} object "
                         f"element(s), not {len(inbound.objects)} (StUF 03.01 §5.2)", "StUF055")
        known = self._zaken
        if inbound.mutatiesoort == "T":
            zaak, operation = create(inbound.objects[0], known), "creeerZaak"
        else:
            identificatie = (inbound.objects[0].findtext("{*}identificatie") or "").strip()
            if identificatie not in self._zaken:
                raise refuse("unknown-zaak", "object/identificatie", "no zaak with this identificatie: a W or a "
                             "status needs an existing zaak (StUF 03.01 Tabel 5.8, object niet gevonden)", "StUF064")
            held = self._zaken[identificatie]
            closed = next((s for s in held.statussen if s.statustype in self.eindstatussen), None)
            if closed is not None:
                raise refuse("zaak-closed", "object/identificatie", f"the zaak was closed at its eindstatus "
                             f"{closed.statustype!r} of {closed.datum_status_gezet}: updateZaak and "
                             "actualiseerZaakstatus change a lopende zaak only (ZDS 1.2 4.1.3, 4.1.5)")
            zaak = copy.deepcopy(held)
            operation = update(zaak, inbound.mutatiesoort, inbound.objects[0], inbound.objects[1], known)
        if inbound.action is not None and inbound.action != operation:
            raise refuse("soapaction", "SOAPAction", f"SOAPAction {inbound.action}_Lk01 does not fit this "
                         f"kennisgeving, which is a {operation} (ZDS 1.2 §4.1.3-4.1.5)")
        return zaak, operation

    def zaak(self, identificatie: str) -> dict[str, Any] | None:
        """The JSON snapshot of one zaak (BSNs masked), None when unknown."""
        with self._lock:
            found = self._zaken.get(identificatie)
            return found.snapshot() if found else None

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every zaak as JSON, by identificatie."""
        with self._lock:
            return {key: zaak.snapshot() for key, zaak in sorted(self._zaken.items())}

    def __len__(self) -> int:
        return len(self._zaken)
