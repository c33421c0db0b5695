"""The testbed's two HTML pages, written out by hand: every value escaped, no script, no external asset."""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any
from urllib.parse import quote

from .journal import Entry

_STYLE = """body{font:15px/1.45 system-ui,sans-serif;margin:2rem;color:#1b1b1b}table{border-collapse:collapse;
margin:.5rem 0 1.5rem}th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}.refused{color:#a00}.muted{color:#666}h1{font-size:1.4rem}h2{font-size:1.1rem}"""


def _doc(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="nl"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body>{body}</body></html>")


def _v(value: Any) -> str:
    if value is None or value == "" or value == []:
        return '<span class="muted">–</span>'
    if isinstance(value, list):
        return "<br>".join(_v(v) for v in value)
    if isinstance(value, dict):
        return "<br>".join(f"{escape(str(k))}: {_v(v)}" for k, v in value.items())
    return escape(str(value))


def _link(identificatie: str) -> str:
    return f'<a href="/zaken/{quote(identificatie, safe="")}">{escape(identificatie)}</a>'


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _entries(entries: list[Entry]) -> str:
    if not entries:
        return '<p class="muted">No messages yet.</p>'
    rows = "".join(
        f"<tr{'' if e.accepted else ' class=refused'}><td>{_when(e.received_at)}</td>"
        f"<td>{_v(e.referentienummer)}</td><td>{_v(e.operation)}</td>"
        f"<td>{_link(e.zaak) if e.zaak else _v(None)}</td>"
        f"<td>{'Bv03' if e.accepted else _v(f'Fo03 {e.code} [{e.rule}]')}</td></tr>" for e in entries)
    return ("<table><tr><th>received</th><th>referentienummer</th><th>operation</th><th>zaak</th>"
            f"<th>answer</th></tr>{rows}</table>")


def zaken_page(zaken: dict[str, dict[str, Any]], entries: list[Entry]) -> str:
    """Every zaak the testbed holds (BSNs masked), and the latest messages with their answers."""
    rows = "".join(
        f"<tr><td>{_link(key)}</td><td>{_v(z['zaaktype'])}</td><td>{_v(z['omschrijving'])}</td>"
        f"<td>{_v(z['startdatum'])}</td><td>{_v(z['einddatum'])}</td><td>{_v(z['resultaat'])}</td>"
        f"<td>{_v(z['laatsteStatus']['statustype'] if z.get('laatsteStatus') else None)}</td>"
        f"<td>{_v((z['initiator'] or {}).get('identificatie'))}</td></tr>" for key, z in zaken.items())
    table = ("<table><tr><th>zaak</th><th>zaaktype</th><th>omschrijving</th><th>startdatum</th><th>einddatum</th>"
             f"<th>resultaat</th><th>laatste status</th><th>initiator</th></tr>{rows}</table>"
             if zaken else '<p class="muted">No zaken yet: post a zakLk01 to /soap.</p>')
    return _doc("Testbed — zaken", f"<h1>Zaken in the testbed ({len(zaken)})</h1>{table}"
                f"<h2>Latest messages</h2>{_entries(entries)}")


def zaak_page(zaak: dict[str, Any], entries: list[Entry]) -> str:
    """One zaak: its attributes, relations, status history and the messages that changed it."""
    fields = ("zaaktype", "omschrijving", "toelichting", "registratiedatum", "startdatum", "einddatumGepland",
              "einddatum", "resultaat", "kenmerken", "initiator", "betrokkenen", "heeftBetrekkingOpAndere",
              "deelzaken", "hoofdzaak", "extraElementen")
    attrs = "".join(f"<tr><th>{name}</th><td>{_v(zaak.get(name))}</td></tr>" for name in fields)
    statussen = "".join(f"<tr><td>{_v(s['volgnummer'])}</td><td>{_v(s['statustype'])}</td>"
                        f"<td>{_v(s['datumStatusGezet'])}</td><td>{_v(s['toelichting'])}</td></tr>"
                        for s in zaak["statussen"])
    history = ("<table><tr><th>#</th><th>statustype</th><th>gezet</th><th>toelichting</th></tr>"
               f"{statussen}</table>" if statussen else '<p class="muted">No status.</p>')
    return _doc(f"Zaak {zaak['identificatie']}",
                f'<p><a href="/zaken">← all zaken</a></p><h1>Zaak {escape(zaak["identificatie"])}</h1>'
                f"<table>{attrs}</table><h2>Statussen</h2>{history}<h2>Messages</h2>{_entries(entries)}")
