"""The writer's memo of extraElementen as written (zkn_writer.WRITTEN) keeps no personal data.

Why: the memo lives as long as the process and is shared by every message it renders; a process-wide cache
of values was rejected for privacy. It may hold codes, dates and amounts (most extraElementen, repeated by
neighbouring messages), never a telephone number, an e-mail address, a name, a client number, an AGB or a
vendor's free text: those are checked and written anew for each message.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from writers import WRITERS, use_writer

from gateway.render import zkn_writer
from gateway.render.guard import guarding
from gateway.render.settings import Systeem
from gateway.zaken import CREEER, Operation
from gateway.zaken.registry import registered

PERSONAL = {"client.telefoonnummer": "0612345678", "client.nummer": "C123",
            "client.partnernaam": "Jansen", "verwijzer.naam": "Dr. Pieters", "verwijzer.zorgverlenercode": "01234567",
            "vendor.notitie": "vrije tekst"}
EMAIL = "a@b.nl"
"""The initiator's ROL extraElement emailadres (ZDS 1.2 4.1.4.2), written on heeftAlsInitiator, never remembered."""
CODES = {"product.code": "07A03", "product.categorie": "07", "beschikking.ingangsdatum": "20260101"}
ONCE = {"toewijzing.tijdstip": "20260102030405"}
"""A value no other message repeats (the moment of its toewijzing): written, never remembered, or an archive's
messages fill the bounded memo with them and the codes seen later are checked each time."""


def _state(extra: dict[str, str]) -> dict[str, object]:
    return {"identificatie": "0363T12345", "omschrijving": "Wmo toewijzing", "registratiedatum": "20160220",
            "attrs": {"toelichting": None, "kenmerk": None, "resultaat": None, "startdatum": "20160220",
                      "einddatumGepland": None, "einddatum": None},
            "extra": extra, "zaaktype": {"omschrijving": "Wmo", "code": "W1", "ingangsdatum": "20150101"},
            "betrokkenen": [], "initiator": {"bsn": "123456782", "geslachtsnaam": "G", "known": True,
                                             "correspondentie": None, "extra": {"emailadres": EMAIL}},
            "uitvoerende": None, "andere": []}


@pytest.mark.parametrize("writer", WRITERS)
def test_the_memo_holds_codes_and_dates_never_personal_values(reference_dir: Path, writer: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    write = use_writer(writer, monkeypatch)
    zkn_writer.WRITTEN.clear()
    with guarding():
        xml = write(Operation(CREEER, "0363T12345", state=_state({**PERSONAL, **CODES, **ONCE})), (Systeem(), "0363"),
                    (Systeem(), "0363"), "0b4c8f2e-0000-4000-8000-000000000001", "20260102030405000")
    for name, value in {**PERSONAL, **CODES, **ONCE}.items():  # every one written all the same
        assert f'<StUF:extraElement naam="{name}">{value}</StUF:extraElement>'.encode() in xml
    assert f'<StUF:extraElement naam="emailadres">{EMAIL}</StUF:extraElement>'.encode() in xml
    assert {name for _, name, _ in zkn_writer.WRITTEN} == set(CODES)


def test_every_remembered_name_is_registered_as_a_code_date_or_amount() -> None:
    types = {entry["naam"]: entry["type"] for entry in registered()}
    assert zkn_writer.REMEMBERED and set(types) >= zkn_writer.REMEMBERED
    assert not {name for name in zkn_writer.REMEMBERED if types[name] in ("text", "AGB code")}
    assert "toewijzing.tijdstip" not in zkn_writer.REMEMBERED and "product.code" in zkn_writer.REMEMBERED
    assert not {name for name in zkn_writer.REMEMBERED if "naam" in name.split(".")[-1] and "gebruik" not in name}
