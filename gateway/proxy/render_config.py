"""The ``render:`` block of the serve config: who sends and receives, and the gemeente's zaaktype catalogue.

A receiving zaaksysteem accepts only zaaktypen and statustypen of its own catalogue (ZTC) and decides what
goes in ``<ontvanger>`` (StUF 03.01 4.2), so these are deployment settings, at the top level and per route
(a route's block is applied over the top level's). Without them the demo defaults of
``gateway/zaken/catalogue.py`` and ``RenderSettings`` apply (what ``make run`` uses). docs/deploy-sidecar.md
shows the form::

    render:
      zender: {organisatie: "0384", applicatie: OVERSTAP}
      ontvanger: {organisatie: "0384", applicatie: ZAAKSYSTEEM}
      gezet_door: {identificatie: OEH-WMO, naam: Team Wmo}   # isGezetDoor of each status (verplicht: no null)
      zaaktypen:
        wmo.toewijzing:                       # or per gemeente: "0384:wmo.toewijzing"
          code: B1234
          omschrijving: Toewijzing Wmo-maatwerkvoorziening
          ingangsdatum: "20240101"
          statustypes: {gestart: [1, Levering gestart], gestopt: [3, Levering gestopt], afgehandeld: [9, Afgehandeld]}
          drop: [contact]

A statustype may add the ZTC's code and ingangsdatum, its remaining kerngegevens (sent as waardeOnbekend
without them): ``afgehandeld: [9, Afgehandeld, AFGEH, "20240101"]``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from gateway.render import RenderSettings
from gateway.render.settings import GEZET_DOOR_VERPLICHT
from gateway.zaken.catalogue import DROPPABLE, STATUS_EVENTS, Statustype, Zaaktype

from .config import ConfigError, RouteConfig, ServeConfig

RENDER_KEYS = {"zender", "ontvanger", "zaaktypen", "omschrijving", "ggk_versie", "gezet_door"}
ZAAKTYPE_KEYS = {"code", "omschrijving", "ingangsdatum", "statustypes", "drop"}


def render_settings(doc: Any, base: RenderSettings, where: str) -> RenderSettings:
    """``base`` with a ``render:`` block applied; the block's zaaktypen replace the entries they name."""
    if doc is None:
        return base
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected a mapping with {', '.join(sorted(RENDER_KEYS))}")
    unknown = sorted(set(doc) - RENDER_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(RENDER_KEYS))})")
    for key in ("zender", "ontvanger"):
        if key in doc and not isinstance(doc[key], dict):
            raise ConfigError(f"{where}.{key}: expected organisatie, applicatie, administratie")
    gezet_door = doc.get("gezet_door")
    if "gezet_door" in doc and not (isinstance(gezet_door, dict) and gezet_door.get("identificatie")
                                    and len(str(gezet_door["identificatie"])) <= 24):
        raise ConfigError(f"{where}.gezet_door: expected identificatie (max 24 characters) and naam; "
                          f"{GEZET_DOOR_VERPLICHT}")
    out = base.merged({k: v for k, v in doc.items() if k != "zaaktypen"})
    if "zaaktypen" in doc:
        if not isinstance(doc["zaaktypen"], dict):
            raise ConfigError(f"{where}.zaaktypen: expected wet.kind: zaaktype entries")
        table = dict(out.zaaktypen)
        for key, entry in doc["zaaktypen"].items():
            table[str(key)] = zaaktype(entry, table.get(str(key).rpartition(":")[2]), f"{where}.zaaktypen.{key}")
        out = replace(out, zaaktypen=table)
    return out


def zaaktype(doc: Any, demo: Zaaktype | None, where: str) -> Zaaktype:
    """One catalogue entry; statustypes default to the demo entry's of the same wet.kind."""
    if not isinstance(doc, dict) or not doc.get("code") or not doc.get("omschrijving"):
        raise ConfigError(f"{where}: expected at least code and omschrijving")
    unknown = sorted(set(doc) - ZAAKTYPE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(ZAAKTYPE_KEYS))})")
    code, omschrijving = str(doc["code"]), str(doc["omschrijving"])
    if len(code) > 10 or len(omschrijving) > 80:
        raise ConfigError(f"{where}: a ZTC code is at most 10 characters, an omschrijving at most 80")
    statustypes = dict(demo.statustypes) if demo is not None else {}
    for event, value in (doc.get("statustypes") or {}).items():
        statustypes[str(event)] = statustype(event, value, f"{where}.statustypes.{event}")
    drop = frozenset(str(d) for d in doc.get("drop") or [])
    if drop - DROPPABLE:
        raise ConfigError(f"{where}.drop: {', '.join(sorted(drop - DROPPABLE))} cannot be dropped (choose from "
                          f"{', '.join(sorted(DROPPABLE))})")
    ingang = str(doc.get("ingangsdatum", "20150101"))
    if not _is_day(ingang):  # else every creeerZaak's isVan would fail its XSD type at run time, message by message
        raise ConfigError(f"{where}.ingangsdatum: a date written yyyymmdd")
    return Zaaktype(code, omschrijving, ingang, statustypes, drop)


def statustype(event: Any, value: Any, where: str) -> Statustype:
    """``[volgnummer, omschrijving]``, optionally followed by the ZTC's code and ingangsdatum (yyyymmdd)."""
    if event not in STATUS_EVENTS or not isinstance(value, list) or not 2 <= len(value) <= 4:
        raise ConfigError(f"{where}: expected one of {', '.join(STATUS_EVENTS)} with [volgnummer, omschrijving] "
                          "or [volgnummer, omschrijving, code, ingangsdatum]")
    volgnummer, omschrijving = value[0], str(value[1])
    if isinstance(volgnummer, str) and volgnummer.isascii() and volgnummer.isdigit():
        volgnummer = int(volgnummer)
    code = None if len(value) < 3 or value[2] is None else str(value[2])
    ingang = None if len(value) < 4 or value[3] is None else str(value[3])
    if isinstance(volgnummer, bool) or not isinstance(volgnummer, int) or not 1 <= volgnummer <= 9999:
        raise ConfigError(f"{where}: a volgnummer is a whole number 1-9999 (ZKN Volgnummer: four digits)")
    if not 1 <= len(omschrijving) <= 80 or (code is not None and not 1 <= len(code) <= 10):
        raise ConfigError(f"{where}: a statustype omschrijving is 1-80 characters, a code 1-10")
    if ingang is not None and not _is_day(ingang):
        raise ConfigError(f"{where}: the ingangsdatum is a date written yyyymmdd")
    return Statustype(volgnummer, omschrijving, code, ingang)


def _is_day(value: str) -> bool:
    try:
        dt.datetime.strptime(value, "%Y%m%d")
    except ValueError:
        return False
    return len(value) == 8


def settings_of(config: ServeConfig, route: RouteConfig) -> RenderSettings:
    """The render settings of ``route``: defaults, then the top-level ``render:``, then the route's own."""
    top = render_settings(config.render, RenderSettings(), "render")
    return render_settings(route.render, top, f"routes.{route.name}.render")
