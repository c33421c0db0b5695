"""The reference receiver holds a ROL's extraElementen and allows one, ``emailadres``: ZDS 1.2 §4.1.4.2 gives a ROL
"<alle child elementen m.u.v. … extraElementen …>" and then "object . <ROL> . extraElement — Indien betrokkene in
ROL een correspondentie-email adres specifiek voor deze zaak heeft. naam = emailadres". A W of the relation changes
it as StUF 03.01 Tabel 5.5 "Wijzigen relatie" says (oud the held value, nieuw the new one)."""

from __future__ import annotations

import pytest
from receiver_messages import (
    CLIENT_BSN,
    CREEER,
    UPDATE,
    ZAAK,
    creeer_object,
    lk01,
    refused,
    update_objects,
)

from gateway.receiver import Receiver

HELD_INITIATOR = f"""        <BG:inp.bsn>{CLIENT_BSN}</BG:inp.bsn><BG:geslachtsnaam>Jansen</BG:geslachtsnaam>
      </ZKN:natuurlijkPersoon></ZKN:gerelateerde>
    </ZKN:heeftAlsInitiator>"""


def _extra(naam: str, value: str | None) -> str:
    if value is None:
        return f'<StUF:extraElement naam="{naam}" xsi:nil="true" StUF:noValue="geenWaarde"/>'
    return f'<StUF:extraElement naam="{naam}">{value}</StUF:extraElement>'


def _creeer(*extras: tuple[str, str]) -> bytes:
    """The receiver tests' creeerZaak, its initiator with ``extras`` (naam, value) as the relation's extraElementen."""
    body = creeer_object()
    assert body.count(HELD_INITIATOR) == 1
    own = "<StUF:extraElementen>" + "".join(_extra(n, v) for n, v in extras) + "</StUF:extraElementen>" if extras \
        else ""
    body = body.replace(HELD_INITIATOR, HELD_INITIATOR.replace("</ZKN:heeftAlsInitiator>",
                                                               f"{own}</ZKN:heeftAlsInitiator>"))
    return lk01("T", body, "ref-1", "20260102100000000")


def _initiator_w(*extras: tuple[str, str | None], correspondentie: str = "") -> str:
    """heeftAlsInitiator W: the person by its kerngegevens (I), then ``correspondentie`` and ``extras``."""
    own = "<StUF:extraElementen>" + "".join(_extra(n, v) for n, v in extras) + "</StUF:extraElementen>" if extras \
        else ""
    return f"""<ZKN:heeftAlsInitiator StUF:entiteittype="ZAKBTRINI" StUF:verwerkingssoort="W">
      <ZKN:gerelateerde><ZKN:natuurlijkPersoon StUF:entiteittype="NPS" StUF:verwerkingssoort="I">
        <BG:inp.bsn>{CLIENT_BSN}</BG:inp.bsn></ZKN:natuurlijkPersoon></ZKN:gerelateerde>{correspondentie}{own}
    </ZKN:heeftAlsInitiator>"""


def _held(receiver: Receiver) -> dict[str, object]:
    """The initiator relation's extraElementen the receiver holds, unmasked (its snapshot masks contact data)."""
    (initiator,) = receiver._zaken[ZAAK].related("heeftAlsInitiator")
    return dict(initiator.details.get("extraElementen", {}))


def _w(oud: str, nieuw: str, ref: str = "ref-2", tijdstip: str = "20260102100000001") -> bytes:
    return lk01("W", update_objects(oud, nieuw, vs="I"), ref, tijdstip)


@pytest.fixture()
def with_email(receiver: Receiver) -> Receiver:
    answer = receiver.receive(_creeer(("emailadres", "a@example.nl")), CREEER)
    assert answer.accepted, answer.fout
    return receiver


def test_the_initiator_s_emailadres_is_held_and_shown_masked(with_email: Receiver) -> None:
    assert _held(with_email) == {"emailadres": "a@example.nl"}
    assert with_email.zaak(ZAAK)["initiator"]["extraElementen"] == {"emailadres": "*" * len("a@example.nl")}


def test_a_w_of_the_initiator_changes_its_emailadres(with_email: Receiver) -> None:
    answer = with_email.receive(_w(_initiator_w(("emailadres", "a@example.nl")),
                                   _initiator_w(("emailadres", "b@example.nl"))), UPDATE)
    assert (answer.accepted, answer.operation) == (True, "updateZaak"), answer.fout
    assert _held(with_email) == {"emailadres": "b@example.nl"}
    answer = with_email.receive(_w(_initiator_w(("emailadres", "b@example.nl")), _initiator_w(("emailadres", None)),
                                   "ref-3", "20260102100000002"), UPDATE)
    assert answer.accepted, answer.fout
    assert _held(with_email) == {}  # geenWaarde removes it (StUF 03.01 3.4.1)
    assert "extraElementen" not in with_email.zaak(ZAAK)["initiator"]


def test_a_w_adds_an_emailadres_the_initiator_did_not_have(receiver: Receiver) -> None:
    assert receiver.receive(_creeer(), CREEER).accepted
    assert _held(receiver) == {}
    answer = receiver.receive(_w(_initiator_w(("emailadres", None)), _initiator_w(("emailadres", "c@example.nl"))),
                              UPDATE)
    assert answer.accepted, answer.fout
    assert _held(receiver) == {"emailadres": "c@example.nl"}


def test_a_w_whose_oud_emailadres_is_not_the_held_one_is_refused(with_email: Receiver) -> None:
    answer = with_email.receive(_w(_initiator_w(("emailadres", "other@example.nl")),
                                   _initiator_w(("emailadres", "b@example.nl"))), UPDATE)
    refused(answer, "StUF058", "oud-mismatch")
    assert answer.fout.element == "heeftAlsInitiator/extraElement emailadres"
    assert _held(with_email) == {"emailadres": "a@example.nl"}  # nothing applied


def test_a_w_whose_oud_and_nieuw_differ_in_extra_elements_is_refused(with_email: Receiver) -> None:
    answer = with_email.receive(_w(_initiator_w(), _initiator_w(("emailadres", "b@example.nl"))), UPDATE)
    refused(answer, "StUF055", "oud-nieuw-elements")
    assert _held(with_email) == {"emailadres": "a@example.nl"}


@pytest.mark.parametrize("naam", ["relatie.telefoonnummer", "relatie.naamgebruik", "client.emailadres", "telefoon"])
def test_a_rol_extra_element_other_than_emailadres_is_refused_in_a_creeer_zaak(receiver: Receiver, naam: str) -> None:
    answer = receiver.receive(_creeer(("emailadres", "a@example.nl"), (naam, "0612345678")), CREEER)
    refused(answer, "StUF055", "rol-extraElement")
    assert answer.fout.element == f"heeftAlsInitiator/extraElement {naam}"
    assert "0612345678" not in (answer.fout.omschrijving + str(answer.fout.details))  # names, never the value
    assert len(receiver) == 0


def test_a_betrokkene_s_other_extra_element_is_refused_and_its_emailadres_kept(receiver: Receiver) -> None:
    """The rule holds for every ROL, here a heeftAlsOverigBetrokkene (after the uitvoerende, in schema order)."""
    relation = """<ZKN:heeftAlsOverigBetrokkene StUF:entiteittype="ZAKBTROVR" StUF:verwerkingssoort="T">
      <ZKN:gerelateerde><ZKN:natuurlijkPersoon StUF:entiteittype="NPS" StUF:verwerkingssoort="T">
        <BG:geslachtsnaam>Jansen</BG:geslachtsnaam><BG:voorletters>P</BG:voorletters>
      </ZKN:natuurlijkPersoon></ZKN:gerelateerde>
      <ZKN:code>19</ZKN:code><ZKN:omschrijving>Buur</ZKN:omschrijving>
      <StUF:extraElementen>{}</StUF:extraElementen>
    </ZKN:heeftAlsOverigBetrokkene>"""
    bad = relation.format(_extra("emailadres", "p@example.nl") + _extra("relatie.telefoonnummer", "0612345678"))
    answer = receiver.receive(lk01("T", creeer_object(extra_relations=bad), "ref-1", "20260102100000000"), CREEER)
    refused(answer, "StUF055", "rol-extraElement")
    assert answer.fout.element == "heeftAlsOverigBetrokkene/extraElement relatie.telefoonnummer"
    good = relation.format(_extra("emailadres", "p@example.nl"))
    answer = receiver.receive(lk01("T", creeer_object(extra_relations=good), "ref-2", "20260102100000001"), CREEER)
    assert answer.accepted, answer.fout
    (buur,) = receiver._zaken[ZAAK].related("heeftAlsOverigBetrokkene")
    assert buur.details["extraElementen"] == {"emailadres": "p@example.nl"}


def test_a_w_naming_another_rol_extra_element_is_refused(with_email: Receiver) -> None:
    answer = with_email.receive(_w(_initiator_w(("relatie.naamgebruik", None)),
                                   _initiator_w(("relatie.naamgebruik", "1"))), UPDATE)
    refused(answer, "StUF055", "rol-extraElement")
    assert _held(with_email) == {"emailadres": "a@example.nl"}
