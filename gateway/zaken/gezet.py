"""The datumStatusGezet of a new status: strictly later than every status the zaak holds (pure).

ZDS 1.2 §4.1.3.1: "Het ZS bepaalt of de aangeleverde status de meest recente status van de zaak is … De Indicatie
laatst gezette status is afleidbaar uit de historie van het attribuut 'Datum status gezet' van alle statussen bij de
desbetreffende zaak." A zaaksysteem orders a zaak's statuses by datumStatusGezet, not by arrival. The event date
alone (yyyymmdd) made statuses of one day tie (a stop and the eindstatus; a start, its withdrawal and the start
again), left a start corrected to an earlier date behind its own withdrawal, and gave a second withdrawal of the
same start the kerngegevens (statustype + datumStatusGezet, zkn0310 ZAKSTT-kerngegevens) of the first.

The rule: a status is set at the start of its event date, ``yyyymmdd000000000``; when that is not later than every
status held, at the latest held plus the smallest step of a ``StUF:Tijdstip`` (a millisecond). Where the date
written is then not the event date, the toelichting says the event date (``Levering gestart per 2023-03-06``).

Every status is written with all 17 digits (``EEJJMMDDhhmmssddd``), never as a bare date. StUF 03.01 §3.3.1: "Wanneer
het tijdstip binnen de dag niet relevant of bekend is, dan wordt het tijdstip gecodeerd als datum (EEJJMMDD)": a
bare date is a moment somewhere in that day, which a zaaksysteem cannot order against a stepped moment of the same
day (``20230308`` against ``20230308000000001``). Written at full precision, any two statuses compare, whichever
needed a step. A held status of an older ledger (a bare date) is stepped past at its own precision: the next day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

JsonDict = dict[str, Any]

FULL = 17
"""Digits of a full StUF:Tijdstip, ``EEJJMMDDhhmmssddd`` (stuf0301.xsd: ``[0-9]{8,17}``)."""
START_OF_DAY = "000000000"
MAX_TOELICHTING = 1000
"""zkn0310 Toelichting: ``maxLength 1000``; the event date is kept whole, the toelichting before it cut."""
STEPS = {8: dt.timedelta(days=1), 10: dt.timedelta(hours=1), 12: dt.timedelta(minutes=1),
         14: dt.timedelta(seconds=1), 15: dt.timedelta(milliseconds=100), 16: dt.timedelta(milliseconds=10),
         17: dt.timedelta(milliseconds=1)}
"""The smallest step of a Tijdstip by its number of digits: StUF 03.01 §3.3.1 drops "de laatste 9, 7, 5, 3, 2 of 1
cijfer(s)" for a moment known to the day, hour, minute, second, tenth or hundredth of a second."""


def _moment(value: str) -> dt.datetime:
    full = value.ljust(FULL, "0")
    return dt.datetime.strptime(full[:14], "%Y%m%d%H%M%S").replace(microsecond=int(full[14:]) * 1000)


def _text(moment: dt.datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S") + f"{moment.microsecond // 1000:03d}"


def after(value: str) -> str:
    """The first full Tijdstip later than ``value`` at ``value``'s own precision."""
    if len(value) == FULL and value[-3:] != "999":  # the usual step: a millisecond within the same second
        return f"{value[:-3]}{int(value[-3:]) + 1:03d}"
    return _text(_moment(value) + STEPS.get(len(value), STEPS[8]))


def event_of(status: JsonDict) -> tuple[Any, ...]:
    """What a status says, whatever datumStatusGezet it was written with: its statustype, event date and own
    toelichting. A status held by an older ledger has no ``event_*`` keys: its datum and toelichting are those."""
    return (status["volgnummer"], status["omschrijving"], status["zaaktype"],
            status.get("event_datum", status["datum"]), status.get("event_toelichting", status["toelichting"]))


def _iso(day: str) -> str:
    return f"{day[:4]}-{day[4:6]}-{day[6:8]}"


def placed(held: list[JsonDict], status: JsonDict) -> JsonDict:
    """``status`` (its ``datum`` the event date, yyyymmdd) as it is sent to a zaak holding ``held``: datumStatusGezet
    later than every held one, and the event date in the toelichting where the date written is another."""
    day, toelichting = status["datum"], status["toelichting"]
    gezet = day + START_OF_DAY
    for other in held:
        datum = other["datum"]
        if len(datum) == FULL and datum < gezet:  # a full moment before it: a step past it is not later (~16 µs)
            continue
        floor = after(datum)
        if floor > gezet:
            gezet = floor
    if gezet[:8] != day and day not in (toelichting or ""):  # a withdrawal's own toelichting names its date
        said = f"{status['omschrijving']} per {_iso(day)}"
        toelichting = f"{toelichting[:MAX_TOELICHTING - len(said) - 2]}; {said}" if toelichting else said
    return {**status, "datum": gezet, "toelichting": toelichting,
            "event_datum": day, "event_toelichting": status["toelichting"]}
