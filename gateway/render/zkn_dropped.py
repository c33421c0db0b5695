"""What a converted message holds that profile zkn does not carry: the ``dropped:`` lines of ``overstap convert``.

"Nothing silently dropped": profile ggk names on each envelope the canonical fields its payload version cannot
hold (``Output.dropped``); profile zkn drops fields by design (docs/canonical-spec.md 5 and 6, the "not carried"
entries of :mod:`gateway.render.zkn_places`), and this module names those a message actually has a value in.

Computed from the canonical model after the conversion, by ``convert`` only (and by whoever else asks): the render,
batch and the sidecar never call it, so their hot paths pay nothing. Paths and reasons only, never a value: a
``dropped:`` line may quote no BSN, name or care datum.

Two kinds of drop:

* a field with no place at all (a relative's naamgebruik, a LandCode, a message-level vendor field):
  :func:`gateway.render.zkn_places.not_carried`;
* a value whose field has a place that another value of the same person took: a client's address beyond its one
  verblijfsadres and one correspondentieadres, a relative's beyond its verblijfsadres (the choice of
  :func:`gateway.zaken.state.chosen_contact`), a client's telephone number beyond the first, an e-mail address
  beyond a person's first;
* a value the zaak would carry but its zaaktype's ``drop`` option leaves out (privacy, ``render.zaaktypen``):
  the relatives (``betrokkenen``), the commentaren of the toelichting (``toelichting``), the telephone number and
  e-mail addresses (``contact``), as :func:`gateway.zaken.state.desired` leaves them out.
"""

from __future__ import annotations

from typing import Any

from gateway.model import Bericht
from gateway.model.bericht import Client, Contact, Product
from gateway.zaken.catalogue import Zaaktype, zaaktype_for
from gateway.zaken.state import (
    CORRESPONDENTIE,
    TOELICHTING_MAX,
    TOELICHTING_SEPARATOR,
    VERBLIJF,
    chosen_contact,
    toelichting_parts,
)
from gateway.zaken.units import units

from .zkn_places import NOT_CARRIED, not_carried_field

STUURGEGEVENS = frozenset({"berichtcode", "versie", "afzender", "ontvanger", "identificatie", "tekenset",
                           "xsd_versie_basisschema", "xsd_versie_bericht", "identificatie_retour",
                           "dagtekening_retour"})
"""The source message's header, not named: every message has one, and every zaak message carries Overstap's own
stuurgegevens in its place (docs/canonical-spec.md 4); ``explain`` and the spec say so per field."""

ADDRESS = f"{NOT_CARRIED}: a zaak carries a client's one verblijfsadres (01, else 03/04) and one " \
          "correspondentieadres (02); this address is neither"
RELATIVE_ADDRESS = f"{NOT_CARRIED}: a relative's NPS carries its one verblijfsadres (01, else 03/04); " \
                   "this address is not it"
TELEPHONE = f"{NOT_CARRIED}: the zaak keeps the client's first telephone number only"
EMAIL = f"{NOT_CARRIED}: a ROL carries one emailadres, the person's first (ZDS 1.2 4.1.4.2)"
LEFT_OUT = "left out: zaaktype {code} drops {part} (render.zaaktypen drop, privacy)"
CUT = "cut: the zaak's toelichting, which joins the commentaren, holds {max} characters (zkn0310 Toelichting); " \
      "{lost} of this commentaar's did not fit"


def zkn_dropped(bericht: Bericht, zaaktypen: dict[str, Zaaktype] | None = None) -> list[str]:
    """``path: reason`` for each value of ``bericht`` that profile zkn does not carry, in message order; with the
    render settings' ``zaaktypen``, also each value a zaaktype's ``drop`` leaves out of its zaak."""
    others = _not_chosen(bericht)
    left_out = _left_out(bericht, zaaktypen) if zaaktypen else {}
    filled: list[tuple[str, str]] = []
    _filled(bericht.model_dump(exclude_none=True), "", "", filled)
    lines = []
    for path, generic in filled:
        if generic in STUURGEGEVENS:
            continue
        other = next((why for prefix, why in others.items() if path.startswith(prefix)), None) if others else None
        nowhere = not_carried_field(generic)  # no place at all: that is the reason, whatever a drop says
        left = "; ".join(why for prefix, why in left_out.items() if path.startswith(prefix)) if left_out else ""
        reason = (left if not nowhere else None) or other or nowhere  # left out whole, not cut or displaced
        if reason:
            lines.append(f"{path}: {reason}")
    return lines


def _left_out(bericht: Bericht, zaaktypen: dict[str, Zaaktype]) -> dict[str, str]:
    """Path prefixes of the values each zaak's zaaktype drops, with the reason (several zaaktypen: joined)."""
    out: dict[str, list[str]] = {}
    if bericht.soort.endswith("-retour"):  # no zaak, nothing carried or left out by a zaaktype
        return {}
    for unit in units(bericht):
        zaaktype = zaaktype_for(zaaktypen, unit.gemeente, bericht.wet, unit.kind)
        if zaaktype is None or not zaaktype.drop or unit.client_index < 0:
            continue
        client = bericht.clients[unit.client_index]
        product = client.producten[unit.line_index] if 0 <= unit.line_index < len(client.producten) else None
        for prefix, part in _dropped_parts(client, product, unit.line_index, zaaktype.drop):
            why = LEFT_OUT.format(code=zaaktype.code, part=part)
            reasons = out.setdefault(f"clients.{unit.client_index}.{prefix}", [])
            if why not in reasons:
                reasons.append(why)
    return {prefix: "; ".join(reasons) for prefix, reasons in out.items()}


def _dropped_parts(client: Client, product: Product | None, line: int, drop: frozenset[str]) -> list[tuple[str, str]]:
    """(path prefix under the client, drop option) of what ``drop`` removes from the zaak of one product line."""
    out: list[tuple[str, str]] = []
    if "betrokkenen" in drop:
        out.append(("relaties.", "betrokkenen"))
    if "toelichting" in drop:
        out += [(f"producten.{line}.commentaar" if field == "producten.commentaar" else field, "toelichting")
                for field, _text in toelichting_parts(client, product)]
    if "contact" in drop:  # the first telephone number and e-mail address: the others have no place anyway
        telefoon = next((i for i, contact in enumerate(client.contacten) if contact.telefoon), None)
        if telefoon is not None:
            out.append((f"contacten.{telefoon}.telefoon.0.", "contact"))
        out += _first_email(client.contacten, "contacten.")
        if "betrokkenen" not in drop:
            for r, relatie in enumerate(client.relaties):
                out += _first_email(relatie.contacten, f"relaties.{r}.contacten.")
    return out


def _first_email(contacten: list[Contact], at: str) -> list[tuple[str, str]]:
    """The person's e-mail address the zaak carries (its first), as the drop option ``contact`` removes it."""
    first = _first_with_email(contacten)
    return [] if first is None else [(f"{at}{first}.emailadres", "contact")]


def _first_with_email(contacten: list[Contact]) -> int | None:
    """Which contact holds the e-mail address a ROL carries (gateway/zaken/state.py ``_first_email``)."""
    return next((i for i, contact in enumerate(contacten) if contact.emailadres), None)


def _filled(value: Any, path: str, generic: str, out: list[tuple[str, str]]) -> None:
    """(path, path without list indexes) of each value in a dumped model that holds something (not None, "", an
    empty list or dict)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _filled(item, f"{path}.{key}" if path else key, f"{generic}.{key}" if generic else key, out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _filled(item, f"{path}.{i}", generic, out)
    elif value is not None and value != "":
        out.append((path, generic))


def _not_chosen(bericht: Bericht) -> dict[str, str]:
    """Path prefixes of the values another value of the same person displaced, with the reason."""
    out: dict[str, str] = {}
    for c, client in enumerate(bericht.clients):
        at = f"clients.{c}."
        _addresses(client.contacten, f"{at}contacten.", (VERBLIJF, CORRESPONDENTIE), ADDRESS, out)
        _emails(client.contacten, f"{at}contacten.", out)
        first = next((i for i, contact in enumerate(client.contacten) if contact.telefoon), None)
        for i, contact in enumerate(client.contacten):
            for t in range(len(contact.telefoon)):
                if (i, t) != (first, 0):
                    out[f"{at}contacten.{i}.telefoon.{t}."] = TELEPHONE
        for r, relatie in enumerate(client.relaties):  # a relative's telephone has no place at all (zkn_places)
            _addresses(relatie.contacten, f"{at}relaties.{r}.contacten.", (VERBLIJF,), RELATIVE_ADDRESS, out)
            _emails(relatie.contacten, f"{at}relaties.{r}.contacten.", out)
        for p, product in enumerate(client.producten or [None]):
            _cut(toelichting_parts(client, product), at, p, out)
    return out


def _cut(parts: list[tuple[str, str]], at: str, line: int, out: dict[str, str]) -> None:
    """The commentaren (partly) beyond the toelichting's length, as the zaak of product line ``line`` joins them."""
    end = 0
    for i, (field, text) in enumerate(parts):
        start = end + (len(TOELICHTING_SEPARATOR) if i else 0)
        end = start + len(text)
        if end > TOELICHTING_MAX:
            path = at + (f"producten.{line}.commentaar" if field == "producten.commentaar" else field)
            out[path] = CUT.format(max=TOELICHTING_MAX, lost=end - max(start, TOELICHTING_MAX))


def _addresses(contacten: list[Contact], at: str, kinds: tuple[tuple[str, ...], ...], why: str,
               out: dict[str, str]) -> None:
    chosen = {chosen_contact(contacten, soorten) for soorten in kinds}
    for i, contact in enumerate(contacten):
        if contact.adres is not None and i not in chosen:
            out[f"{at}{i}.adres."] = why


def _emails(contacten: list[Contact], at: str, out: dict[str, str]) -> None:
    """Every e-mail address after the first (gateway/zaken/state.py ``_first_email``)."""
    first = _first_with_email(contacten)
    for i, contact in enumerate(contacten):
        if contact.emailadres and i != first:
            out[f"{at}{i}.emailadres"] = EMAIL
