"""Code lists of the iWmo/iJw standards, as closed ``Literal`` types plus their labels.

The canonical model accepts the union over the versions (2.0, 2.1, 3.x): a value that no
version knows is an error, a value only an older version knows is the mapping's business.
Labels (English, short) serve ``explain`` and the docs. Source: ../shared/reference/notes/codelists.md.
"""

from __future__ import annotations

from typing import Literal, get_args

Wet = Literal["wmo", "jw"]
Berichtsoort = Literal[
    "verzoek",  # 315
    "toewijzing",  # 301
    "start",  # 305
    "stop",  # 307
    "verzoek-wijziging",  # 317 (3.x)
    "toewijzing-retour",  # 302
    "start-retour",  # 306
    "stop-retour",  # 308
    "verzoek-retour",  # 316
    "verzoek-wijziging-retour",  # 318
    "verzoek-antwoord",  # 319 (3.x)
    "verzoek-antwoord-retour",  # 320
]
Geslacht = Literal["0", "1", "2"]  # COD046
DatumGebruik = Literal["1", "2", "3"]  # COD170
NaamGebruik = Literal["1", "2", "3", "4", "5", "6"]  # COD700
JaNee = Literal["1", "2"]  # COD260
Leefeenheid = Literal["1", "2", "3", "4", "5", "6", "7", "9"]  # COD478, 2.0 only
Communicatievorm = Literal["1", "2", "3"]  # COD747
JuridischeStatus = Literal["01", "02", "03", "04", "05", "11", "12"]  # 2.1 / WJ232
WettelijkeVertegenwoordiging = Literal["06", "07", "08", "09", "10"]  # 2.1 / WJ003
SoortRelatie = Literal[
    "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14",
    "15", "16", "17", "18", "19", "20", "21", "22", "23", "24", "25",
]  # COD472
SoortAdres = Literal["01", "02", "03", "04"]  # COD757
AanduidingWoonadres = Literal["AB", "BY", "TO", "WW"]  # NUM061
Eenheid = Literal["01", "04", "14", "16", "82", "83", "84"]  # WMO756 / WJ756
Frequentie = Literal["1", "2", "3", "4", "5", "6"]  # WMO757
RedenWijziging = Literal[
    "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14",
]  # WMO002 / JZ002
RedenIntrekking = Literal["1", "2", "3", "4", "6"]  # COD172, 2.0 only
RedenBeeindiging = Literal[
    "02", "19", "20", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "38", "39",
]  # WMO588 / JZ588 (meaning differs per standard and version: keep the code, map per dialect)
TypeVerwijzer = Literal["01", "02", "03", "04", "05", "06", "07", "08"]  # COD327
StatusAanlevering = Literal["1", "2", "3", "9"]  # COD467
RedenVerzoek = Literal["1", "2"]  # WJ758 (3.x 317): situatie client gewijzigd, zorgplan gewijzigd
VerzoekAntwoord = Literal["1", "2"]  # WJ760 (3.x 319): verzoek afgewezen, aanvraag in onderzoek
RedenAfwijzingVerzoek = Literal["1", "2", "3", "4", "5", "6", "7", "8", "9"]  # WJ759 (3.x 319)
VerzoekGroep = Literal["ongewijzigd", "te-wijzigen", "nieuw"]
"""Which part of a 317 verzoek om wijziging a product line sits in: OngewijzigdProduct (keep the
toewijzing as it is), TeWijzigenProduct (change it) or NieuwProduct (a new toewijzing)."""
Leveringsvorm = Literal["ZIN", "PGB"]
Grondslag = Literal["01", "02", "03", "04", "05", "06", "07"]  # COD736
BeperkingCategorie = Literal["1", "2", "3", "4", "5", "6", "9"]  # COD539
BeperkingDuur = Literal["1", "2", "3", "4"]  # COD749
BeperkingScore = Literal["0", "1", "2", "3", "9"]  # COD828

PRODUCTCATEGORIE_WMO: frozenset[str] = frozenset(f"{n:02d}" for n in range(1, 19))  # WMO020
PRODUCTCATEGORIE_JW: frozenset[str] = frozenset(
    [f"{n:02d}" for n in range(31, 39)] + [f"{n:02d}" for n in range(40, 56)]
)  # JZ020

BERICHTCODES: dict[str, tuple[str, str]] = {
    "414": ("wmo", "toewijzing"), "415": ("wmo", "toewijzing-retour"),
    "418": ("wmo", "start"), "419": ("wmo", "start-retour"),
    "420": ("wmo", "stop"), "421": ("wmo", "stop-retour"),
    "444": ("wmo", "verzoek"), "445": ("wmo", "verzoek-retour"),
    "480": ("wmo", "verzoek-wijziging"), "481": ("wmo", "verzoek-wijziging-retour"),
    "482": ("wmo", "verzoek-antwoord"), "483": ("wmo", "verzoek-antwoord-retour"),
    "436": ("jw", "toewijzing"), "437": ("jw", "toewijzing-retour"),
    "438": ("jw", "start"), "439": ("jw", "start-retour"),
    "440": ("jw", "stop"), "441": ("jw", "stop-retour"),
    "446": ("jw", "verzoek"), "447": ("jw", "verzoek-retour"),
    "486": ("jw", "verzoek-wijziging"), "487": ("jw", "verzoek-wijziging-retour"),
    "488": ("jw", "verzoek-antwoord"), "489": ("jw", "verzoek-antwoord-retour"),
}
"""BerichtCode (COD002) -> (wet, soort)."""

BERICHTNUMMERS: dict[str, str] = {
    "toewijzing": "301", "toewijzing-retour": "302", "start": "305", "start-retour": "306",
    "stop": "307", "stop-retour": "308", "verzoek": "315", "verzoek-retour": "316",
    "verzoek-wijziging": "317", "verzoek-wijziging-retour": "318",
    "verzoek-antwoord": "319", "verzoek-antwoord-retour": "320",
}
"""Berichtsoort -> the message family number, the same in iWmo (WMO301) and iJw (JW301)."""

VERZOEK_ANTWOORD_LABELS = {"1": "verzoek afgewezen", "2": "aanvraag in onderzoek"}  # WJ760
REDEN_AFWIJZING_LABELS = {
    "1": "geen wijziging maar nieuwe aanvraag", "2": "past niet in budget", "3": "geen contract",
    "4": "past niet binnen contract", "5": "andere gemeente", "6": "stapeling", "7": "zorginhoudelijk afgewezen",
    "8": "woonplaatsbeginsel", "9": "leeftijdsgrens bereikt",
}  # WJ759: how a refusal is worded in the aanvraagzaak's resultaat ("Afgewezen: geen contract (3)")

EENHEID_LABELS = {
    "01": "minuut", "04": "uur", "14": "etmaal", "16": "dagdeel", "82": "stuks", "83": "euro",
    "84": "stuks (inspanning)",
}
FREQUENTIE_LABELS = {
    "1": "per dag", "2": "per week", "3": "per vier weken", "4": "per maand", "5": "per jaar",
    "6": "totaal binnen geldigheidsduur",
}
CODE_LISTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "geslacht": ("COD046 Geslacht", get_args(Geslacht)),
    "eenheid": ("WMO756 Eenheid", get_args(Eenheid)),
    "frequentie": ("WMO757 Frequentie", get_args(Frequentie)),
    "naamgebruik": ("COD700 NaamGebruik", get_args(NaamGebruik)),
    "soort": ("COD472/COD757 Soort", get_args(SoortRelatie) + get_args(SoortAdres)),
    "reden_wijziging": ("WMO002/JZ002 RedenWijziging", get_args(RedenWijziging)),
    "reden_intrekking": ("COD172 RedenIntrekking", get_args(RedenIntrekking)),
    "reden_beeindiging": ("WMO588/JZ588 RedenBeeindiging", get_args(RedenBeeindiging)),
    "type": ("COD327 TypeVerwijzer", get_args(TypeVerwijzer)),
    "status_aanlevering": ("COD467 StatusAanlevering", get_args(StatusAanlevering)),
    "reden_verzoek": ("WJ758 RedenVerzoek", get_args(RedenVerzoek)),
    "verzoek_groep": ("317 product group", get_args(VerzoekGroep)),
    "verzoek_antwoord": ("WJ760 VerzoekAntwoord", get_args(VerzoekAntwoord)),
    "reden_afwijzing": ("WJ759 RedenAfwijzingVerzoek", get_args(RedenAfwijzingVerzoek)),
    "raamcontract": ("COD260 JaNee", get_args(JaNee)),
}
"""Field name -> (code list, allowed values), used to word validation errors."""
