"""A message refused with Fo03 and offered again unchanged is processed as if received for the first time.

Why: StUF 03.01 §4.4.3 has the zender offer a refused message again with the same referentienummer and
tijdstipBericht "om ervoor te zorgen dat een ontvanger het bericht herkent als een eerder ontvangen bericht, waarvoor
een fout opgetreden", and the ontvanger then answers Bv03 and processes it "als … de fout inmiddels is opgelost", or
Fo03 "als … de fout nog steeds bestaat". A receiver that replays its stored Fo03 (or, once that is forgotten, refuses
the resend's tijdstipBericht with StUF019) never takes a message the sender was told to offer again.
"""

from __future__ import annotations

from receiver_messages import CREEER, STATUS, ZAAK, creeer_object, gestart, lk01, refused

from gateway.receiver import Receiver

CREATE_LATER = lk01("T", creeer_object(), "ref-2", "20260111000000000")  # after the status's tijdstipBericht


def test_a_refused_message_offered_again_once_the_cause_is_gone_is_accepted_and_applied(receiver: Receiver) -> None:
    status = gestart("ref-1", "20260110000000000")
    refused(receiver.receive(status, STATUS), "StUF064", "unknown-zaak")  # the zaak is not there yet
    assert receiver.receive(CREATE_LATER, CREEER).accepted
    again = receiver.receive(status, STATUS)  # unchanged: same referentienummer and tijdstipBericht, older than ref-2
    assert (again.berichtcode, again.duplicate, again.operation) == ("Bv03", False, "actualiseerZaakstatus")
    assert [s["statustype"] for s in receiver.zaak(ZAAK)["statussen"]] == ["Levering gestart"]
    assert receiver.zaak(ZAAK)["berichten"] == ["ref-2", "ref-1"]
    third = receiver.receive(status, STATUS)  # now accepted: a duplicate, applied once
    assert (third.berichtcode, third.duplicate) == ("Bv03", True)
    assert len(receiver.zaak(ZAAK)["statussen"]) == 1


def test_a_refused_message_offered_again_while_the_cause_remains_is_refused_again(receiver: Receiver) -> None:
    status = gestart("ref-1", "20260110000000000")
    first, again = receiver.receive(status, STATUS), receiver.receive(status, STATUS)
    refused(again, "StUF064", "unknown-zaak")
    assert (first.duplicate, again.duplicate) == (False, False)  # processed again, not the stored answer replayed
    assert len(receiver) == 0


def test_a_refused_message_does_not_advance_the_zenders_tijdstip(receiver: Receiver) -> None:
    """A refused message was not processed (§4.4.3: "dient de zender … ervan uit te gaan dat dat niet door de
    ontvanger verwerkt zal worden"), so a later message of the zender is not measured against it."""
    refused(receiver.receive(gestart("ref-1", "20260110000000000"), STATUS), "StUF064", "unknown-zaak")
    assert receiver.receive(lk01("T", creeer_object(), "ref-2", "20260102100000000"), CREEER).accepted


def test_a_new_message_with_an_old_tijdstip_is_still_refused(receiver: Receiver) -> None:
    """Only a recognised resend is exempt from the order check; a new message, or a message refused for its
    tijdstipBericht and offered again, is not (§4.3.2, StUF019)."""
    refused(receiver.receive(gestart("ref-1", "20260110000000000"), STATUS), "StUF064", "unknown-zaak")
    assert receiver.receive(CREATE_LATER, CREEER).accepted
    late = gestart("ref-3", "20260110000000001")
    refused(receiver.receive(late, STATUS), "StUF019", "tijdstipBericht")
    refused(receiver.receive(late, STATUS), "StUF019", "tijdstipBericht")
    assert receiver.zaak(ZAAK)["statussen"] == []


def test_another_message_with_a_refused_messages_referentienummer_is_refused(receiver: Receiver) -> None:
    """§4.4.3: "Wanneer het probleem bij de zender ligt, dan dient de zender … een nieuw bericht aan te maken met
    een nieuw referentienummer"; §4.2: the combinatie zender en referentienummer is unique (StUF016)."""
    refused(receiver.receive(gestart("ref-1", "20260110000000000"), STATUS), "StUF064", "unknown-zaak")
    reused = receiver.receive(lk01("T", creeer_object(), "ref-1", "20260111000000000"), CREEER)
    refused(reused, "StUF016", "referentienummer-reused")
    assert len(receiver) == 0


def test_a_refused_message_offered_again_after_it_was_forgotten_is_new_and_in_order(reference_dir: object) -> None:
    """``remembered`` bounds the refused messages too; forgotten, a resend is a new message, and a refused message
    never having advanced the tijdstip, it is in order as long as nothing later was processed."""
    bounded = Receiver(remembered=1)
    status = gestart("ref-1", "20260110000000000")
    refused(bounded.receive(status, STATUS), "StUF064", "unknown-zaak")
    assert bounded.receive(lk01("T", creeer_object(), "ref-2", "20260102100000000"), CREEER).accepted
    again = bounded.receive(status, STATUS)  # ref-1 is forgotten: ref-2 took its place
    assert (again.berichtcode, again.duplicate) == ("Bv03", False)
    assert [s["statustype"] for s in bounded.zaak(ZAAK)["statussen"]] == ["Levering gestart"]
