"""How GGk envelopes pair up through the zaak ledger: a Di01's UUID remembered, a Du01 pointing at it.

Split from the pipeline so the one job of "which envelope answers which" lives in one place, below every
shell: ``convert``, the sidecar and the batch all remember a received Di01 and stamp an envelope through
these functions, so a retour's Du01 gets the same crossRefnummer whichever shell converted its heenbericht
(docs/ggk-profile.md 2.1). The envelope itself is built by :mod:`gateway.render.ggk`.
"""

from __future__ import annotations

import re
from datetime import datetime

from gateway.ingest.errors import found
from gateway.ledger import LedgerTransaction
from gateway.ledger.replacements import sent_last
from gateway.mapping import ConversionError
from gateway.model import Bericht
from gateway.model.codes import BERICHTNUMMERS

from . import ggk
from . import zkn as zkn_profile
from .settings import RenderSettings
from .zkn import RenderError

Received = tuple[str, str]
"""A Di01 that brought a heenbericht in: (ledger key, its referentienummer)."""


def ggk_stamp(bericht: Bericht, settings: RenderSettings, tx: LedgerTransaction, now: datetime) -> ggk.Stamp:
    """The ledger's part of a GGk envelope: a random UUIDv4 (spec 2.4), remembered for a heenbericht so its
    retour's Du01 can point at it; for a retour that Di01's UUID (3.3 crossRefnummer; the new one when a replay
    sent the Di01 again in a new envelope), refused when unknown;
    tijdstipBericht = ``now``, strictly increasing per zender (3.2 "tijdstip van aanmaken", StUF019)."""
    key = ggk.heen_key(bericht)
    retour = ggk.is_retour(bericht)
    cross_ref = tx.recall("di01", key) if retour else None
    if cross_ref is not None:  # the Di01 the chain got: a replay may have sent the heenbericht in a new envelope
        cross_ref = sent_last(tx, cross_ref)
    if retour and cross_ref is None:
        raise RenderError(f"retour to heenbericht {ggk.describe_heen(bericht)}, whose Di01 this ledger does not "
                          "know: the Du01's crossRefnummer must be that Di01's UUID (GGk 3.3); convert or receive "
                          "the heenbericht first, with the same state", "stuurgegevens.crossRefnummer")
    zender = ggk.parties(bericht, settings)[0]
    # uuid4 text from the zkn render's buffer of os.urandom: the same randomness without a UUID object
    stamp = ggk.Stamp(zkn_profile.referentienummer(), tx.tijdstip(f"{zender}/{settings.zender.applicatie}", now),
                      cross_ref)
    if not retour:
        tx.remember("di01", key, stamp.referentienummer)
    return stamp


_FUNCTIE = re.compile(r"[A-Za-z]{1,8}\d{1,4}")
"""The shape of a functie (``WMO301``, ``JW315``): quoted in an error, where another value is told by its shape."""


def envelope_fits(bericht: Bericht, envelope: dict[str, str], source: str) -> None:
    """A GGk envelope says what it carries: a heenbericht in a Di01, a retour in a Du01 (spec 2.2), and its message
    in ``functie`` (2.6: ``WMO301``). An envelope that says otherwise was routed as another message than the one
    converted (IB240), and a Di01 around a retour would be remembered as the Di01 of a heenbericht it never
    carried: ConversionError naming the stuurgegevens field, with identifiers only."""
    carried = ggk.functie(bericht.wet, BERICHTNUMMERS[bericht.soort])
    code = "Du01" if ggk.is_retour(bericht) else "Di01"
    if envelope.get("berichtcode") != code:
        raise ConversionError(f"GGk {envelope.get('berichtcode')} envelope around a {carried}: a "
                              f"{'retour' if code == 'Du01' else 'heenbericht'} travels in a {code} (GGk spec 2.2)",
                              field="stuurgegevens.berichtcode", source=source)
    if envelope["functie"] != carried:
        said = envelope["functie"]
        shown = repr(said) if _FUNCTIE.fullmatch(said) else found(said)  # a message code, never a person
        raise ConversionError(f"GGk envelope's stuurgegevens.functie says {shown}, but its "
                              f"payload is a {carried} (GGk spec 2.6: the functie names the payload's message)",
                              field="stuurgegevens.functie", source=source)


def received_di01(bericht: Bericht | None, envelope: dict[str, str]) -> Received | None:
    """The Di01 that brought a heenbericht in, as the ledger will remember it, so a Du01 with its retour can
    point at it; None for anything else. Worked out where the message is mapped: the sidecar and the batch
    render elsewhere, often from the prepared message alone (no model, no envelope), so they carry this pair
    to the render step instead."""
    if bericht is None or envelope.get("berichtcode") != "Di01" or not envelope.get("referentienummer"):
        return None
    if ggk.is_retour(bericht):
        return None
    return ggk.heen_key(bericht), envelope["referentienummer"]
