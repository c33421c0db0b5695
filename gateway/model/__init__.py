"""Canonical model of a sociaal-domein message. Imports nothing else of Overstap."""

from .bericht import (
    Achternaam,
    Adres,
    Antwoord,
    Beperking,
    BeperkingScore,
    Bericht,
    Beschikking,
    BeschiktProduct,
    Client,
    Contact,
    Naam,
    Omvang,
    Product,
    Relatie,
    Telefoon,
    Verwijzer,
)
from .checks import bsn_is_valid, bsn_like, is_agb, is_gemeentecode, mask_bsn, mask_bsns

__all__ = [
    "Achternaam", "Adres", "Antwoord", "Beperking", "BeperkingScore", "Bericht", "Beschikking", "BeschiktProduct",
    "Client", "Contact", "Naam", "Omvang", "Product", "Relatie", "Telefoon", "Verwijzer",
    "bsn_is_valid", "bsn_like", "is_agb", "is_gemeentecode", "mask_bsn", "mask_bsns",
]
