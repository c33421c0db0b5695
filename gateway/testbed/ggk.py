"""The testbed's GGk side: StUF-GGk Di01 and Du01 envelopes as the ISD chain carries them (not zaakgericht).

What it checks is what the GGk spec asks of the envelope, not the payload's content: schema-valid (the
official ggk0310 XSDs, when present), the stuurgegevens every envelope needs; a referentienummer a zender
does not reuse for another envelope (StUF016); a Du01 whose crossRefnummer is the referentienummer of a Di01
the testbed received (spec 3.3: "crossRefnummer = UUID van het Di01-bericht") and that travels the other way
(its zender is that Di01's ontvanger, its ontvanger that Di01's zender, organisatie level). The payload stays
in the journal; what is shown is the envelopes' references only.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import asdict, dataclass

from lxml import etree

from gateway.ingest import InputError, parse_xml
from gateway.ingest.envelopes import unwrap_soap
from gateway.ingest.ggk import MAX_ENVELOPE_BYTES, is_envelope, unwrap
from gateway.receiver import Answer, Refusal, Zender
from gateway.reference import load_schema

GGK_SCHEMA = "ggk/ggk0310_21/ggkberichten/ggk0310_msg.xsd"


def is_ggk(body: bytes) -> bool:
    """A GGk envelope announces itself in its first 4 KB (bare or inside SOAP)."""
    head = body[:4096]
    return b"envelopHeenbericht-ggk_Di01" in head or b"envelopRetourbericht-ggk_Du01" in head


@dataclass(frozen=True, slots=True)
class Envelope:
    """One envelope as the testbed lists it: references and parties, never the payload."""

    berichtcode: str
    referentienummer: str
    crossRefnummer: str | None
    zender: str
    ontvanger: str
    functie: str
    tijdstipBericht: str


class GgkIntake:
    """The envelopes received, checked against each other; safe to share between threads."""

    def __init__(self, *, validate: bool = True) -> None:
        self.validate = validate
        self._seen: dict[tuple[str, str], tuple[str, Envelope]] = {}
        self._order: list[Envelope] = []
        self._lock = threading.Lock()

    def receive(self, body: bytes) -> Answer:
        """Check and keep one envelope; a refusal names the rule as the zaak receiver's refusals do."""
        try:
            envelope, digest = self._read(body)
        except Refusal as fout:
            return Answer(False, None, fout=fout)
        zender = Zender(envelope.zender, "", "")
        with self._lock:
            key = (envelope.zender, envelope.referentienummer)
            seen = self._seen.get(key)
            if seen is not None:
                if seen[0] == digest:
                    return Answer(True, envelope.referentienummer, None, f"ggk-{envelope.berichtcode}",
                                  duplicate=True, zender=zender)
                return Answer(False, envelope.referentienummer, fout=Refusal(
                    "StUF016", "referentienummer-reused", "stuurgegevens/referentienummer",
                    "this zender sent another envelope with this referentienummer (StUF 03.01 §4.4.3)"), zender=zender)
            if envelope.berichtcode == "Du01":
                problem = self._check_retour(envelope)
                if problem is not None:
                    return Answer(False, envelope.referentienummer, fout=problem, zender=zender)
            self._seen[key] = (digest, envelope)
            self._order.append(envelope)
        return Answer(True, envelope.referentienummer, None, f"ggk-{envelope.berichtcode}", zender=zender)

    def _check_retour(self, du01: Envelope) -> Refusal | None:
        heen = next((e for (_z, ref), (_d, e) in self._seen.items()
                     if ref == du01.crossRefnummer and e.berichtcode == "Di01"), None)
        if heen is None:
            return Refusal("StUF055", "crossref-unknown", "stuurgegevens/crossRefnummer",
                           "a Du01's crossRefnummer must be the referentienummer of the Di01 it answers (GGk spec "
                           "3.3); no Di01 with this referentienummer was received")
        if (du01.zender, du01.ontvanger) != (heen.ontvanger, heen.zender):
            return Refusal("StUF055", "du01-direction", "stuurgegevens/zender",
                           "a Du01 travels back: its zender must be the Di01's ontvanger and its ontvanger the Di01's "
                           "zender (GGk spec 2.2)")
        return None

    def _read(self, body: bytes) -> tuple[Envelope, str]:
        try:
            root, _ = unwrap_soap(parse_xml(body, "ggk", MAX_ENVELOPE_BYTES, huge=True), "ggk")
        except InputError as exc:
            raise Refusal("StUF055", "xml", exc.field or f"line {exc.line or 1}", exc.message) from None
        if not is_envelope(root):
            raise Refusal("StUF055", "ggk-envelope", etree.QName(root).localname,
                          "expected envelopHeenbericht-ggk_Di01 or envelopRetourbericht-ggk_Du01")
        schema = load_schema(GGK_SCHEMA) if self.validate else None
        if schema is not None and not schema.validate(etree.ElementTree(root)):
            error = schema.error_log[0]
            raise Refusal("StUF055", "schema", f"line {error.line}",
                          "the envelope does not conform to the StUF-GGk 0310 schema")
        try:
            opened = unwrap(root, "ggk", MAX_ENVELOPE_BYTES)
        except InputError as exc:
            raise Refusal("StUF055", "ggk-stuurgegevens", exc.field or "stuurgegevens", exc.message) from None
        info = opened.info
        envelope = Envelope(info["berichtcode"], info["referentienummer"], info.get("crossRefnummer"),
                            info["zender.organisatie"], info["ontvanger.organisatie"], info["functie"],
                            info["tijdstipBericht"])
        return envelope, hashlib.sha256(etree.tostring(root, method="c14n")).hexdigest()

    def snapshot(self) -> list[dict[str, str | None]]:
        """Every envelope received, in order (references and parties only)."""
        with self._lock:
            return [asdict(e) for e in self._order]

    def __len__(self) -> int:
        return len(self._order)
