"""The proof that lets profile zkn check values instead of re-parsing outputs (gateway/render/guard.py).

(a) Structure: every shape the zakLk01 writer can produce (each operation; every relation change the
planner makes: initiator R and W, uitvoerende R, each betrokkene rol T and V; each optional part with and
without; noValue and xsi:nil variants) is written with valid values and validated with lxml against the
official XSD. (b) Values: for every place the writer puts a value, generated values (hostile ones
included) are written with the guard on and off; the guard's verdict must equal lxml's on the output.
Every test runs with each writer (tests/writers.py); with the native one, each write is also made by the
Python writer and must give the same bytes or the same error.
"""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree
from shared_registry import shared_registry
from writers import WRITERS, checked, require_native

from gateway.render import guard, schemas, xsdtypes, zkn_writer
from gateway.render import zkn_values as at
from gateway.render.guard import Place, guarding
from gateway.render.schemas import OutputInvalid, schema
from gateway.render.settings import Eenheid, Systeem
from gateway.zaken import CREEER, STATUS, UPDATE, Operation
from gateway.zaken.changes import Change, RelationChange

WRITER = [zkn_writer.write]


@pytest.fixture(autouse=True, params=WRITERS)
def writer(request: pytest.FixtureRequest) -> None:
    if request.param == "native":
        require_native()
    WRITER[0] = checked if request.param == "native" else zkn_writer.write


def write(*args: Any, **kw: Any) -> bytes:
    """The writer of this run of the test (the native one checked against the Python one)."""
    return WRITER[0](*args, **kw)  # type: ignore[no-any-return]


SYSTEMEN = ((Systeem(), "0363"), (Systeem(organisatie="ORG", administratie="ADM"), "0363"))
ADRES = {"woonplaats": "Diemen", "straatnaam": "Eekholt", "postcode": "1234AB", "huisnummer": "4",
         "huisletter": "a", "toevoeging": "bis"}


def person(full: bool, adres: bool = True, known: bool = True) -> dict[str, Any]:
    if not full:
        return {"geslachtsnaam": None, "known": known}
    return {"geslachtsnaam": "Gaastra", "voorvoegsel": "van", "voorletters": "D", "voornamen": "Dirk",
            "geslacht": "1", "geboortedatum": "19850106", "geboortedatum_gebruik": "2", "known": known,
            "adres": dict(ADRES) if adres else None}


def initiator(bsn: str = "123456782", correspondentie: dict[str, Any] | None = None, email: str | None = None,
              **kw: Any) -> dict[str, Any]:
    return {**person(True, **kw), "bsn": bsn, "correspondentie": correspondentie,
            "extra": {"emailadres": email} if email else {}}


def betrokkene(rol: str, full: bool = True, extra: bool = True) -> dict[str, Any]:
    return {"rol": rol, "code": "12", "omschrijving": "Partner", "persoon": person(full),
            "extra": {"emailadres": "a@b.nl"} if extra else {}}


KERN: dict[str, Any] = {"omschrijving": "Wmo aanvraag 07A03",
                         "zaaktype": {"code": "WMOAANV", "omschrijving": "Aanvraag", "ingangsdatum": "20150101"}}
"""The kerngegevens besides the identificatie (omschrijving, isVan) a W's objects and a related zaak carry."""


def state(*, toelichting: bool, kenmerken: int, resultaat: bool, dates: bool, extra: int, betrokkenen: tuple[str, ...],
          correspondentie: bool, uitvoerende: bool, andere: int, full_person: bool) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if extra:
        extras = {"product.code": "07A03", "beschikking.grondslag": ["a", "b"]}
    if extra > 1:
        extras["leeg"] = None
    return {
        "identificatie": "0363T12345", "omschrijving": "Wmo toewijzing", "registratiedatum": "20160220",
        "zaaktype": {"code": "WMOTOEW", "omschrijving": "Toewijzing", "ingangsdatum": "20150101"},
        "attrs": {"toelichting": "Product: x" if toelichting else None,
                  "kenmerk": [[f"42538612{i}", "BeschikkingNummer"] for i in range(kenmerken)] or None,
                  "resultaat": "Toegekend" if resultaat else None,
                  "startdatum": "20160215" if dates else None, "einddatumGepland": "20161231" if dates else None,
                  "einddatum": "20161231" if dates else None},
        "extra": extras,
        "initiator": initiator(correspondentie=dict(ADRES) if correspondentie else None, adres=full_person,
                               known=full_person, email="c@d.nl" if extra else None),
        "uitvoerende": "98025566" if uitvoerende else None,
        "betrokkenen": [betrokkene(rol, full_person, extra > 0) for rol in betrokkenen],
        "andere": [{"identificatie": f"0363T9999{i}", **KERN} for i in range(andere)],
    }


def creeer_shapes() -> list[Operation]:
    rols = ((), ("belanghebbende",), ("gemachtigde", "overig"), ("belanghebbende", "gemachtigde", "overig"),
            ("overig", "belanghebbende", "belanghebbende"))
    shapes = []
    for flags in itertools.product((False, True), repeat=7):
        toelichting, resultaat, dates, correspondentie, uitvoerende, full_person, many = flags
        shapes.append(Operation(CREEER, "0363T12345", state=state(
            toelichting=toelichting, kenmerken=2 if many else int(dates), resultaat=resultaat, dates=dates,
            extra=2 if many else int(toelichting), betrokkenen=rols[sum(flags) % len(rols)],
            correspondentie=correspondentie, uitvoerende=uitvoerende, andere=2 if many else 0,
            full_person=full_person)))
        if full_person and toelichting != many:  # an address with one field: the others as noValue
            held = shapes[-1].state
            assert held is not None
            for who in (held["initiator"], *(b["persoon"] for b in held["betrokkenen"])):
                who["adres"] = {"straatnaam": "Eekholt"} if resultaat else {"postcode": "1111AA"}
    return shapes


def attribute_changes() -> list[tuple[Change, ...]]:
    """Each ZAK attribute a W may change: set, changed and emptied; kenmerk lists of other lengths."""
    changes: list[tuple[Change, ...]] = [()]
    for name, value, other in (("toelichting", "t", "u"), ("startdatum", "20160101", "20160102"),
                               ("einddatumGepland", "20161231", "20170101"), ("einddatum", "20161231", "20170101"),
                               ("resultaat", "Ingetrokken", "Toegekend")):
        changes += [(Change(name, None, value),), (Change(name, value, None),), (Change(name, value, other),)]
    one, two = [["1", "BeschikkingNummer"]], [["1", "BeschikkingNummer"], ["2", "ToewijzingNummer"]]
    changes += [(Change("kenmerk", None, one),), (Change("kenmerk", two, one),), (Change("kenmerk", one, None),)]
    changes.append(tuple(Change(n, None, v) for n, v in (("toelichting", "t"), ("kenmerk", one),
                                                          ("resultaat", "r"), ("startdatum", "20160101"),
                                                          ("einddatumGepland", "20161231"),
                                                          ("einddatum", "20161231"))))
    return changes


EXTRA_CHANGES = [(), (Change("product.code", "07A03", "07A04"),), (Change("product.code", None, "x"),),
                 (Change("product.code", "x", None),), (Change("beschikking.grondslag", ["a"], ["a", "b"]),),
                 (Change("beschikking.grondslag", ["a", "b"], None),), (Change("x", None, ["a"]),)]


def relation_changes() -> list[tuple[RelationChange, ...]]:
    """Every relation change the planner makes (gateway/zaken/plan.py), alone and all together."""
    old, new = initiator("123456782"), initiator("111222333")
    each = [
        RelationChange("initiator", old, new),
        RelationChange("initiator", old, {**old, "correspondentie": dict(ADRES)}, "W"),
        RelationChange("initiator", {**old, "correspondentie": dict(ADRES)}, {**old, "correspondentie": None}, "W"),
        RelationChange("initiator", {**old, "correspondentie": dict(ADRES)},
                       {**old, "correspondentie": {"postcode": "1111AA"}}, "W"),
        # the initiator's emailadres (ZDS 1.2 4.1.4.2) added, removed, changed with its address; a state stored
        # before the initiator had extraElementen (no "extra") gets one
        RelationChange("initiator", old, {**old, "extra": {"emailadres": "c@d.nl"}}, "W"),
        RelationChange("initiator", {**old, "extra": {"emailadres": "c@d.nl"}}, {**old, "extra": {}}, "W"),
        RelationChange("initiator", {**old, "extra": {"emailadres": "c@d.nl"}},
                       {**old, "correspondentie": dict(ADRES), "extra": {"emailadres": "e@f.nl"}}, "W"),
        RelationChange("initiator", {k: v for k, v in old.items() if k != "extra"},
                       {**old, "extra": {"emailadres": "c@d.nl"}}, "W"),
        RelationChange("uitvoerende", "98025566", "12345678"),
    ]
    for rol in at.RELATIONS:
        each += [RelationChange("betrokkene", betrokkene(rol), None, "V"),
                 RelationChange("betrokkene", None, betrokkene(rol), "T"),
                 RelationChange("betrokkene", None, betrokkene(rol, full=False, extra=False), "T")]
    others = [c for c in each if c.name != "initiator"]  # with the R: a zaak has one initiator relation
    return [(), *((c,) for c in each), tuple(each[:1] + others)]


def update_shapes() -> list[Operation]:
    ops = []
    for attrs, extra, relations in itertools.product(attribute_changes(), EXTRA_CHANGES, relation_changes()):
        if attrs or extra or relations:
            ops.append(Operation(UPDATE, "0363T12345", changes=attrs, extra_changes=extra,
                                 relation_changes=relations, **KERN))
    return ops


def status(toelichting: bool = True) -> dict[str, Any]:
    return {"zaaktype": "WMOTOEW", "volgnummer": "2", "omschrijving": "Levering gestart",
            "toelichting": "t" if toelichting else None, "datum": "20160301"}


STATUS_SHAPES = [Operation(STATUS, "0363T12345", status=status(t), **KERN) for t in (False, True)]
EENHEDEN = (Eenheid(), Eenheid("OEH1", None))  # a status never goes without (ZDS 1.2 §4.1.3.2)
DOOR = Eenheid()


def _xml(op: Operation, zender: tuple[Systeem, str] = SYSTEMEN[0], eenheid: Eenheid | None = DOOR) -> bytes:
    return write(op, zender, SYSTEMEN[1], "0b4c8f2e-0000-4000-8000-000000000001", "20260102030405000", eenheid)


def _errors(xml: bytes) -> list[str]:
    try:
        root = etree.fromstring(xml)
    except etree.XMLSyntaxError as exc:
        return [f"not well-formed: {exc}"]
    xsd = schema("zkn")
    return [] if xsd.validate(etree.ElementTree(root)) else [str(e) for e in xsd.error_log][:3]


def test_every_shape_the_writer_makes_is_valid(reference_dir: Path) -> None:
    shapes = [(op, z, None) for op in creeer_shapes() for z in SYSTEMEN]
    shapes += [(op, SYSTEMEN[0], None) for op in update_shapes()]
    shapes += [(op, SYSTEMEN[1], e) for op in STATUS_SHAPES for e in EENHEDEN]
    assert len(shapes) > 2000
    for op, zender, eenheid in shapes:
        with guarding():  # the guard passes every valid value, and the output validates
            xml = _xml(op, zender, eenheid)
        assert xml == _xml(op, zender, eenheid)
        assert _errors(xml) == [], (op, _errors(xml))


def test_every_place_resolves_to_a_type_in_the_official_xsd(reference_dir: Path) -> None:
    places = at.every_place()
    assert len(places) > 100
    for place in places:  # each resolves and compiles: a failure would be KeyError or Unsupported here
        with contextlib.suppress(OutputInvalid):
            place.check("x")
    assert "maxLength" not in Path(at.__file__).read_text()  # the facets come from the XSD, not from us


def test_facets_the_writer_cannot_reach_through_its_inputs_are_still_checked(reference_dir: Path) -> None:
    """The writer maps geslacht to M/V/O itself, so no input reaches the enumeration: checked here directly."""
    at.INITIATOR.geslacht.check("M")
    with pytest.raises(OutputInvalid, match="one of M, O, V"):
        at.INITIATOR.geslacht.check("X")


def _with_extras(extras: dict[str, Any]) -> Operation:
    s = state(toelichting=False, kenmerken=0, resultaat=False, dates=False, extra=0, betrokkenen=(),
              correspondentie=False, uitvoerende=False, andere=0, full_person=True)
    return Operation(CREEER, "0363T12345", state={**s, "extra": extras})


def test_an_extra_element_written_unguarded_is_still_checked_when_guarded(reference_dir: Path) -> None:
    """The writer remembers the extraElementen it wrote guarded (zkn.WRITTEN): one written unguarded first must
    not pass a later guarded write unchecked, whether its value or its name is invalid."""
    for extras in ({"product.code": "\x01"}, {"\x01naam": "07A03"}, {"product.code": ["ok", "\x02"]}):
        op = _with_extras(extras)
        _xml(op)  # unguarded: written as it is
        with guarding(), pytest.raises(OutputInvalid, match="extraElement"):
            _xml(op)
    op = _with_extras({"product.code": "07A03", "leeg": None})
    with guarding():
        guarded = _xml(op)
    assert _xml(op) == guarded and _errors(guarded) == []


def test_the_extra_elements_remembered_are_bounded(reference_dir: Path) -> None:
    from gateway.render import zkn_writer as zkn

    with guarding():
        _xml(_with_extras({"product.code": [f"{i:05d}" for i in range(zkn.WRITTEN_MAX + 10)]}))
    assert len(zkn.WRITTEN) == zkn.WRITTEN_MAX


def test_a_head_written_unguarded_is_still_checked_when_guarded(reference_dir: Path) -> None:
    """The writer remembers the stuurgegevens' start it wrote guarded (zkn.HEADS), by zender and ontvanger: one
    written unguarded first must not pass a later guarded write unchecked; the memo stops at its bound."""
    from gateway.render import zkn_writer as zkn

    op = _with_extras({})
    for zender in ((Systeem(organisatie="G" * 201), "0363"), (Systeem(applicatie=""), "0363")):
        write(op, zender, SYSTEMEN[1], "0b4c8f2e-0000-4000-8000-000000000001", "20260102030405000")
        with guarding(), pytest.raises(OutputInvalid, match="StUF:zender"):
            write(op, zender, SYSTEMEN[1], "0b4c8f2e-0000-4000-8000-000000000001", "20260102030405000")
    with guarding():
        for n in range(zkn.HEADS_MAX + 10):
            write(op, (Systeem(), f"{n:04d}"), SYSTEMEN[1], "0b4c8f2e-0000-4000-8000-000000000001",
                  "20260102030405000")
    assert len(zkn.HEADS) == zkn.HEADS_MAX


def test_a_block_written_unguarded_is_still_checked_when_guarded(reference_dir: Path) -> None:
    """The writer remembers the blocks made of configuration it wrote guarded (zkn.BLOCKS: a zaaktype's isVan, a
    statustype, the OEH of isGezetDoor), by their values: one written unguarded first must not pass a later
    guarded write unchecked; the memo stops at its bound."""
    from gateway.render import zkn_writer as zkn

    def creeer(code: str) -> Operation:
        s = _with_extras({}).state
        assert s is not None
        return Operation(CREEER, "0363T12345", state={**s, "zaaktype": {**s["zaaktype"], "code": code}})

    def status_of(code: str) -> Operation:
        return Operation(STATUS, "0363T12345", status={**status(), "zaaktype": code})

    for op, eenheid, where in ((creeer("X" * 11), None, "ZKN:isVan"), (status_of("X" * 11), Eenheid(), "ZKN:zkt.code"),
                               (status_of("WMOTOEW"), Eenheid("O" * 25), "ZKN:isGezetDoor")):
        _xml(op, eenheid=eenheid)  # unguarded: written as it is
        with guarding(), pytest.raises(OutputInvalid, match=where):
            _xml(op, eenheid=eenheid)
    with guarding():
        first = _xml(status_of("WMOTOEW"), eenheid=Eenheid())
        assert _xml(status_of("WMOTOEW"), eenheid=Eenheid()) == first  # from the memo: the same text
        for n in range(zkn.BLOCKS_MAX + 10):
            _xml(creeer(f"Z{n:05d}"))
    assert len(zkn.BLOCKS) == zkn.BLOCKS_MAX and _errors(first) == []


# (b) the guard agrees with lxml, place by place ------------------------------------------------------------

def _setters() -> dict[int, Any]:
    """Place -> a function of a value giving (operation, zender, eenheid) that writes the value there."""
    base = dict(toelichting=True, kenmerken=1, resultaat=True, dates=True, extra=1, betrokkenen=(),
                correspondentie=True, uitvoerende=True, andere=1, full_person=True)

    def creeer(edit: Any) -> Any:
        def make(value: str) -> tuple[Operation, tuple[Systeem, str], Eenheid | None]:
            s = state(**base)  # type: ignore[arg-type]
            edit(s, value)
            return Operation(CREEER, "0363T12345", state=s), SYSTEMEN[0], None
        return make

    def stat(edit: Any, eenheid: Any = None, zaaktype: Any = None) -> Any:
        def make(value: str) -> tuple[Operation, tuple[Systeem, str], Eenheid | None]:
            s = status()
            edit(s, value)
            zkt = zaaktype(value) if zaaktype else None
            return (Operation(STATUS, "0363T12345", status=s, zaaktype=zkt), SYSTEMEN[0],
                    eenheid(value) if eenheid else Eenheid())
        return make

    def sets(*path: Any) -> Any:
        def edit(s: dict[str, Any], value: str) -> None:
            for step in path[:-1]:
                s = s[step]
            s[path[-1]] = value
        return edit

    table: dict[int, Any] = {
        id(at.IDENTIFICATIE): creeer(sets("identificatie")), id(at.OMSCHRIJVING): creeer(sets("omschrijving")),
        id(at.REGISTRATIEDATUM): creeer(sets("registratiedatum")),
        id(at.KENMERK): creeer(lambda s, v: s["attrs"].__setitem__("kenmerk", [[v, "BeschikkingNummer"]])),
        id(at.KENMERK_BRON): creeer(lambda s, v: s["attrs"].__setitem__("kenmerk", [["1", v]])),
        id(at.RESULTAAT): creeer(sets("attrs", "resultaat")),
        id(at.ZAAKTYPE_OMSCHRIJVING): creeer(sets("zaaktype", "omschrijving")),
        id(at.ZAAKTYPE_CODE): creeer(sets("zaaktype", "code")),
        id(at.ZAAKTYPE_INGANG): creeer(sets("zaaktype", "ingangsdatum")),
        id(at.AGB): creeer(sets("uitvoerende")),
        id(at.ANDERE): creeer(lambda s, v: s.__setitem__("andere", [{"identificatie": v, **KERN}])),
        id(at.ZAK_EXTRA.value): creeer(lambda s, v: s.__setitem__("extra", {"x": v})),
        id(at.ZAK_EXTRA.naam): creeer(lambda s, v: s.__setitem__("extra", {v: "x"})),
        id(at.STATUS_ZAAKTYPE): stat(sets("zaaktype")), id(at.STATUS_OMSCHRIJVING): stat(sets("omschrijving")),
        id(at.STATUS_TOELICHTING): stat(sets("toelichting")), id(at.STATUS_DATUM): stat(sets("datum")),
        id(at.STATUS_VOLGNUMMER): stat(sets("volgnummer")),
        id(at.STATUS_CODE): stat(sets("code")), id(at.STATUS_INGANG): stat(sets("ingangsdatum")),
        id(at.STATUS_ZAAKTYPE_OMSCHRIJVING): stat(lambda s, v: None, zaaktype=lambda v: {
            "code": "ZT", "omschrijving": v, "ingangsdatum": "20150101"}),
        id(at.OEH_IDENTIFICATIE): stat(lambda s, v: None, lambda v: Eenheid(v, "naam")),
        id(at.OEH_NAAM): stat(lambda s, v: None, lambda v: Eenheid("OEH", v)),
    }
    for name, place in at.ATTRIBUTES.items():
        table[id(place)] = creeer(sets("attrs", name))
    for places in (at.INITIATOR, *at.RELATIONS.values()):
        rol = next((r for r, p in at.RELATIONS.items() if p is places), None)

        def holder(s: dict[str, Any], rol: str | None = rol) -> dict[str, Any]:
            if rol is None:
                return s["initiator"]
            s["betrokkenen"] = [betrokkene(rol)]
            return s["betrokkenen"][0]

        for field in ("geslachtsnaam", "voorvoegsel", "voorletters", "voornamen", "geboortedatum"):
            table[id(getattr(places, field))] = creeer(
                lambda s, v, f=field, h=holder, r=rol: (h(s) if r is None else h(s)["persoon"]).__setitem__(f, v))
        table[id(places.geslacht)] = creeer(
            lambda s, v, h=holder, r=rol: (h(s) if r is None else h(s)["persoon"]).__setitem__("geslacht", v))
        if rol is None:
            table[id(places.bsn)] = creeer(lambda s, v: s["initiator"].__setitem__("bsn", v))
        else:
            table[id(places.code)] = creeer(lambda s, v, h=holder: h(s).__setitem__("code", v))
            table[id(places.omschrijving)] = creeer(lambda s, v, h=holder: h(s).__setitem__("omschrijving", v))
            table[id(places.extra.value)] = creeer(lambda s, v, h=holder: h(s).__setitem__("extra", {"x": v}))
            table[id(places.extra.naam)] = creeer(lambda s, v, h=holder: h(s).__setitem__("extra", {v: "x"}))
        for layout, key in ((places.verblijfsadres, "adres"), (places.correspondentie, "correspondentie")):
            for place, field, _ in layout:
                if field is not None:
                    table[id(place)] = creeer(
                        lambda s, v, f=field, k=key, h=holder, r=rol:
                        (h(s) if r is None else h(s)["persoon"]).setdefault(k, {}).__setitem__(f, v)
                        if (h(s) if r is None else h(s)["persoon"]).get(k) else
                        (h(s) if r is None else h(s)["persoon"]).__setitem__(k, {**ADRES, f: v}))
    table[id(at.ZENDER.organisatie)] = lambda v: (Operation(STATUS, "0363T12345", status=status()),
                                                  (Systeem(organisatie=v), "0363"), Eenheid())
    table[id(at.ZENDER.applicatie)] = lambda v: (Operation(STATUS, "0363T12345", status=status()),
                                                 (Systeem(applicatie=v), "0363"), Eenheid())
    table[id(at.ZENDER.administratie)] = lambda v: (Operation(STATUS, "0363T12345", status=status()),
                                                    (Systeem(administratie=v), "0363"), Eenheid())
    return table


SETTERS = _setters()
UNSET = {id(at.REFERENTIENUMMER), id(at.TIJDSTIP_BERICHT), id(at.ONTVANGER.organisatie),
         id(at.ONTVANGER.applicatie), id(at.ONTVANGER.administratie)}
"""Places the test sets through write()'s own arguments (below) or that mirror the zender's places."""
NEVER = {id(p) for p in (at.INITIATOR.code, at.INITIATOR.omschrijving, at.INITIATOR.extra.value,
                         at.INITIATOR.extra.naam, *(r.bsn for r in at.RELATIONS.values()))}
"""Places of the shared relation layout the writer never fills: the initiator relation carries no code,
omschrijving or extraElementen, a betrokkene no BSN; BG:aoa.identificatie is always noValue."""
PLACES = [p for p in at.every_place() if id(p) not in UNSET | NEVER and "BG:aoa.identificatie" not in p.path]


def test_every_place_has_a_setter() -> None:
    assert [p for p in PLACES if id(p) not in SETTERS] == []


GUARD_TEXTS = "".join(Path(m.__file__).read_text() for m in (guard, xsdtypes)) + str(schemas.OutputInvalid("zkn", []))
"""What a guard message is made of besides the place and its facets: the phrases in the guard's own code."""


def echoes(message: str, value: str, place: Place) -> bool:
    """The message shows ``value`` where it is not one of the texts the message is made of (a generated 'sch'
    is in "schema", a '[0-9]' may be in the place's pattern): those are no echo of the value."""
    made_of = (GUARD_TEXTS, place.where(), repr(guard.schema().facets(guard.ROOT + place.path, place.attribute)))
    return value in message and not any(value in text for text in made_of)


def verdicts(place: Place, value: str) -> tuple[bool, bool]:
    """(the guard passes, lxml validates) for ``value`` written at ``place``."""
    if place is at.STATUS_VOLGNUMMER:  # the writer formats int(volgnummer): other values fail before any XML
        try:
            int(value)
        except ValueError:
            assume(False)
    op, zender, eenheid = SETTERS[id(place)](value)
    try:
        with guarding():
            _xml(op, zender, eenheid)
        guard = True
    except OutputInvalid as exc:
        assert not echoes(str(exc), value, place), "the guard echoed the value"
        guard = False
    try:
        xml = _xml(op, zender, eenheid)
    except UnicodeEncodeError:  # a lone surrogate: no output at all
        return guard, False
    return guard, _errors(xml) == []


HOSTILE = st.sampled_from(["", " ", "  \t\n", "\r\n", "a\rb", "<b>", "&amp;", "]]>", '"q"', "\x00", "\x0b",
                           "\ud800", "\ufffe", "\U0001F600", "1" * 9, "12345678", "0" * 17, "+1", "-1", "1.0",
                           "0001", " 20160101 ", "2016-01-01", "99999", "100000", "M", "V", "x", "1234AB",
                           "1234 AB", "0123AB", "a" * 40, "a" * 41, "a" * 80, "a" * 81, "a" * 201, "9" * 18])
VALUES = st.one_of(HOSTILE, st.text(max_size=30), st.text(alphabet="0123456789 +-.", max_size=20),
                   st.text(alphabet="aB1 \t\n\r<&>\"'\x01\ud7ff\ue000\U00010000", max_size=12),
                   st.integers(min_value=-5, max_value=10**18).map(str),
                   st.builds(lambda n, c: c * n, st.integers(0, 1100), st.sampled_from("aé9 ")))


@pytest.mark.parametrize("place", PLACES, ids=lambda p: p.where().replace("ZKN:object/", ""))
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(value=VALUES)
def test_the_guard_agrees_with_the_xsd(reference_dir: Path, place: Place, value: str) -> None:
    guard, xsd = verdicts(place, value)
    assert guard == xsd, f"{place.where()}: guard {'passes' if guard else 'refuses'} {value!r}, lxml " \
                         f"{'validates' if xsd else 'refuses'}"


@settings(max_examples=300, deadline=None, derandomize=True)
@given(ref=VALUES, moment=VALUES)
def test_the_guard_agrees_on_the_stuurgegevens(reference_dir: Path, ref: str, moment: str) -> None:
    op = STATUS_SHAPES[0]
    try:
        with guarding():
            write(op, SYSTEMEN[0], SYSTEMEN[1], ref, moment, Eenheid())
        guard = True
    except OutputInvalid:
        guard = False
    try:
        xsd = _errors(write(op, SYSTEMEN[0], SYSTEMEN[1], ref, moment, Eenheid())) == []
    except UnicodeEncodeError:
        xsd = False
    assert guard == xsd


# (c) the modes: on (zkn: the guard, no re-parse), full (re-parse), and what they say -------------------------

def _sample(reference_dir: Path) -> bytes:
    return next(reference_dir.glob("samples/*/CasusA-02-WMO301_toewijzing.xml")).read_bytes()


def test_validate_on_guards_zkn_and_full_parses_back(reference_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gateway.pipeline as pipeline
    from gateway.ledger import MemoryLedger
    from gateway.pipeline import Converter

    parsed: list[str] = []
    real = pipeline.check
    monkeypatch.setattr(pipeline, "check", lambda xml, kind: (parsed.append(kind), real(xml, kind)))
    guarded = Converter(shared_registry(), validate=True, ledger=MemoryLedger())
    assert guarded.guarded and "value guard" in guarded.checking
    assert guarded.convert(_sample(reference_dir)).outputs and parsed == []
    full = Converter(shared_registry(), validate="full", ledger=MemoryLedger())
    assert not full.guarded and "parsed back" in full.checking
    assert full.convert(_sample(reference_dir)).outputs and parsed == ["zkn"]
    # GGk output is written through mapping files
    assert not Converter(shared_registry(), profile="ggk", validate=True).guarded
    assert Converter(shared_registry(), validate=False).checking == ""
    with pytest.raises(ValueError, match="unknown validation"):
        Converter(shared_registry(), validate="partly")


def test_an_invalid_value_is_refused_by_place_without_the_value(reference_dir: Path) -> None:
    from gateway.ledger import MemoryLedger
    from gateway.pipeline import Converter, describe
    from gateway.render.settings import RenderSettings

    too_long = "Gemeente" * 30  # StUF:organisatie holds 200 characters
    for validate in (True, "full"):
        converter = Converter(shared_registry(), validate=validate, ledger=MemoryLedger(),
                              settings=RenderSettings(zender=Systeem(organisatie=too_long)))
        with pytest.raises(OutputInvalid) as caught:
            converter.convert(_sample(reference_dir))
        if validate is True:
            assert "StUF:zender/StUF:organisatie" in str(caught.value) and "200" in str(caught.value)
        assert too_long not in str(caught.value) and describe(caught.value).code == "StUF055"


def test_the_sidecar_takes_validate_full_and_refuses_other_words(tmp_path: Path, reference_dir: Path) -> None:
    from gateway.proxy.config import ConfigError
    from gateway.proxy.config_file import from_dict
    from gateway.proxy.converting import build_converters

    def route(validate: object) -> dict[str, Any]:
        return {"data_dir": str(tmp_path), "routes": {"r": {"downstream": "http://127.0.0.1:9",
                                                            "validate": validate}}}

    converters = build_converters(from_dict(route("full"), tmp_path), shared_registry())
    assert converters["r"].validate == "full" and not converters["r"].guarded
    assert build_converters(from_dict(route(True), tmp_path), shared_registry())["r"].guarded
    with pytest.raises(ConfigError, match="true, false or full"):
        from_dict(route("partly"), tmp_path)


def test_the_cli_full_check_parses_every_output_back(tmp_path: Path, reference_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import gateway.pipeline as pipeline
    from gateway.cli import main

    source = next(reference_dir.glob("samples/*/CasusA-02-WMO301_toewijzing.xml"))
    kinds: list[str] = []
    real = pipeline.check
    monkeypatch.setattr(pipeline, "check", lambda xml, kind: (kinds.append(kind), real(xml, kind)))
    for flags, expect in (([], []), (["--full-check"], ["zkn"])):
        kinds.clear()
        result = CliRunner().invoke(main, ["convert", str(source), "--out", str(tmp_path / "out"), "--state", "none",
                                           *flags])
        assert result.exit_code == 0, result.output
        assert kinds == expect
