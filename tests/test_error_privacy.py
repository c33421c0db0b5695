"""Issue 11 item 7: errors say what is wrong without echoing personal values, and stay bounded.

Bad names, initials, phone numbers, birth dates, house numbers, postcodes and BSNs go through
``convert``, ``explain`` and a ``batch`` report; none of the values may appear in what they write.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.mapping.privacy import MAX_MESSAGE, personal, shown

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "mappings/examples/regie-attributes/mapping.yaml"
SAMPLE = (EXAMPLE.parent / "fixtures/toewijzing.xml").read_bytes()
HUGE = "Q" * 9000

BAD: list[tuple[str, bytes, bytes]] = [
    ("birth date", b'geboren="23-09-1947"', b'geboren="31-02-1947"'),
    ("bsn", b'bsn="12345672"', b'bsn="12345673"'),
    ("house number", b'huisnummer="7"', b'huisnummer="7777777777777777"'),
    ("initials", b'voorletters="M.C."', b'voorletters="' + b"ZQX" * 40 + b'"'),
    ("surname", "achternaam=\"Österlè\"".encode("iso-8859-1"), b'achternaam="' + HUGE.encode() + b'"'),
]


def _value(bad: bytes) -> str:
    return bad.split(b'"')[1].decode("iso-8859-1")


@pytest.mark.parametrize(("what", "good", "bad"), BAD, ids=[b[0] for b in BAD])
def test_no_personal_value_in_convert_explain_or_batch(what: str, good: bytes, bad: bytes, tmp_path: Path) -> None:
    assert good in SAMPLE
    source = tmp_path / "in" / "bad.xml"
    source.parent.mkdir()
    source.write_bytes(SAMPLE.replace(good, bad))
    value = _value(bad)
    runner = CliRunner()
    outputs = []
    converted = runner.invoke(main, ["convert", str(source), "--mapping", str(EXAMPLE), "--out",
                                     str(tmp_path / "out"), "--no-validate"])
    outputs.append(converted.output)
    explained = runner.invoke(main, ["explain", str(source), "--mapping", str(EXAMPLE)])
    outputs.append(explained.output)
    batched = runner.invoke(main, ["batch", str(source.parent), "--mapping", str(EXAMPLE), "--out",
                                   str(tmp_path / "batch"), "--no-validate", "--workers", "0", "--quiet"])
    outputs.append(batched.output)
    outputs += [p.read_text(encoding="utf-8", errors="replace") for p in (tmp_path / "batch").rglob("*")
                if p.is_file() and p.suffix in (".jsonl", ".reason", ".txt", ".json")]
    assert "FAIL" in converted.output, converted.output  # the message is refused ...
    assert converted.exit_code == 1
    for text in outputs:
        assert value not in text, (what, text[:2000])  # ... without its value
        assert value[:12] not in text or what == "house number", (what, text[:2000])
        assert all(len(line) < MAX_MESSAGE + 400 for line in text.splitlines())


def test_codes_and_care_dates_may_still_be_shown() -> None:
    assert shown("clients.0.producten.0.omvang.eenheid", "99") == "'99'"
    assert shown("clients.0.naam.naamgebruik", "7") == "'7'"  # a code, though under naam
    assert shown("clients.0.producten.0.ingangsdatum", "2024-13-01") == "'2024-13-01'"
    for field in ("clients.0.geboortedatum", "clients.0.naam.voorletters", "clients.0.bsn",
                  "clients.0.contacten.0.telefoon.0.nummer", "clients.0.contacten.0.adres.huisnummer",
                  "clients.0.extra.casemanager", "clients.0.naam.geslachtsnaam.naam"):
        assert personal(field), field
        assert shown(field, "x") is None
    assert len(shown("berichtcode", "9" * 500) or "") < 50
