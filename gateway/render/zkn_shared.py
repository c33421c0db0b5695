"""A 2.x line without a ToewijzingNummer, found by the product key that several toewijzingen may share.

The 2.x product key (beschikking, aanbieder, product, Ingangsdatum) is shared by a toewijzing and one that replaces
it from the same day with a new ToewijzingNummer (a volume change, notes: IV066), and each has its own zaak
(docs/canonical-spec.md 1). The ledger binds a key to one zaak, the one whose line named it last; so that a line
naming only the key can see every toewijzing that shares it, each is also bound to ``{key}#{n}`` (the first free n)
from the moment a second zaak takes the key. Which one such a line belongs to is :func:`choose`'s rule.
"""

from __future__ import annotations

from typing import Any

from gateway.zaken.state import JsonDict
from gateway.zaken.units import JEUGD, Unit

PRODUCT = "product:"
SLOT = "#"


def is_product_key(key: str) -> bool:
    """Whether ``key`` is a 2.x product key (Wmo or Jeugdwet)."""
    return key.startswith(PRODUCT) or key.startswith(JEUGD + PRODUCT)


def unnumbered(unit: Unit) -> bool:
    """A toewijzing line (301, 305, 307) that names no ToewijzingNummer: its first key is the product key."""
    return unit.kind == "toewijzing" and bool(unit.keys) and is_product_key(unit.keys[0])


def sharing(tx: Any, key: str, named: str) -> list[str]:
    """The zaken bound to product key ``key``, first shared first: ``{key}#0``, ``#1``, ... until one is unknown;
    none (the key named one toewijzing only, or a ledger written before the slots existed): ``named``, the one it
    names, which the caller found it bound to (not asked of the ledger again: session 30)."""
    found: list[str] = []
    while (zaak := tx.zaak_for([f"{key}{SLOT}{len(found)}"])) is not None:
        found.append(zaak)
    return found or [named]


def bind_product(tx: Any, key: str, ident: str, holder: str | None = None, asked: bool = False) -> None:
    """Bind product key ``key`` to zaak ``ident`` (it names it last now); when it named another zaak, both take a
    slot (:func:`sharing`), so the one it no longer names is still seen by a line without a number. ``asked``: the
    caller found ``key`` bound to ``holder`` (None: to no zaak) in this transaction and bound nothing since, so the
    ledger is not asked again (a new toewijzing, a line found by the key alone: a ledger read a message less)."""
    if not asked:
        holder = tx.zaak_for([key])
    if holder is not None and holder != ident:
        for zaak in (holder, ident):
            bind_first_free(tx, key + SLOT, zaak)
    tx.bind(key, ident)


def bind_first_free(tx: Any, prefix: str, ident: str) -> None:
    """Bind zaak ``ident`` to the first ``{prefix}{n}`` (n = 0, 1, ...) not bound, unless one already names it: a
    list of zaken a reader walks until a gap (the product key's sharers here, a 317's ``verzoek:`` keys in zkn)."""
    n = 0
    while (bound := tx.zaak_for([f"{prefix}{n}"])) is not None:
        if bound == ident:
            return
        n += 1
    tx.bind(f"{prefix}{n}", ident)


def number(zaak: str, state: JsonDict | None) -> str:
    """How a message's reader knows a toewijzing: its ToewijzingNummer (a kenmerk), else its zaak's identificatie."""
    kenmerk = (state or {}).get("attrs", {}).get("kenmerk") or ()
    return next((value for value, bron in kenmerk if bron == "ToewijzingNummer"), f"zaak {zaak}")


def _holds(state: JsonDict | None, datum: str) -> bool:
    """Whether the toewijzing's period as the zaak holds it (startdatum to einddatum, else einddatumGepland, else
    open) holds ``datum`` (yyyymmdd)."""
    if state is None:
        return False
    attrs = state["attrs"]
    start, end = attrs.get("startdatum"), attrs.get("einddatum") or attrs.get("einddatumGepland")
    return (start is None or start <= datum) and (end is None or datum <= end)


class Ambiguous(ValueError):
    """A 301 line without a ToewijzingNummer whose product key names more than one toewijzing (StUF058)."""


def choose(tx: Any, unit: Unit, last: str, begindatum: str | None) -> tuple[str, str | None]:
    """The zaak a line without a ToewijzingNummer belongs to, and a warning when the rules leave a choice.

    ``last`` is the zaak its product key names (the line that named it last); ``begindatum`` the 305/307's Begindatum
    (None: a 301). One toewijzing sharing the key: that one. A 305/307: the one whose period holds the Begindatum
    (the 2.1 XSD identifies the toewijzing by beschikking, product, ToewijzingIngangsdatum "gelijk aan de
    Ingangsdatum van het toegewezen product" and Begindatum, "vanaf wanneer ... geleverd"; a 307 repeats its 305's),
    and when several or none hold it, of those (or all) the one named last (not among them: the newest of them,
    the last to take a slot), with a warning naming the candidates by ToewijzingNummer. A 301 changes the toewijzing
    itself: refused (:class:`Ambiguous`) rather than applied to a guess."""
    candidates = sharing(tx, unit.keys[0], last)
    if len(candidates) < 2:
        return last, None
    states = {zaak: tx.state(zaak) for zaak in candidates}
    names = ", ".join(number(zaak, states[zaak]) for zaak in candidates)
    where = f"client {unit.client_index + 1}, line {unit.line_index + 1}"
    if begindatum is None:
        raise Ambiguous(f"{where} names no ToewijzingNummer and its beschikking, product and Ingangsdatum are those "
                        f"of toewijzingen {names}: which one it changes needs its ToewijzingNummer")
    fit = [zaak for zaak in candidates if _holds(states[zaak], begindatum)]
    if len(fit) == 1:
        return fit[0], None
    pool = fit or candidates
    chosen, which = (last, "the one named last") if last in pool else (pool[-1], "the newest of them")
    why = "whose periods all hold" if fit else "of which no period holds"
    return chosen, (f"{unit.event} ({where}) names no ToewijzingNummer; its beschikking, product and Ingangsdatum are "
                    f"those of toewijzingen {', '.join(number(z, states[z]) for z in pool)}, {why} its Begindatum "
                    f"{begindatum}: applied to {number(chosen, states[chosen])}, {which}")
