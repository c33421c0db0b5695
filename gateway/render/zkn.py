"""Profile ``zkn`` v2: a canonical message as the ZDS 1.2 zakLk01 operations a zaaksysteem can apply.

``render`` plans per zaak unit (gateway.zaken: pure) against the state the ledger holds, writes each
operation as a zakLk01 (creeerZaak T, updateZaak W with equal old/new elements, actualiseerZaakstatus)
and stores the state the receiver holds afterwards. docs/canonical-spec.md is the koppelvlak. Output
is built as text; referentienummer (UUID4) and tijdstipBericht (creation time, strictly increasing per
zender through the ledger) are new for every message.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from gateway.model import Bericht
from gateway.model.bericht import ANSWERS
from gateway.zaken import CREEER, PlanError, Unit, units, zaak_identificatie
from gateway.zaken.catalogue import Zaaktype, zaaktype_for
from gateway.zaken.plan import (
    SOAP_ACTIONS,
    Answer,
    Delivery,
    Operation,
    UnitFacts,
    andere_zaak,
    answer_aanvraag,
    plan_facts,
    refuse_aanvraag,
    unit_facts,
)
from gateway.zaken.state import JsonDict
from gateway.zaken.units import another_zaak, answers_new_only, bound_only, is_verzoek_key, unit_of

from .guard import escape as esc
from .names import file_name
from .settings import RenderSettings
from .writers import write
from .zkn_places import stuf_places
from .zkn_shared import Ambiguous, bind_first_free, bind_product, choose, is_product_key, unnumbered

__all__ = ["Pending", "Prepared", "RenderError", "Rendered", "Rendering", "ZknRendered", "esc", "prepare", "render",
           "render_prepared", "stuf_places", "tijdstip", "write_pending"]


class RenderError(ValueError):
    """The canonical message cannot be expressed in the profile (e.g. no zaaktype configured)."""

    def __init__(self, message: str, field: str | None = None, code: str = "StUF055") -> None:
        super().__init__(message)
        self.field = field
        self.code = code


@dataclass(frozen=True, slots=True)
class Rendered:
    """One output message: its reference, a file-name stem, the zaak id and the XML bytes (both profiles)."""

    referentienummer: str
    name: str
    zaak: str
    xml: bytes
    mutatiesoort: str


@dataclass(frozen=True, slots=True)
class ZknRendered(Rendered):
    """A zakLk01 with the ZDS operation it performs and the SOAPAction it is sent with."""

    operation: str = ""
    soap_action: str = ""


@dataclass(slots=True)
class Rendering:
    """What one message became: its outputs, and why there are none (or notes on what was decided)."""

    outputs: list[ZknRendered] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pending: list[Pending] | None = None
    """None: each zakLk01 is written as it is planned. A list: planned only (its ledger reads and writes done),
    written by :func:`write_pending` later, so a batch parent writes a chunk's zakLk01s back to back."""


class Pending(NamedTuple):
    """A zakLk01 planned, not yet written: what :func:`zkn_writer.write` needs but its referentienummer (drawn
    when it is written, so the ids come in the order one pass drew them), and its output's name and zaak."""

    operation: Operation
    van: tuple[Any, str]
    aan: tuple[Any, str]
    tijdstip: str
    gezet_door: Any
    name: str
    zaak: str


def tijdstip(bericht: Bericht, client: Any) -> str:
    """The source message's own moment (Dagtekening + first Toewijzingstijd); kept for profile ggk's envelope."""
    time = next((p.toewijzingstijd for p in client.producten if p.toewijzingstijd), None) if client else None
    return bericht.dagtekening.strftime("%Y%m%d") + (time.strftime("%H%M%S") if time else "000000") + "000"


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
"""The RFC 4122 variant's hex digit (10xx) for each random one, as ``uuid.UUID(version=4)`` sets it."""


class _References:
    """Referentienummers as uuid4 text from a buffer of ``os.urandom`` (one call per 128 ids instead of one per
    id, and no ``UUID`` object: ~0.85 µs against ~2.5 an output). The same randomness, so as unpredictable;
    a lock per id for threads, and a forked child draws its own buffer (:func:`os.register_at_fork`)."""

    SIZE = 2048

    __slots__ = ("_at", "_hex", "_lock")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._hex, self._at, self._lock = "", 0, threading.Lock()

    def __call__(self) -> str:
        if getattr(uuid.uuid4, "__module__", None) != "uuid":  # replaced (tests, identity runs: counted ids), also
            return str(uuid.uuid4())                             # before this module was imported: used as it is
        with self._lock:
            at = self._at
            if at >= len(self._hex):
                self._hex, at = os.urandom(self.SIZE).hex(), 0
            self._at = at + 32
            h = self._hex[at:at + 32]
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


referentienummer = _References()
if hasattr(os, "register_at_fork"):  # POSIX; where there is no fork there is no child to share the buffer with
    os.register_at_fork(after_in_child=referentienummer.reset)


STRICT_JSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
"""Without a ``default``, orjson refuses what these pass through, instead of writing it as text or a dict."""


class Prepared(NamedTuple):
    """What :func:`render` needs from a message, worked out from the message alone (:func:`prepare`): a batch
    worker hands this over as plain data instead of the canonical model, which the parent then need not unpickle,
    and the parent no longer works out units and desired states. Rendered once (planning completes it)."""

    wet: str
    berichtcode: str
    identificatie: str
    units: list[tuple[Unit, UnitFacts]]

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled as one JSON text (``orjson``), which :func:`prepared_from_text` reads back.

        Why: a worker process hands each message's facts to the serial parent; pickled field by field, their ~100
        short strings in nested dicts cost ~11 µs to dump and ~12 to load, as JSON ~2 and ~7 (the units rebuilt).
        JSON is also the form the ledger stores a state in, so the desired state arrives as a stored one reads
        back. What orjson refuses (a key that is not text, text that is not UTF-8, an int past 64 bits, a date, a
        dataclass or a str subclass, passed through here to be refused) travels as a tuple, as before. What JSON
        would turn into something else without a word (a tuple into a list, NaN into null) the facts never
        hold: ``test_zkn_prepared`` holds every value's type to the trip over the whole mix."""
        try:
            text = orjson.dumps(self.plain(),
                                option=STRICT_JSON)
        except TypeError:  # orjson.JSONEncodeError: e.g. a key that is not a str, text that is not UTF-8
            return type(self), tuple(self)
        return prepared_from_text, (text,)

    def plain(self) -> list[Any]:
        """The facts as lists, dicts, text and numbers, for orjson: :func:`prepared_from_plain` reads them back. A
        batch worker also writes them inside one JSON text for a whole chunk (``gateway.batch.work``)."""
        return [self.wet, self.berichtcode, self.identificatie, [
                [[u.kind, u.event, u.client_index, u.line_index, u.gemeente, u.aanbieder, u.keys, u.links],
                 f.at, f.want, None if f.delivery is None else tuple(f.delivery),
                 None if f.answer is None else tuple(f.answer)] for u, f in self.units]]


def prepared_from_text(text: bytes) -> Prepared:
    """The :class:`Prepared` that :meth:`Prepared.__reduce__` wrote as JSON."""
    return prepared_from_plain(orjson.loads(text))


def prepared_from_plain(plain: list[Any]) -> Prepared:
    """The :class:`Prepared` of :meth:`Prepared.plain`, read back from JSON: its tuples and named tuples again."""
    wet, berichtcode, identificatie, pairs = plain
    return _tuple_new(Prepared, (wet, berichtcode, identificatie, [  # the named tuples without their Python __new__
        (unit_of(kind, event, client, line, gemeente, aanbieder, tuple(keys), tuple(links)),
         _tuple_new(UnitFacts, (at, want, None if delivery is None else _tuple_new(Delivery, delivery),
                               None if answer is None else _tuple_new(Answer, answer))))
        for (kind, event, client, line, gemeente, aanbieder, keys, links), at, want, delivery, answer in pairs]))


_tuple_new = tuple.__new__


def prepare(bericht: Bericht, settings: RenderSettings) -> Prepared | None:
    """The :class:`Prepared` of ``bericht``, or None when its render needs the message itself: a retour, no
    client, a unit without a zaaktype (the errors and notes :func:`render` gives, in its order). Exceptions
    other than those propagate: the caller hands over the message instead, and its render raises them again."""
    if bericht.soort.endswith("-retour") or not (bericht.clients or bericht.soort in ANSWERS):
        return None
    prepared = []
    for unit in units(bericht):
        zaaktype = zaaktype_for(settings.zaaktypen, unit.gemeente, bericht.wet, unit.kind)
        if zaaktype is None:
            return None
        prepared.append((unit, unit_facts(bericht, unit, zaaktype, settings.omschrijving)))
    return Prepared(bericht.wet, bericht.berichtcode, bericht.identificatie, prepared)


def render_prepared(prepared: Prepared, settings: RenderSettings, tx: Any, now: dt.datetime,
                    result: Rendering | None = None) -> Rendering:
    """:func:`render` of a message from its :class:`Prepared`: the same outputs, states and notes."""
    result = result if result is not None else Rendering()
    return _render_units(prepared, prepared.units, None, settings, tx, now, result)


def render(bericht: Bericht, settings: RenderSettings, tx: Any, now: dt.datetime,
           result: Rendering | None = None) -> Rendering:
    """The zakLk01 operations one canonical message needs, given the ledger transaction ``tx``.

    Reads the zaak states the receiver holds, plans, writes, and stores the new states and chain keys
    in ``tx`` (committed by the caller together with the outputs, or rolled back on an error). ``result``: the
    Rendering to fill (one whose ``pending`` is a list is planned, not written: :func:`write_pending`).
    """
    result = result if result is not None else Rendering()
    if bericht.soort.endswith("-retour"):
        result.notes.append(f"no-op: retour ({bericht.soort}), no zaak mutation: a retour answers its "
                            "heenbericht and changes no zaak")
        return result
    if not bericht.clients and bericht.soort not in ANSWERS:
        raise RenderError("the message holds no client, so there is no zaak to report", "clients")

    def facts(unit: Unit, zaaktype: Zaaktype) -> UnitFacts:  # after the unit's ledger reads, as before
        return unit_facts(bericht, unit, zaaktype, settings.omschrijving)

    message = Prepared(bericht.wet, bericht.berichtcode, bericht.identificatie, [])
    return _render_units(message, [(unit, None) for unit in units(bericht)], facts, settings, tx, now, result)


def _render_units(message: Prepared, pairs: Iterable[tuple[Unit, UnitFacts | None]],
                  facts: Callable[[Unit, Zaaktype], UnitFacts] | None, settings: RenderSettings, tx: Any,
                  now: dt.datetime, result: Rendering) -> Rendering:
    """Plan, write and store each unit; a unit without its facts has them worked out by ``facts``."""
    for unit, known in pairs:
        zaaktype = zaaktype_for(settings.zaaktypen, unit.gemeente, message.wet, unit.kind)
        if zaaktype is None:
            raise RenderError(f"no zaaktype configured for {unit.gemeente}:{message.wet}.{unit.kind} "
                              "(render.zaaktypen)", "zaaktype")
        if unit.event == "verzoek-antwoord":  # a 319 changes the zaken it answers, it has none of its own
            if known is None:
                assert facts is not None
                known = facts(unit, zaaktype)
            _refuse(result, known, zaaktype, unit, message, settings, tx, now)
            continue
        keys = list(unit.keys)
        if unit.event == "verzoek-wijziging" and len(keys) > 1:  # found by its own key only: the product and
            keys = [key for key in keys if not bound_only(key)]  # verzoek keys are for the 301 and the 319
        found = held = tx.zaak_for(keys)
        told = found is None or len(keys) == 1  # what each of keys names (bind_product need not ask again)
        previous = tx.state(found) if found else None
        if previous is not None and another_zaak(keys, previous.get("keys", [])):
            found = previous = None  # found by an alias of another toewijzing or request
        if found and unnumbered(unit):  # found by a product key other toewijzingen may share
            if known is None:
                assert facts is not None
                known = facts(unit, zaaktype)
            try:
                chosen, warning = choose(tx, unit, found, known.delivery.begindatum if known.delivery else None)
            except Ambiguous as exc:
                raise RenderError(str(exc), "clients", code="StUF058") from None
            if chosen != found:
                found, previous = chosen, tx.state(chosen)
            if warning is not None:
                result.warnings.append(warning)
        ident = found or zaak_identificatie(unit)
        linked: list[str] = []
        by_product: list[str] = []  # of those, the ones a new-product key names (the toewijzing checks the product)
        for key in unit.links:  # each other zaak once, in the order of the links (no generators: ~1 a message)
            nieuw = answers_new_only(key)
            if found and nieuw:
                continue
            other = tx.zaak_for([key])
            if other and other != ident and other not in linked:
                linked.append(other)
                if nieuw:
                    by_product.append(other)
        try:
            if known is None:
                assert facts is not None
                known = facts(unit, zaaktype)
            requests = _requests(linked, known.want, tx, result, by_product) if unit.kind == "toewijzing" and linked \
                else []
            andere = [] if previous is not None else (  # only a creeerZaak names them
                [andere_zaak(other, state) for other, state in requests] if unit.kind == "toewijzing"
                else [andere_zaak(other, _held(tx, other)) for other in linked])
            planned = plan_facts(known, unit, previous, ident, zaaktype, andere)
        except PlanError as exc:
            raise RenderError(str(exc), exc.field, code=exc.code) from None
        result.warnings += planned.warnings
        for key in unit.keys:
            if is_verzoek_key(key):
                _bind_verzoek(tx, key, ident)
            elif is_product_key(key):
                bind_product(tx, key, ident, held, asked=told and key in keys)
            else:
                tx.bind(key, ident)
        if planned.state is not None:
            tx.put_state(ident, planned.state)
        if planned.note is not None:
            result.notes.append(planned.note)
        elif not planned.operations:
            result.notes.append(f"no change: zaak {ident} already holds this state ({unit.primary})")
        _write(result, planned.operations, ident, unit, message, settings, tx, now)
        if requests:
            _answer(result, requests, known.at, ident, unit, message, settings, tx, now)
    return result


def _held(tx: Any, zaak: str) -> JsonDict:
    """The state of a zaak a chain key is bound to (bound and put in one transaction: never missing)."""
    state = tx.state(zaak)
    if state is None:
        raise RenderError(f"zaak {zaak} is bound to a chain key but the ledger holds no state of it", "zaak")
    return state


def _bind_verzoek(tx: Any, key: str, ident: str) -> None:
    """Bind zaak ``ident`` to the first free ``verzoek:{gemeente}:{R}:{n}``, unless one already names it: the keys
    are the list of every aanvraagzaak asked under ReferentieAanbieder R that a 319 reads until a gap. Bound by the
    line's place (``key``), a corrected 317 whose lines moved up would take over the place of a line it dropped,
    and a refusal of R would leave that line's aanvraagzaak open for ever."""
    bind_first_free(tx, key.rsplit(":", 1)[0] + ":", ident)


def _requests(linked: list[str], want: JsonDict | None, tx: Any, result: Rendering,
              by_product: list[str]) -> list[tuple[str, JsonDict]]:
    """The aanvraagzaken a toewijzing line names (by ReferentieAanbieder, or the 2.0 beschikking and product) with
    their states, but for one of another client or aanbieder: a ReferentieAanbieder is the aanbieder's own
    reference, so another aanbieder's (or a mistyped) one may name a stranger's aanvraag, which this toewijzing
    neither relates to nor answers (a warning says so, by identificatie only).

    One named by a new-product key (``by_product``) only while it still asks for this product: a corrected 317
    (same ReferentieAanbieder) that asks for another product leaves the key of the product it first asked for
    bound to its zaak (the ledger binds, never unbinds), and a toewijzing of that product does not grant it."""
    if want is None:
        return []
    out = []
    own = _referentie(want)
    for other in linked:
        state = tx.state(other)
        if state is None or state.get("kind") != "aanvraag":
            continue
        if other in by_product and not _same_product(state, want):
            continue
        if own is not None and _referentie(state) not in (None, own):  # found by the 2.x aanvraag-product key,
            continue  # but the line names another request
        if state["initiator"].get("bsn") != want["initiator"].get("bsn") or state.get("uitvoerende") != want.get(
                "uitvoerende"):
            result.warnings.append(f"aanvraagzaak {other} is named by this toewijzing's ReferentieAanbieder or product "
                                   "but is for another client or aanbieder: not linked, not answered")
            continue
        out.append((other, state))
    return out


def _referentie(state: JsonDict) -> str | None:
    """The ReferentieAanbieder a zaak state carries as kenmerk, if any.

    A 301 line with a ReferentieAanbieder answers the request it names, not another one of the same beschikking and
    product that the shared 2.x aanvraag-product key also finds (docs/canonical-spec.md 1: the alias is the way of
    a line without one): a correction of a toewijzing closed a later request for more as "Toegewezen"."""
    return next((value for value, bron in state["attrs"].get("kenmerk") or () if bron == "ReferentieAanbieder"), None)


def _same_product(aanvraag: JsonDict, want: JsonDict) -> bool:
    """Whether the aanvraagzaak asks for the product of the toewijzing ``want`` (categorie, and code or none)."""
    held, given = aanvraag.get("extra") or {}, want.get("extra") or {}
    return all(held.get(name) == given.get(name) for name in ("product.categorie", "product.code"))


def _answer(result: Rendering, requests: list[tuple[str, JsonDict]], at: str, toewijzing: str, unit: Unit,
            message: Prepared, settings: RenderSettings, tx: Any, now: dt.datetime) -> None:
    """Close each open aanvraagzaak the toewijzing answers (:func:`~gateway.zaken.plan.answer_aanvraag`), after
    the toewijzing's own operations: its creeerZaak links to the aanvraag first."""
    for other, previous in requests:
        zaaktype = zaaktype_for(settings.zaaktypen, unit.gemeente, message.wet, "aanvraag")
        if zaaktype is None:
            raise RenderError(f"no zaaktype configured for {unit.gemeente}:{message.wet}.aanvraag "
                              "(render.zaaktypen)", "zaaktype")
        try:
            planned = answer_aanvraag(previous, zaaktype, at, toewijzing)
        except PlanError as exc:
            raise RenderError(str(exc), exc.field, code=exc.code) from None
        if planned.state is not None:
            tx.put_state(other, planned.state)
        result.warnings += planned.warnings
        _write(result, planned.operations, other, unit, message, settings, tx, now)


def _refuse(result: Rendering, known: UnitFacts, zaaktype: Zaaktype, unit: Unit, message: Prepared,
            settings: RenderSettings, tx: Any, now: dt.datetime) -> None:
    """Close each open aanvraagzaak a 319 refuses (:func:`~gateway.zaken.plan.refuse_aanvraag`): the 315 line its
    ReferentieAanbieder names (``aanvraag:{gemeente}:{R}``), or every asking line of the 317 it names, found by
    ``verzoek:{gemeente}:{R}:0``, ``:1``, ... until one is unknown. None known: refused (StUF064), naming the
    keys looked for; an aanvraagzaak of another aanbieder is not touched (a ReferentieAanbieder is the aanbieder's
    own reference), with a warning by identificatie only, and when only such ones are known the refusal names the
    keys they were found by (the verzoek is not missing: converting it first would never help)."""
    assert known.answer is not None
    aanvraag, verzoek = unit.keys
    looked = [aanvraag]
    found: dict[str, str] = {}  # zaak -> the key it was first found by
    ident = tx.zaak_for([aanvraag])
    if ident:
        found[ident] = aanvraag
    n = 0
    while True:
        key = f"{verzoek}:{n}"
        looked.append(key)
        ident = tx.zaak_for([key])
        if not ident:
            break
        found.setdefault(ident, key)
        n += 1
    answered = []
    strangers: list[str] = []
    for ident, by in found.items():
        state = tx.state(ident)
        if state is None or state.get("kind") != "aanvraag":
            continue
        if state.get("uitvoerende") != unit.aanbieder:
            result.warnings.append(f"aanvraagzaak {ident} is named by this antwoord's ReferentieAanbieder but is for "
                                   "another aanbieder: not answered")
            strangers.append(by)
            continue
        answered.append((ident, state))
    if not answered and strangers:  # known, so converting the verzoek first would never help: say what was found
        raise RenderError(f"the aanvraagzaak found by {', '.join(strangers)} is for another aanbieder than this "
                          "verzoek-antwoord's Ontvanger, so it is not answered (a ReferentieAanbieder is the "
                          "aanbieder's own reference)", "antwoord", code="StUF064")
    if not answered:
        raise RenderError(f"no aanvraagzaak is known for this verzoek-antwoord (looked for {', '.join(looked)}); "
                          "the verzoek it answers must be converted first", "antwoord", code="StUF064")
    for ident, previous in answered:
        planned = refuse_aanvraag(previous, zaaktype, known.at, known.answer)
        if planned.state is not None:
            tx.put_state(ident, planned.state)
        result.warnings += planned.warnings
        if planned.note is not None:
            result.notes.append(planned.note)
        _write(result, planned.operations, ident, unit, message, settings, tx, now)


def _write(result: Rendering, operations: list[Operation], ident: str, unit: Unit, message: Prepared,
           settings: RenderSettings, tx: Any, now: dt.datetime) -> None:
    """Write ``operations`` on zaak ``ident`` as zakLk01 outputs, in order, each with its own referentienummer
    and a tijdstipBericht later than every one the zender sent before."""
    if not operations:
        return
    zender = settings.zender  # what every output of the unit shares, once
    clock = f"{zender.organisatie or unit.gemeente}|{zender.applicatie}|{zender.administratie or ''}"
    van, aan = (zender, unit.gemeente), (settings.ontvanger, unit.gemeente)
    stem = file_name(f"{ident}-{message.berichtcode}-{message.identificatie}-")  # a message value
    later = result.pending
    for op in operations:
        name = f"{stem}{len(result.outputs) + (len(later) if later is not None else 0) + 1:02d}-{op.kind}"
        planned = Pending(op, van, aan, tx.tijdstip(clock, now), settings.gezet_door, name, ident)
        if later is None:
            _emit(result, planned)
        else:
            later.append(planned)


def write_pending(result: Rendering) -> None:
    """Write the zakLk01s ``result`` planned (:attr:`Rendering.pending`), in order, into its outputs. What the
    value guard raises stops here, as it would have stopped the render: the caller rolls the message back."""
    pending, result.pending = result.pending or [], None
    for planned in pending:
        _emit(result, planned)


def _emit(result: Rendering, planned: Pending) -> None:
    """One zakLk01 written (and its values guarded, inside :class:`~gateway.render.guard.guarding`)."""
    ref = referentienummer()
    kind = planned.operation.kind
    xml = write(planned.operation, planned.van, planned.aan, ref, planned.tijdstip, planned.gezet_door)
    result.outputs.append(ZknRendered(ref, planned.name, planned.zaak, xml, "T" if kind == CREEER else "W", kind,
                                      SOAP_ACTIONS[kind]))
