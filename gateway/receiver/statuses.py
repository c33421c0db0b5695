"""Which status of a zaak is its latest, and which new status a zaaksysteem cannot place (pure).

ZDS 1.2 §4.1.3.1: "Het ZS bepaalt of de aangeleverde status de meest recente status van de zaak is en bepaalt de
waarde 'indicatie laatst gezette status'. De Indicatie laatst gezette status is afleidbaar uit de historie van het
attribuut 'Datum status gezet' van alle statussen bij de desbetreffende zaak." So the latest status is the one with
the greatest datumStatusGezet, not the one that arrived last: a sender that gives two statuses the same value, or a
correction an earlier one, leaves a zaaksysteem with another latest status than the sender meant.

datumStatusGezet is a ``StUF:Tijdstip`` (8 to 17 digits, ``EEJJMMDDhhmmssddd``). StUF 03.01 §3.3.1
(Metagegevens met betrekking tot historische waarden):
"Wanneer het tijdstip binnen de dag niet relevant of bekend is, dan wordt het tijdstip gecodeerd als datum
(EEJJMMDD)" and "Als het tijdstip niet tot op het uur, de minuut, seconde, … nauwkeurig is, dan kunnen respectievelijk
de laatste 9, 7, 5, 3, 2 of 1 cijfer(s) … worden weggelaten". A shorter value is a moment known only to its own
precision, so two values are compared on the digits both have: ``20230308`` and ``20230308000000001`` are the same
day and neither is known to be the later one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # zaak.py asks this module for the latest status of its snapshot
    from .zaak import Status


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as Tijdstip ``a`` is before, not distinguishable from, or after ``b``: on the digits both have."""
    n = min(len(a), len(b))
    return (a[:n] > b[:n]) - (a[:n] < b[:n])


def latest(statussen: Sequence[Status]) -> Status | None:
    """The status with the greatest datumStatusGezet (ZDS 1.2 §4.1.3.1); of statuses that tie, the first held (a
    receiver that refuses ties, as :func:`unplaceable` does, never holds two)."""
    found: Status | None = None
    for status in statussen:
        if found is None or compare(status.datum_status_gezet, found.datum_status_gezet) > 0:
            found = status
    return found


def unplaceable(statussen: Sequence[Status], new: Status) -> tuple[str, str] | None:
    """Why ``new`` cannot be added to a zaak holding ``statussen``, as (rule, text), or None.

    * ``status-exists``: ZAKSTT's kerngegevens (zkn0310 ``ZAKSTT-kerngegevens``) are the statustype (its
      ``gerelateerde``) and datumStatusGezet, "de attributen en relaties … aan de hand waarvan een object kan worden
      geïdentificeerd" (StUF 03.01 §3.1.3): a second status with both equal is the same object again, which a
      zaaksysteem cannot tell apart afterwards (Tabel 5.8, StUF067 "Dubbelen voor object gevonden").
    * ``status-tie``: ``new`` is neither before nor after the latest status, so the zaaksysteem cannot derive which
      is "de meest recente status" (ZDS 1.2 §4.1.3.1). A new status before the latest is history and accepted.
    """
    for held in statussen:
        if (held.statustype, held.volgnummer, held.datum_status_gezet) == (
                new.statustype, new.volgnummer, new.datum_status_gezet):
            return ("status-exists", f"the zaak already has status {new.statustype!r} with datumStatusGezet "
                    f"{new.datum_status_gezet}: statustype and datumStatusGezet are the kerngegevens of ZAKSTT, so "
                    "this would be a second status with the identity of the first (StUF 03.01 §3.1.3, Tabel 5.8 "
                    "StUF067 'Dubbelen voor object gevonden')")
    current = latest(statussen)
    if current is not None and compare(new.datum_status_gezet, current.datum_status_gezet) == 0:
        return ("status-tie", f"datumStatusGezet {new.datum_status_gezet} is neither before nor after the latest "
                f"status {current.statustype!r} of {current.datum_status_gezet}: the zaaksysteem cannot determine "
                "which is the most recent status (ZDS 1.2 §4.1.3.1: 'afleidbaar uit de historie van het attribuut "
                "Datum status gezet')")
    return None
