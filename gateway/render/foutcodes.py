"""The StUF foutcodes the sidecar answers with, as StUF 03.01 files them, and where each one's cause lies.

StUF 03.01 Tabel 4.1 (all berichttypen) and Tabel 5.8 (kennisgevingen) give every code one ``plek``. A Fo03
that paired a code with the other plek would send the vendor's staff looking for the cause in the wrong place,
so the plek of a code is looked up here and never chosen per call. Whether a sender should offer the message
again is said by the code (StUF046, StUF049, StUF960: "not now"), not by the plek: StUF 03.01 §4.4.3 has a
sender re-offer a message refused for a server-side cause only once that cause is gone, decided "procedureel".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Plek = Literal["client", "server"]


@dataclass(frozen=True, slots=True)
class Foutsituatie:
    """One row of the tables: the code, the foutberichten it is listed for (1 = Fo01, 2 = Fo02, 3 = Fo03), its plek."""

    code: str
    soort: tuple[int, ...]
    plek: Plek
    omschrijving: str


def _rows(*rows: tuple[str, tuple[int, ...], Plek, str]) -> dict[str, Foutsituatie]:
    return {code: Foutsituatie(code, soort, plek, text) for code, soort, plek, text in rows}


TABEL = _rows(
    # StUF 03.01 Tabel 4.1, "Onderkende foutsituaties"
    ("StUF001", (2, 3), "server", "Versie StUF niet ondersteund"),
    ("StUF004", (2, 3), "server", "Sectormodel niet ondersteund"),
    ("StUF007", (2, 3), "server", "Versie sectormodel niet ondersteund"),
    ("StUF010", (2, 3), "client", "Combinatie van ontvangende organisatie, applicatie en administratie onbekend"),
    ("StUF013", (2, 3), "client", "Combinatie van zendende organisatie, applicatie en administratie onbekend"),
    ("StUF016", (2, 3), "client", "Combinatie zender en referentienummer niet uniek"),
    ("StUF019", (2, 3), "client", "TijdstipBericht niet groter dan voorgaand TijdstipBericht van zender"),
    ("StUF022", (2, 3), "client", "Berichtcode onbekend"),
    ("StUF025", (2, 3), "server", "Berichtcode niet ondersteund"),
    ("StUF028", (2, 3), "client", "Entiteittype onbekend binnen sectormodel"),
    ("StUF031", (2, 3), "server", "Entiteittype niet ondersteund"),
    ("StUF034", (2, 3), "client", "Functie onbekend binnen sectormodel"),
    ("StUF037", (2, 3), "server", "Functie niet ondersteund"),
    ("StUF040", (2, 3), "server", "Combinatie van berichtcode, entiteittype en functie niet ondersteund"),
    ("StUF043", (2, 3), "client", "Crossreferentienummer niet bekend"),
    ("StUF046", (3,), "server", "Opslaan bericht niet mogelijk"),
    ("StUF049", (2,), "server", "Proces voor afhandelen synchroon bericht niet beschikbaar"),
    ("StUF052", (1, 2), "client", "Het zendende systeem is niet geautoriseerd voor de gevraagde combinatie van "
                                  "berichtcode, entiteittype en functie"),
    ("StUF055", (1, 2), "client", "Berichtbody is niet conform schema in sectormodel"),
    ("StUF058", (1, 2), "server", "Proces voor afhandelen bericht geeft fout"),
    ("StUF061", (2,), "server", "Starten berichtverzending niet mogelijk binnen 5 minuten"),
    ("StUF960", (2,), "server", "Het antwoordende systeem is niet in staat het verzoek af te handelen binnen de "
                                "connection time out"),
    # StUF 03.01 Tabel 5.8, "Foutsituaties bij de afhandeling van synchrone kennisgevingberichten"
    ("StUF062", (2,), "client", "<StUF:tijdvakGeldigheid> niet gevuld zoals de standaard voorschrijft"),
    ("StUF063", (2,), "server", "Een te wijzigen waarde heeft in de registratie een beginGeldigheid groter dan tbo"),
    ("StUF064", (2,), "server", "Object niet gevonden"),
    ("StUF065", (2,), "server", "tr ≤ de grootste tijdstipRegistratie voor het object in de registratie"),
    ("StUF066", (2,), "client", "Een te corrigeren entiteit bevat geen te corrigeren element"),
    ("StUF067", (2,), "server", "Dubbelen voor object gevonden"),
    ("StUF068", (2,), "client", "Toekomstmutatie in Lk02-bericht"),
)
"""Code -> its row. Codes a sector model defines are not here (:func:`plek_of` calls them the client's)."""


def plek_of(code: str) -> Plek:
    """The plek StUF 03.01 gives ``code``; a code it does not list (a sector model's) is taken as the client's."""
    row = TABEL.get(code)
    return row.plek if row is not None else "client"
