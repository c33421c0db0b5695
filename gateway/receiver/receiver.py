"""The reference receiver: a small StUF-ZKN 3.10 zaaksysteem that applies zakLk01 and answers Bv03 or Fo03.

Order of checks follows StUF 03.01 §4.4.3: a known referentienummer is answered first (same body: the
earlier answer again, nothing applied twice; other body: StUF016), then tijdstipBericht per zender
(StUF019), then the kennisgeving itself (§5.2). A refused message changes no zaak.
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
    digest: str
    answer: Answer


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
            return Answer(False, None, fout=fout)
        with self._lock:
            seen = self._seen.get((inbound.zender, inbound.referentienummer))
            if seen is not None:
                if seen.digest == inbound.digest:
                    return dataclasses.replace(seen.answer, duplicate=True)
                return Answer(False, inbound.referentienummer, fout=refuse(
                    "referentienummer-reused", "stuurgegevens/referentienummer",
                    "this zender sent another message with this referentienummer (StUF 03.01 §4.4.3)", "StUF016"),
                    zender=inbound.zender)
            answer = dataclasses.replace(self._process(inbound), zender=inbound.zender)
            self._seen[(inbound.zender, inbound.referentienummer)] = _Seen(inbound.digest, answer)
            while len(self._seen) > self.remembered:
                self._seen.popitem(last=False)
            return answer

    def _process(self, inbound: Inbound) -> Answer:
        last = self._last_tijdstip.get(inbound.zender)
        if last is not None and inbound.tijdstip <= last:
            return Answer(False, inbound.referentienummer, fout=refuse(
                "tijdstipBericht", "stuurgegevens/tijdstipBericht", f"tijdstipBericht {inbound.tijdstip} is not "
                f"greater than {last}, the last of zender {inbound.zender} (StUF 03.01 §4.3.2)", "StUF019"))
        self._last_tijdstip[inbound.zender] = inbound.tijdstip
        try:
            zaak, operation = self._apply(inbound)
        except Refusal as fout:
            return Answer(False, inbound.referentienummer, fout=fout)
        zaak.berichten.append(inbound.referentienummer)
        self._zaken[zaak.identificatie] = zaak
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
