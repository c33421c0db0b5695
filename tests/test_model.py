"""The domain rules of the canonical model: BSN 11-proef, date order, code lists, berichtcode."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from pydantic import ValidationError

from gateway.model import Bericht, bsn_is_valid, mask_bsn


def _bericht(**client_overrides: object) -> dict:
    client = {
        "bsn": "123456782",
        "geboortedatum": "1985-01-06",
        "geslacht": "1",
        "naam": {"geslachtsnaam": {"naam": "Gaastra"}},
        "producten": [{"categorie": "07", "code": "07A03", "ingangsdatum": "2016-02-15", "einddatum": "2016-12-31",
                       "omvang": {"volume": "6", "eenheid": "04", "frequentie": "2"}, "aanbieder": "98025566"}],
    }
    client.update(client_overrides)
    return {"wet": "wmo", "soort": "toewijzing", "berichtcode": "414", "versie": "2.0", "afzender": "0384",
            "ontvanger": "98025566", "identificatie": "1d8d1f0852bf", "dagtekening": "2016-02-20", "clients": [client]}


@pytest.mark.parametrize(("bsn", "ok"), [
    ("123456782", True), ("999900006", True), ("123456789", False), ("000000000", False),
    ("12345678", False), ("12345678a", False), ("1234567820", False),
])
def test_bsn_11_proef(bsn: str, ok: bool) -> None:
    assert bsn_is_valid(bsn) is ok


def test_mask_bsn_keeps_only_two_digits() -> None:
    assert mask_bsn("123456782") == "*******82"


def test_valid_message_converts_values() -> None:
    bericht = Bericht.model_validate(_bericht())
    product = bericht.clients[0].producten[0]
    assert product.omvang is not None and product.omvang.volume == 6
    assert product.einddatum == dt.date(2016, 12, 31)


def test_bsn_failing_11_proef_is_rejected_without_echoing_it() -> None:
    with pytest.raises(ValidationError) as exc:
        Bericht.model_validate(_bericht(bsn="123456789"))
    err = exc.value.errors()[0]
    assert err["loc"] == ("clients", 0, "bsn")
    assert "11-proef" in err["msg"]


def test_einddatum_before_ingangsdatum_is_rejected() -> None:
    data = _bericht()
    data["clients"][0]["producten"][0]["einddatum"] = "2016-01-01"
    with pytest.raises(ValidationError, match="lies before ingangsdatum") as caught:
        Bericht.model_validate(data)
    said = caught.value.errors()[0]["msg"]  # what the mapping's error and a Fo03 give (review s18: not the dates)
    assert said == "Value error, product: einddatum lies before ingangsdatum" and "2016" not in said


@pytest.mark.parametrize(("field", "value"), [("eenheid", "05"), ("frequentie", "7")])
def test_unknown_omvang_codes_are_rejected(field: str, value: str) -> None:
    data = _bericht()
    data["clients"][0]["producten"][0]["omvang"][field] = value
    with pytest.raises(ValidationError) as exc:
        Bericht.model_validate(data)
    assert exc.value.errors()[0]["loc"][-1] == field


def test_productcategorie_must_fit_the_wet() -> None:
    data = _bericht()
    data["clients"][0]["producten"][0]["categorie"] = "45"  # a Jeugdwet category in a Wmo message
    with pytest.raises(ValidationError, match="WMO020"):
        Bericht.model_validate(data)
    data.update(wet="jw", berichtcode="436")
    assert Bericht.model_validate(data).clients[0].producten[0].categorie == "45"


def test_berichtcode_must_agree_with_wet_and_soort() -> None:
    data = _bericht()
    data["berichtcode"] = "444"  # a verzoek code on a toewijzing
    with pytest.raises(ValidationError, match="wmo verzoek message"):
        Bericht.model_validate(data)


def test_agb_must_be_eight_digits() -> None:
    data = _bericht()
    data["clients"][0]["producten"][0]["aanbieder"] = "9802556"
    with pytest.raises(ValidationError, match="8 digits"):
        Bericht.model_validate(data)


def test_unknown_fields_are_errors_not_silently_dropped() -> None:
    data = _bericht()
    data["clients"][0]["bsnn"] = "123456782"
    with pytest.raises(ValidationError, match="bsnn"):
        Bericht.model_validate(data)


@pytest.mark.parametrize(("nummer", "ok"), [("0201234567", True), ("+31201234567", True), ("020 1234567", False),
                                             ("1234567890123456", False)])
def test_telefoonnummer_follows_ldt_telefoonnummer(nummer: str, ok: bool) -> None:
    data = _bericht(contacten=[{"soort": "01", "telefoon": [{"nummer": nummer, "landnummer": "0031"}]}])
    if ok:
        assert Bericht.model_validate(data).clients[0].contacten[0].telefoon[0].nummer == nummer
    else:
        with pytest.raises(ValidationError, match="telefoon"):
            Bericht.model_validate(data)


def _antwoord(**overrides: object) -> dict:
    """A 319: the gemeente's answer to a verzoek, named by ReferentieAanbieder alone (no client)."""
    out = {"wet": "wmo", "soort": "verzoek-antwoord", "berichtcode": "482", "versie": "3.2", "afzender": "0384",
           "ontvanger": "98026987", "identificatie": "ovs32aw0001", "dagtekening": "2023-02-24",
           "antwoord": {"referentie_aanbieder": "VZ-2023-0002", "verzoek_antwoord": "1", "reden_afwijzing": "3"}}
    out.update(overrides)
    return out


def test_a_319_carries_an_antwoord_and_no_client() -> None:
    bericht = Bericht.model_validate(_antwoord())
    assert bericht.clients == [] and bericht.antwoord is not None and bericht.antwoord.reden_afwijzing == "3"
    with pytest.raises(ValidationError, match="antwoord: required in a verzoek-antwoord message"):
        Bericht.model_validate(_antwoord(antwoord=None))
    with pytest.raises(ValidationError, match="clients: a verzoek-antwoord message names no client"):
        Bericht.model_validate(_antwoord(clients=_bericht()["clients"]))
    with pytest.raises(ValidationError, match="antwoord: only a verzoek-antwoord message carries one"):
        Bericht.model_validate({**_bericht(), "antwoord": _antwoord()["antwoord"]})


@pytest.mark.parametrize(("field", "value"), [("verzoek_antwoord", "3"), ("reden_afwijzing", "10"),
                                              ("referentie_aanbieder", "")])
def test_319_codes_are_closed_lists(field: str, value: str) -> None:
    antwoord = {**_antwoord()["antwoord"], field: value}
    with pytest.raises(ValidationError, match=f"antwoord.{field}"):
        Bericht.model_validate(_antwoord(antwoord=antwoord))


def test_a_digest_without_antwoord_is_the_one_stored_before_the_319() -> None:
    """Stored digests (replay, sidecar re-send detection) of every other message must not change with the field."""
    bericht = Bericht.model_validate(_bericht())
    assert "antwoord" not in bericht.model_dump_json(exclude={"antwoord"})
    assert bericht.digest() == hashlib.sha256(bericht.model_dump_json(exclude={"antwoord"}).encode()).hexdigest()
    assert Bericht.model_validate(_antwoord()).digest() != Bericht.model_validate(_antwoord(
        antwoord={"referentie_aanbieder": "VZ-2023-0002", "verzoek_antwoord": "2"})).digest()
