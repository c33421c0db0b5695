"""A GGk envelope the chain already holds, sent again in a new envelope: a new UUID and tijdstipBericht, the rest kept.

The ISD-keten records every envelope it takes (Bv03) under its zender and referentienummer; a later Fo01 refuses
it, and the same UUID offered again is refused for that alone (IB216 "Combinatie zender en referentienummer niet
uniek", CC08 "UUID is niet uniek"; GGk spec 2.4: a valid, unique UUID). StUF 03.01 4.4.3 says the same: when the
problem lay with the sender, it makes "een nieuw bericht ... met een nieuw referentienummer en een nieuw
tijdstipBericht". So a replay of such a delivery keeps the payload and the stuurgegevens but those two: a random
UUIDv4 (as a fresh envelope's) and the next tijdstipBericht of the zender's ledger counter (StUF019). The delivery
row takes the new referentienummer and bytes in the same transaction (a second Fo01 names the new UUID); the old
one stays in its reason, and the zaak ledger keeps old -> new (a later Du01 follows it to the envelope the chain
got, a Fo01 about the old one is a repeat). Zkn deliveries and originals for a legacy downstream are never restamped.

The chain holds an envelope it refused AT ONCE too: it answered a StUF Fo03 (kept as the delivery's reply code
``Fo03 <code>``), and StUF 03.01 4.4 has an end node keep what it was offered under its referentienummer, answer
the same message offered again with the same Fo03 and a different one with StUF016 (the ISD-keten: IB216, CC08).
So a replay of such a dead letter goes in a new envelope as well. A delivery the chain never answered in StUF
(connection refused, a timeout, HTTP 5xx without a Fo) keeps its envelope: the chain may hold it or not, and the
same UUID is what lets it tell a re-offer from a new message. If it did not hold it and the zender sent later
envelopes meanwhile, the chain answers that envelope Fo03 StUF019; that answer proves it held no envelope under
the UUID (4.4: a stored one gets its stored answer again; Tabel 4.1: only the first fault, and StUF016 comes before
StUF019), so the sidecar replays it in a new envelope at once (:func:`stale`), no second replay needed.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from gateway.ledger import LedgerTransaction
from gateway.ledger.replacements import REPLACED, sent_last
from gateway.ledger.staged import ConnLedger
from gateway.profiles import DI01, DU01, GGK_NS, STUF_NS

from . import outbox

STALE_TIJDSTIP = "Fo03 StUF019"
"""The chain's answer to an envelope whose tijdstipBericht is not later than the zender's last (StUF 03.01 Tabel
4.1, "TijdstipBericht niet groter dan voorgaand")."""
CHAIN_REFUSALS = frozenset({"Fo01", "Fo02", "Fo03"})
"""The StUF berichtcodes a refused delivery's reply code begins with: ``Fo01 <code>`` for the chain's later Fo01
(gateway/deliver/chain_faults.py), the answer's berichtcode and code for a refusal at once (outcome.py)."""
_ROOTS = {f"{{{GGK_NS}}}{DI01}": "Di01", f"{{{GGK_NS}}}{DU01}": "Du01"}
_S = f"{{{STUF_NS}}}"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


@dataclass(frozen=True, slots=True)
class Envelope:
    """What a restamp needs of a stored GGk envelope: its kind, its zender's counter key and its two stamps."""

    code: str
    """``Di01`` or ``Du01``."""
    zender: str
    """``<organisatie>/<applicatie>``: the key of the ledger's tijdstip counter, as ``ggk_stamp`` takes it."""
    referentienummer: str
    tijdstip: str


@dataclass(frozen=True, slots=True)
class NewStamp:
    """The new envelope's referentienummer and tijdstipBericht, taken before the write that stores them."""

    referentienummer: str
    tijdstip: str


def refused_in_stuf(reply_code: str | None) -> bool:
    """Whether a delivery's reply code is a StUF Fo of the downstream: it read the envelope and keeps its answer."""
    return str(reply_code or "").split(" ", 1)[0] in CHAIN_REFUSALS


def chain_holds(row: sqlite3.Row) -> bool:
    """Whether the chain has this delivery's envelope under its UUID (it answered a Fo03 at once, a Fo01 later, or
    it was delivered and is sent again on force): only then is its UUID spent. A dead letter the downstream never
    answered in StUF keeps its envelope, and so does the legacy target's original (not our envelope)."""
    if row["target"] != outbox.NEW:
        return False
    return row["status"] == outbox.DELIVERED or refused_in_stuf(row["reply_code"])


def refused_envelope(target: str, reply_code: str | None, payload: bytes, ref: str) -> bool:
    """Whether a dead letter is a GGk envelope the chain refused in StUF: offered again by the sender, it goes in a
    new envelope as a replay's does (gateway/deliver/outbox.py leaves it dead for that), never revived as stored."""
    return target == outbox.NEW and refused_in_stuf(reply_code) and read(payload, ref) is not None


def read(payload: bytes, ref: str) -> Envelope | None:
    """The GGk Di01/Du01 in a stored payload (SOAP 1.1 around it, or bare) whose referentienummer is ``ref``;
    None for anything else (a zakLk01 of a zkn route)."""
    try:
        root = etree.fromstring(payload, _PARSER)
    except etree.XMLSyntaxError:
        return None
    found = root if root.tag in _ROOTS else next((e for e in root.iter(*_ROOTS) if e is not root), None)
    if found is None:
        return None
    stuur = found.find(f"{{{GGK_NS}}}stuurgegevens")
    if stuur is None:
        return None
    texts = [stuur.findtext(f"{_S}{path}") for path in
             ("zender/" + _S + "organisatie", "zender/" + _S + "applicatie", "referentienummer", "tijdstipBericht")]
    if any(t is None for t in texts) or texts[2] != ref:
        return None
    organisatie, applicatie, own, tijdstip = (str(t) for t in texts)
    return Envelope(_ROOTS[found.tag], f"{organisatie}/{applicatie}", own, tijdstip)


def take(envelope: Envelope, tx: LedgerTransaction, now: datetime) -> NewStamp:
    """A new UUIDv4 and the zender's next tijdstipBericht from ``tx``, as :func:`gateway.render.ggk_chain.ggk_stamp`
    gives a fresh envelope (the counter moved on, so never the value the chain got before)."""
    from gateway.render.zkn import referentienummer  # the renderers only when an envelope is made anew

    return NewStamp(referentienummer(), tx.tijdstip(envelope.zender, now))


def _element(name: str, value: str) -> bytes:
    return f"<StUF:{name}>{value}</StUF:{name}>".encode("ascii")


def restamped(payload: bytes, envelope: Envelope, stamp: NewStamp) -> bytes:
    """``payload`` with the envelope's referentienummer and tijdstipBericht replaced, byte for byte otherwise (its
    CR LF lines, the base64 payload). The envelope was written by gateway/render/ggk.py, so each element occurs
    once as written there; anything else is refused rather than sent half changed."""
    out = payload
    for name, old, new in (("referentienummer", envelope.referentienummer, stamp.referentienummer),
                           ("tijdstipBericht", envelope.tijdstip, stamp.tijdstip)):
        before = _element(name, old)
        if out.count(before) != 1:
            raise ValueError(f"stored envelope's stuurgegevens.{name} is not written as expected: not restamped")
        out = out.replace(before, _element(name, new))
    return out


def replaced_by(conn: sqlite3.Connection, ref: str) -> str | None:
    """The UUID under which the envelope once sent as ``ref`` went out last, or None when it was never replaced."""
    found = sent_last(ConnLedger(conn, create=False).direct, ref)
    return found if found != ref else None


def store(conn: sqlite3.Connection, delivery_id: int, payload: bytes, envelope: Envelope, stamp: NewStamp,
          reason: str | None) -> None:
    """Keep the new envelope with the delivery (referentienummer, bytes, the old UUID in its reason) and in the
    ledger which envelope it replaced, in the caller's transaction. The ledger keys a Di01 by heenbericht, not by
    UUID, so a Du01 follows the replacement when it is rendered (:func:`sent_last`): no search by value here, and a
    newer Di01 under that key (a correction) stays what the key names."""
    note = f"replayed in a new envelope {stamp.referentienummer} (was {envelope.referentienummer})"
    conn.execute("UPDATE delivery SET referentienummer = ?, payload = ?, reason = ? WHERE id = ?",
                 (stamp.referentienummer, restamped(payload, envelope, stamp),
                  outbox.cap(f"{note}: {reason}" if reason else note), delivery_id))
    conn.execute("INSERT INTO remembered (kind, key, value) VALUES (?, ?, ?) ON CONFLICT(kind, key) DO UPDATE SET"
                 " value = excluded.value", (REPLACED, envelope.referentienummer, stamp.referentienummer))


def owe_renewal(conn: sqlite3.Connection, delivery_id: int) -> bool:
    """In the transaction that writes a StUF019 dead letter: record that the sidecar owes it a renewal when it is
    :func:`stale` (``delivery.renewal_owed``, schema 0009), so a process killed before the renewal leaves the debt,
    not a dead letter for the operator; paid once (:func:`gateway.deliver.outbox.claim_renewal`). Whether owed."""
    if not stale(conn, delivery_id):
        return False
    conn.execute("UPDATE delivery SET renewal_owed = 1 WHERE id = ?", (delivery_id,))
    return True


def stale(conn: sqlite3.Connection, delivery_id: int) -> bool:
    """Whether a dead letter the chain answered Fo03 StUF019 goes on in a new envelope at once: its tijdstipBericht
    is older than the zender's counter, so the zender sent later envelopes since (a replay as stored of an envelope
    the chain never answered, or one overtaken by a later one of another key). Only then: a fresh envelope carries
    the counter's latest value, and renewing its StUF019 (another system sent under the zender, a clock ahead)
    would give new UUIDs in a loop."""
    row = outbox.delivery(conn, delivery_id)
    if row is None or (row["status"], row["target"], row["reply_code"]) != (outbox.DEAD, outbox.NEW, STALE_TIJDSTIP):
        return False
    envelope = read(bytes(row["payload"]), row["referentienummer"])
    last = None if envelope is None else conn.execute("SELECT tijdstip FROM zender_tijdstip WHERE zender = ?",
                                                      (envelope.zender,)).fetchone()
    return envelope is not None and last is not None and envelope.tijdstip < str(last[0])
