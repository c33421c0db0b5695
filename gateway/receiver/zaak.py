"""The zaak as the reference receiver stores it, and how element values are read and compared.

Attributes are kept generically (any ZAK element a W may change), relations as small identity records:
a zaaksysteem keeps who the initiator is, not the message's copy of their personal data. Snapshots are
JSON-able and never show a BSN unmasked.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from .message import NIL, STUF, is_relation, local, no_value
from .statuses import latest

# ZAK elements that may occur more than once: a kennisgeving carries all their values (StUF 03.01 §5.2.4).
REPEATING = frozenset({"kenmerk", "anderZaakObject", "opschorting", "verlenging"})
# Groups whose type has no StUF:noValue attribute, so xsi:nil alone says "no value".
GROUPS = REPEATING | {"resultaat", "afwijkendCorrespondentieAdres", "afwijkendBuitenlandsCorrespondentieAdres"}
EXTRA = "extraElementen"
# Elements of a gerelateerde that identify it (kerngegevens), in the order they are looked for.
IDENTIFYING = ("inp.bsn", "anp.identificatie", "inn.nnpId", "ann.identificatie", "vestigingsNummer",
               "identificatie", "code", "volgnummer")
ROLES = ("heeftAlsInitiator", "heeftAlsBelanghebbende", "heeftAlsGemachtigde", "heeftAlsUitvoerende",
         "heeftAlsVerantwoordelijke", "heeftAlsOverigBetrokkene")

# Elements that carry a BSN (StUF-BG 3.10 NPS): masked by name, whatever the value (see is_bsn_field).
BSN_ELEMENTS = frozenset({"inp.bsn"})
# extraElement names holding contact data of a person: shown masked in a snapshot.
CONTACT_WORDS = ("telefoon", "email", "naam", "adres", "geboorte")

Value = Any  # str | None | dict[str, Value] | list[Value]


class Unknown(str):
    """A value the sender did not know (noValue waardeOnbekend etc.): equal only to an unknown stored value."""


def value_of(element: etree._Element) -> Value:
    """The comparable value of an attribute element: text, None for geenWaarde, a dict for a group."""
    reason = no_value(element)
    if reason == "geenWaarde" or (reason is None and element.get(NIL) == "true" and local(element) in GROUPS):
        return None
    if reason is not None:
        return Unknown(reason)
    children = [c for c in element if isinstance(c.tag, str)]
    if children:
        return {local(c): value_of(c) for c in children}
    return (element.text or "").strip()


def nil_without_reason(element: etree._Element) -> bool:
    """An emptied simple element must say why (StUF 03.01 §3.4.1); only group types cannot carry noValue."""
    return element.get(NIL) == "true" and no_value(element) is None and local(element) not in GROUPS


def reason_with_content(element: etree._Element) -> bool:
    """A noValue says the element has no value here, so its content must be empty (StUF 03.01 §3.4.1 Figuur 4,
    "Elementinhoud: leeg"; §3.4.2 "zonder elementinhoud"); read as geenWaarde, a value beside it was dropped."""
    if no_value(element) is None:
        return False
    return bool((element.text or "").strip()) or any(isinstance(c.tag, str) for c in element)


def extra_values(element: etree._Element) -> dict[str, Value]:
    """StUF:extraElementen as name → value (None for geenWaarde).

    A name sent more than once is a repeatable datum (StUF 03.01 §5.2.4: "alle waarden voor dat element"): its value
    is the list of its values, without the geenWaarde ones that pad oud and nieuw to the same length (one value
    left: that value). Keeping only the last one lost a beschikking's first grondslag, and a W from two grondslagen
    to one then emptied it."""
    found: dict[str, list[Value]] = {}
    for extra in element.iter(f"{{{STUF}}}extraElement"):
        found.setdefault(extra.get("naam", ""), []).append(value_of(extra))
    out: dict[str, Value] = {}
    for name, values in found.items():
        kept = [v for v in values if v is not None] if len(values) > 1 else values
        out[name] = kept if len(kept) > 1 else (kept[0] if kept else None)
    return out


def attributes_of(obj: etree._Element) -> dict[str, Value]:
    """The attribute elements of a ZAK object (not relations, not StUF metadata), repeating ones as lists."""
    found: dict[str, Value] = {}
    for child in obj:
        if not isinstance(child.tag, str) or is_relation(child):
            continue
        name = local(child)
        if etree.QName(child).namespace == STUF:
            if name == EXTRA:
                found[EXTRA] = extra_values(child)
            continue
        if name in REPEATING:
            items = found.setdefault(name, [])
            value = value_of(child)
            if value is not None:
                items.append(value)
        else:
            found[name] = value_of(child)
    return found


def identity(gerelateerde: etree._Element | None) -> tuple[str, str]:
    """(soort, key) of the object inside a relation's ``gerelateerde``: ("natuurlijkPersoon", bsn), …"""
    if gerelateerde is None:
        return ("", "")
    # A betrokkene's gerelateerde wraps the object in a choice element (natuurlijkPersoon, …) that carries the
    # entiteittype; a zaaktype, status or zaak is the gerelateerde itself.
    # (A zaak's gerelateerde carries its own entiteittype, and its kerngegevens hold an isVan that has one too.)
    own = gerelateerde.get(f"{{{STUF}}}entiteittype") is not None
    inner = [] if own else [c for c in gerelateerde if isinstance(c.tag, str) and c.get(f"{{{STUF}}}entiteittype")]
    target = inner[0] if inner else gerelateerde
    soort = local(target) if inner else gerelateerde.get(f"{{{STUF}}}entiteittype", "")
    for name in IDENTIFYING:
        for child in target:
            if isinstance(child.tag, str) and local(child) == name and child.text and child.text.strip():
                return (soort, f"{name}={child.text.strip()}")
    if soort == "natuurlijkPersoon":
        return (soort, _person_key(target))
    return (soort, "")


NPS_KERNGEGEVENS = ("geslachtsnaam", "voorvoegselGeslachtsnaam", "voorletters", "voornamen", "geslachtsaanduiding",
                    "geboortedatum")
"""What names a person without a BSN (StUF-BG 3.10 NPS kerngegevens): a relative of the client."""


def _person_key(person: etree._Element) -> str:
    """``nps.kerngegevens=<digest>`` of the kerngegevens, so a relative can be found again and removed (V) without
    the receiver keeping a name; "" when none has a value."""
    values = {local(c): (c.text or "").strip() for c in person if isinstance(c.tag, str)
              and local(c) in NPS_KERNGEGEVENS and no_value(c) is None}
    if not any(values.values()):
        return ""
    text = "|".join(values.get(name, "") for name in NPS_KERNGEGEVENS)
    return "nps.kerngegevens=" + hashlib.sha256(text.encode()).hexdigest()[:16]


def is_bsn(value: object) -> bool:
    """Nine digits passing the BSN elfproef: such a value is masked wherever it is shown."""
    if not isinstance(value, str) or len(value) != 9 or not value.isdigit():
        return False
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    return sum(int(d) * w for d, w in zip(value, weights, strict=True)) % 11 == 0


def is_bsn_field(name: str) -> bool:
    """An element that carries a BSN by its name (StUF-BG ``inp.bsn``, an extraElement or detail named …bsn…):
    its value is masked whatever it holds. The schema's BSN type is only ``[0-9]{9}``, so a mistyped BSN that fails
    the elfproef is still a person's number and must not be shown."""
    return name in BSN_ELEMENTS or "bsn" in name.lower()


def mask_value(value: Value, name: str = "") -> Value:
    """``123456782`` → ``*******82`` when it is a BSN or ``name`` is a BSN element; other values as they are."""
    if isinstance(value, str) and value and (is_bsn(value) or is_bsn_field(name)):
        return f"{'*' * max(len(value) - 2, 7)}{value[-2:]}"
    return value


def shown_extra(name: str, value: Value) -> Value:
    """extraElement values as a snapshot shows them: contact data and BSNs masked (privacy, house rules)."""
    if any(word in name.lower() for word in CONTACT_WORDS) and isinstance(value, str):
        return "*" * len(value)
    if isinstance(value, list):
        return [mask_value(v, name) for v in value]
    return mask_value(value, name)


def mask(key: str) -> str:
    """A BSN never leaves the receiver unmasked: ``inp.bsn=123456782`` → ``inp.bsn=*******82``; by the element's
    name, so ``inp.bsn=123456789`` (no elfproef) is ``inp.bsn=*******89`` too."""
    name, _, value = key.partition("=")
    return f"{name}={mask_value(value, name)}" if value else key


@dataclass
class Relation:
    """A relation of the zaak: its name (heeftAlsInitiator …), the related object's kind and identity, details."""

    name: str
    soort: str
    key: str
    details: dict[str, Value] = field(default_factory=dict)
    kern: dict[str, str] = field(default_factory=dict, compare=False)  # a zaaktype's ZKT kerngegevens (not shown)

    def snapshot(self) -> dict[str, Any]:
        """Identity and details; an address group only as the names of the elements it holds, a ROL's extraElementen
        (``emailadres``) masked as the zaak's are (privacy)."""
        return {"soort": self.soort, "identificatie": mask(self.key),
                **{name: {n: shown_extra(n, x) for n, x in v.items()} if name == EXTRA
                   else sorted(v) if isinstance(v, dict) else mask_value(v, name) for name, v in self.details.items()}}


@dataclass
class Status:
    """One entry of the zaak's status history (ZDS actualiseerZaakstatus)."""

    statustype: str
    volgnummer: str
    datum_status_gezet: str
    toelichting: str | None
    gezet_door: str | None = None
    """isGezetDoor: the medewerker or organisatorische eenheid, as ``identificatie=…`` (None when not sent)."""

    def snapshot(self) -> dict[str, Any]:
        return {"statustype": self.statustype, "volgnummer": self.volgnummer,
                "datumStatusGezet": self.datum_status_gezet, "toelichting": self.toelichting,
                "gezetDoor": self.gezet_door}


@dataclass
class Zaak:
    """One zaak in the receiver's store."""

    identificatie: str
    attributes: dict[str, Value] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)
    statussen: list[Status] = field(default_factory=list)
    berichten: list[str] = field(default_factory=list)

    def related(self, name: str) -> list[Relation]:
        return [r for r in self.relations if r.name == name]

    def stored(self, name: str) -> Value:
        """The stored value of an attribute (None when never set; an empty list for a repeating one)."""
        return self.attributes.get(name, [] if name in REPEATING else None)

    def snapshot(self) -> dict[str, Any]:
        """The zaak as JSON: the fields a reader of a zaaksysteem looks at, BSNs masked."""
        a = self.attributes
        zaaktype = self.related("isVan")
        initiator = self.related("heeftAlsInitiator")
        return {
            "identificatie": self.identificatie,
            "zaaktype": zaaktype[0].key.partition("=")[2] if zaaktype else None,
            "omschrijving": a.get("omschrijving"),
            "toelichting": a.get("toelichting"),
            "startdatum": a.get("startdatum"),
            "registratiedatum": a.get("registratiedatum"),
            "einddatumGepland": a.get("einddatumGepland"),
            "einddatum": a.get("einddatum"),
            "resultaat": a.get("resultaat"),
            "kenmerken": list(a.get("kenmerk", [])),
            "initiator": initiator[0].snapshot() if initiator else None,
            "betrokkenen": [{"rol": r.name, **r.snapshot()} for r in self.relations
                            if r.name in ROLES and r.name != "heeftAlsInitiator"],
            "heeftBetrekkingOpAndere": [r.key.partition("=")[2] for r in self.related("heeftBetrekkingOpAndere")],
            "deelzaken": [r.key.partition("=")[2] for r in self.related("heeftAlsDeelzaak")],
            "hoofdzaak": [r.key.partition("=")[2] for r in self.related("heeftAlsHoofdzaak")],
            "statussen": [s.snapshot() for s in self.statussen],
            "laatsteStatus": current.snapshot() if (current := latest(self.statussen)) else None,
            "extraElementen": {name: shown_extra(name, v) for name, v in a.get(EXTRA, {}).items()},
            "berichten": list(self.berichten),
        }
