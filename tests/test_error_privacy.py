"""Issue 11 item 7: errors say what is wrong without echoing personal values, and stay bounded.

Bad names, initials, phone numbers, birth dates, house numbers, postcodes and BSNs go through
``convert``, ``explain`` and a ``batch`` report; none of the values may appear in what they write.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from lxml import etree

from gateway.cli import main
from gateway.ingest import InputError, ggk, parse_xml
from gateway.ingest.ei import EiLayouts, default_layouts
from gateway.ingest.ei_default import parse_default_ei
from gateway.ingest.errors import found, shape
from gateway.mapping import ConversionError, Registry
from gateway.mapping.privacy import MAX_MESSAGE, personal, shown, unquoted
from gateway.model.checks import bsn_is_valid
from gateway.pipeline import Converter, FailureInfo, Planned, describe
from gateway.reference import reference_dir

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "mappings/examples/regie-attributes/mapping.yaml"
SAMPLE = (EXAMPLE.parent / "fixtures/toewijzing.xml").read_bytes()
HUGE = "Q" * 9000
BSN, NAME = "123456782", "Castricum"  # a BSN that passes the 11-proef (the samples' own), a surname

BAD: list[tuple[str, bytes, bytes]] = [
    ("birth date", b'geboren="23-09-1947"', b'geboren="31-02-1947"'),
    ("bsn", b'bsn="12345672"', b'bsn="12345673"'),
    ("house number", b'huisnummer="7"', b'huisnummer="7777777777777777"'),
    ("initials", b'voorletters="M.C."', b'voorletters="' + b"ZQX" * 40 + b'"'),
    ("surname", "achternaam=\"Österlè\"".encode("iso-8859-1"), b'achternaam="' + HUGE.encode() + b'"'),
]


def _value(bad: bytes) -> str:
    return bad.split(b'"')[1].decode("iso-8859-1")


def _convert_explain_and_batch(source: Path, tmp_path: Path, *mapping: str) -> tuple[Result, list[str]]:
    """``convert``, ``explain`` and ``batch`` (its folder) on ``source``: the convert result, and every text
    they write where a person could read it (terminal, report.jsonl, quarantine ``.reason`` files)."""
    runner = CliRunner()
    converted = runner.invoke(main, ["convert", str(source), *mapping, "--out", str(tmp_path / "out"),
                                     "--no-validate", "--state", "none"])
    explained = runner.invoke(main, ["explain", str(source), *mapping])
    batched = runner.invoke(main, ["batch", str(source.parent), *mapping, "--out", str(tmp_path / "batch"),
                                   "--no-validate", "--workers", "0", "--quiet", "--state", "none"])
    outputs = [converted.output, explained.output, batched.output]
    outputs += [p.read_text(encoding="utf-8", errors="replace") for p in (tmp_path / "batch").rglob("*")
                if p.is_file() and p.suffix in (".jsonl", ".reason", ".txt", ".json")]
    return converted, outputs


@pytest.mark.parametrize(("what", "good", "bad"), BAD, ids=[b[0] for b in BAD])
def test_no_personal_value_in_convert_explain_or_batch(what: str, good: bytes, bad: bytes, tmp_path: Path) -> None:
    assert good in SAMPLE
    source = tmp_path / "in" / "bad.xml"
    source.parent.mkdir()
    source.write_bytes(SAMPLE.replace(good, bad))
    value = _value(bad)
    converted, outputs = _convert_explain_and_batch(source, tmp_path, "--mapping", str(EXAMPLE))
    assert "FAIL" in converted.output, converted.output  # the message is refused ...
    assert converted.exit_code == 1
    for text in outputs:
        assert value not in text, (what, text[:2000])  # ... without its value
        assert value[:12] not in text or what == "house number", (what, text[:2000])
        assert all(len(line) < MAX_MESSAGE + 400 for line in text.splitlines())


def test_codes_may_still_be_shown_other_values_only_by_their_shape() -> None:
    assert shown("clients.0.producten.0.omvang.eenheid", "99") == "'99'"
    assert shown("clients.0.naam.naamgebruik", "7") == "'7'"  # a code, though under naam
    assert shown("clients.0.producten.0.code", "02A01") == "'02A01'"
    # a code field's value that is no code may be anything: a BSN or a name typed into the wrong column
    assert shown("clients.0.geslacht", BSN) == "9 digits"
    assert shown("clients.0.producten.0.code", NAME) == "9 letters"
    assert shown("clients.0.producten.0.ingangsdatum", "2024-13-01") == "10 characters in the form dddd-dd-dd"
    for field in ("clients.0.geboortedatum", "clients.0.naam.voorletters", "clients.0.bsn",
                  "clients.0.contacten.0.telefoon.0.nummer", "clients.0.contacten.0.adres.huisnummer",
                  "clients.0.extra.casemanager", "clients.0.naam.geslachtsnaam.naam"):
        assert personal(field), field
        assert shown(field, "7") == "1 digit"  # a personal field: the shape even of a code-like value
    assert shown("berichtcode", "9" * 500) == "500 digits"
    assert shown("clients.0.bsn", None) is None


def test_a_found_value_is_quoted_only_when_it_has_the_shape_of_a_code() -> None:
    for code in ("02A01", "414", "0384", "01", "V", "2,5", ">"):  # product code, BerichtCode, gemeente, record type
        assert found(code) == repr(code), code
    assert found(8) == "8"
    for value, shown_as in [(BSN, "9 digits"), (NAME, "9 letters"), ("12345", "5 digits"), ("BOS", "3 letters"),
                            ("1985-01-08", "10 characters in the form dddd-dd-dd"), ("", "nothing"),
                            ("Jan de Vries", "12 characters: letters and spaces"), ("Q" * 9000, "9000 letters"),
                            ("1234AB", "6 characters: letters and digits"), (123456782, "9 digits"),
                            ("   ", "3 spaces"),
                            ("n123456782", "10 characters: letters and digits")]:
        assert found(value) == shown_as, value
        assert shape(value) == shown_as, value
    assert shape("V") == "1 letter" and shape("02A01") == "5 characters: letters and digits"


# --------------------------------------------------------------------------------------------------
# EI flat files: a BSN or a name planted in any field position never comes back in the error

EI_DIR = reference_dir() / "samples" / "iwmo-ei"
EI_SAMPLES = sorted(p for p in EI_DIR.glob("*") if p.suffix in (".ei", ".txt")) if EI_DIR.is_dir() else []
NO_EI = pytest.mark.skipif(not EI_SAMPLES, reason=f"reference EI samples not found at {EI_DIR}")
_NINE = re.compile(r"(?<!\d)\d{9}(?!\d)")


def leaks(text: str, planted: str = BSN) -> list[str]:
    """What ``text`` gives away: any nine digits passing the 11-proef, and any run of five characters of the
    planted value (six for a name: "stric" is in "strict")."""
    out = [m for m in _NINE.findall(text) if bsn_is_valid(m)]
    size = 5 if planted.isdigit() else 6
    return out + [planted[i:i + size] for i in range(len(planted) - size + 1) if planted[i:i + size] in text]


def _ei_spots(line: str, layouts: EiLayouts) -> list[tuple[int, str]]:
    """(0-based position, what) where a planted value starts: the record type, the sequence number and each
    field of the record's layout, at its first position and ending at its last (a short field then holds the
    value's end, its start spilling into the fields before)."""
    msg = next(iter(layouts.messages.values()))
    rt0, rt1 = layouts.record_type
    spots = [(rt0, "record type"), (layouts.sequence[0], layouts.sequence_name)]
    for m in layouts.messages.values():
        rec = m.records.get(line[rt0:rt1])
        if rec is not None and len(line) == m.record_length:
            msg = m
            spots += [(f.start - 1, f.name) for f in rec.fields]
            spots += [(f.start + f.length - 1 - len(BSN), f.name) for f in rec.fields]
    assert msg is not None
    return sorted(set(spots))


def _planted_ei(sample: Path, layouts: EiLayouts) -> Iterator[tuple[str, str, bytes]]:
    """Every variant of ``sample`` with one field position overwritten by the BSN or the name: (what, value, data)."""
    lines = sample.read_bytes().decode("latin-1").split("\n")
    for i, line in enumerate(lines):
        body = line.rstrip("\r")
        for pos, what in _ei_spots(body, layouts):
            for value in (BSN, NAME):
                if pos < 0:
                    continue
                planted = [*lines[:i], body[:pos] + value + body[pos + len(value):] + line[len(body):], *lines[i + 1:]]
                yield f"{sample.name}:{i + 1} {what}@{pos + 1}", value, "\n".join(planted).encode("latin-1")


EI_ERRORS = ("must be numeric", "is not a valid date", "is not a valid time", "must be blank", "out of order",
             "differs from", "refers to a", "unknown record type", "unknown BerichtCode", "missing 01 voorloop",
             "must be '", "says", "more than the maximum")
"""The kinds of EI read error the plantings must reach, each of which once quoted what it found."""


@NO_EI
def test_ei_errors_never_echo_a_planted_bsn_or_name() -> None:
    layouts = default_layouts()
    reached: dict[str, int] = {}
    for sample in EI_SAMPLES:
        for what, value, data in _planted_ei(sample, layouts):
            try:
                parse_default_ei(data, "planted.ei")
                continue
            except InputError as exc:
                err = exc
            for kind in EI_ERRORS:
                reached[kind] = reached.get(kind, 0) + (kind in err.message)
            assert not leaks(str(err), value), (what, str(err))
            assert err.line, (what, err.message)  # still names the line ...
            assert err.field or re.search(r"\brecord\b|position", err.message), (what, err.message)  # ... and where
    assert all(reached.values()), reached  # the plantings do reach every kind of error


# --------------------------------------------------------------------------------------------------
# XML messages: a BSN or a name in any element (a code field too) never comes back in an error

XML_DIR = reference_dir() / "samples" / "iwmo20-xml"
XML_SAMPLES = sorted(XML_DIR.glob("*.xml")) if XML_DIR.is_dir() else []
NO_XML = pytest.mark.skipif(not XML_SAMPLES, reason=f"reference XML samples not found at {XML_DIR}")


def _planted_xml(sample: Path) -> Iterator[tuple[str, str, bytes]]:
    """Every variant of ``sample`` with the text of one leaf element replaced by the BSN or the name."""
    root = etree.fromstring(sample.read_bytes())
    leaves = [el for el in root.iter() if isinstance(el.tag, str) and len(el) == 0 and (el.text or "").strip()]
    for i, leaf in enumerate(leaves):
        for value in (BSN, NAME):
            copy = etree.fromstring(sample.read_bytes())
            target = [el for el in copy.iter() if isinstance(el.tag, str) and len(el) == 0
                      and (el.text or "").strip()][i]
            target.text = value
            yield f"{sample.name}:{leaf.sourceline} {etree.QName(leaf).localname}", value, etree.tostring(copy)


def _texts(info: FailureInfo) -> Iterator[FailureInfo]:
    yield info
    for other in info.also:
        yield from _texts(other)


@NO_XML
def test_xml_errors_never_echo_a_planted_bsn_or_name() -> None:
    converter = Converter(Registry(), profile="zkn")
    refused = 0
    for sample in XML_SAMPLES:
        for what, value, data in _planted_xml(sample):
            try:
                converter.to_model(data, "planted.xml")
                continue
            except (InputError, ConversionError) as exc:
                info = describe(exc, "planted.xml")
            refused += 1
            for one in _texts(info):
                text = f"{one.field} {one.message}"
                assert not leaks(text, value), (what, text)
                assert one.line and one.field, (what, text)  # still names the line and the field
    assert refused > 100, refused  # code, date and number fields refuse the planted values


def test_a_message_that_is_not_well_formed_is_refused_without_its_text() -> None:
    bodies = [f"<Client><Naam>&{NAME};</Naam></Client>", f"<Client><n{BSN}:Bsn>1</n{BSN}:Bsn></Client>",
              f"<Client><Bsn>{BSN}</Bsnx></Client>", f"<Client><Naam><![CDATA[{NAME} {BSN}</Naam></Client>",
              f"<Client><Bsn>{BSN}\x00</Bsn></Client>"]
    for body in bodies:
        with pytest.raises(InputError) as caught:
            parse_xml(body.encode())
        assert "not well-formed XML" in caught.value.message and caught.value.line == 1, caught.value.message
        assert not leaks(caught.value.message) and not leaks(caught.value.message, NAME), caught.value.message
    with pytest.raises(InputError, match="expecting ';'"):  # markup is still quoted
        parse_xml(b"<Client><Naam>Jansen &amp</Naam></Client>")


def test_a_malformed_ggk_envelope_is_not_quoted_near_its_text() -> None:
    for value in (BSN, NAME):
        data = f'<GGK:envelopHeenbericht-ggk_Di01 a="{value} x">'.encode()
        column = data.index(value.encode()) + 1
        error = ggk.malformed(data, InputError(f"not well-formed XML: broken, line 1, column {column}", line=1))
        assert "envelopHeenbericht-ggk_Di01" in error.message and not leaks(error.message, value), error.message
    data = b'<GGK:envelopHeenbericht-ggk_Di01 a=">'
    error = ggk.malformed(data, InputError("not well-formed XML: broken, line 1, column 37", line=1))
    assert error.message.endswith("near '>'"), error.message  # markup near the error is still shown


def _b01(line: int, at: int, text: str) -> bytes:
    """The CasusB-01 EI toewijzing (client BSN 123456782, Castricum) with ``text`` at 1-based ``at`` of ``line``."""
    lines = (EI_DIR / "CasusB-01-WMO301_toewijzing.ei").read_bytes().decode("latin-1").split("\n")
    old = lines[line - 1]
    lines[line - 1] = old[:at - 1] + text + old[at - 1 + len(text):]
    return "\n".join(lines).encode("latin-1")


EI_PLANTED = [  # what, line, position, planted text, the value that must not come back
    ("typo-bsn-in-adres", 3, 15, "0000123456728", "123456728"),  # a mistyped BSN (fails the 11-proef itself)
    ("other-bsn-in-adres", 3, 15, "0000111222333", "111222333"),  # another client's BSN: the link check
    ("name-shifted-into-a-number", 2, 57, "02Castricum ", NAME),
    ("bsn-over-the-sequence-number", 2, 3, "123456782", BSN),
    ("bsn-in-a-birth-date", 2, 49, "12345678", "12345678"),
    ("name-in-a-reserve", 2, 300, NAME, NAME),
]


@NO_EI
@pytest.mark.parametrize(("line", "at", "text", "value"), [pytest.param(*c[1:], id=c[0]) for c in EI_PLANTED])
def test_no_planted_ei_value_in_convert_explain_or_batch(line: int, at: int, text: str, value: str,
                                                          tmp_path: Path) -> None:
    source = tmp_path / "in" / "planted.ei"
    source.parent.mkdir()
    source.write_bytes(_b01(line, at, text))
    converted, outputs = _convert_explain_and_batch(source, tmp_path)
    assert converted.exit_code == 1 and f"planted.ei:{line}" in converted.output, converted.output  # refused, located
    reports = [t for t in outputs if '"error"' in t]
    assert reports and all(f'"line":{line}' in t for t in reports), outputs  # report.jsonl has the line too
    assert any(t.startswith("source: in/planted.ei") and f"line: {line}" in t for t in outputs), outputs  # .reason
    for out in outputs:
        assert not leaks(out, value), out[:2000]  # and no BSN, no planted value, anywhere


@NO_EI
def test_a_repeated_relatie_nummer_is_refused_without_the_number() -> None:
    lines = (EI_DIR / "CasusA-02-WMO301_toewijzing.ei").read_bytes().decode("latin-1").split("\n")
    relatie = lines[2][:38] + "00" + BSN + lines[2][49:]  # the 03's Nummer (positions 39-49) holding a BSN
    lines = [lines[0], lines[1], relatie, relatie, *lines[3:]]
    lines = [ln[:2] + f"{i:012d}" + ln[14:] if ln[:2] not in ("01", "99", "") else ln for i, ln in enumerate(lines)]
    with pytest.raises(InputError) as caught:
        parse_default_ei("\n".join(lines).encode("latin-1"), "twice.ei")
    assert (caught.value.line, caught.value.field) == (4, "Nummer"), str(caught.value)
    assert "the same Nummer already appeared on line 3" in caught.value.message
    assert not leaks(str(caught.value)), str(caught.value)


def test_a_full_check_tells_a_value_the_output_schema_refuses_by_its_shape(tmp_path: Path) -> None:
    """Review s18: under ``--full-check`` (and a route's ``validate: full``) the output is validated by libxml2,
    whose messages quote the value: a postcode the ZKN pattern refuses stood in convert's FAIL line and in the
    batch's report and ``.reason`` file (and would in a Fo03). The value guard of the default check never did."""
    fixture = ROOT / "tests/fixtures/iwmo21/CasusA-02-WMO301_toewijzing.xml"
    source = tmp_path / "in" / "bad.xml"
    source.parent.mkdir()
    source.write_bytes(re.sub(rb"<iwmo:Postcode>[^<]*<", b"<iwmo:Postcode>12 Castr<", fixture.read_bytes()))
    runner = CliRunner()
    converted = runner.invoke(main, ["convert", str(source), "--full-check", "--out", str(tmp_path / "out"),
                                     "--state", "none"])
    batched = runner.invoke(main, ["batch", str(source.parent), "--full-check", "--out", str(tmp_path / "batch"),
                                   "--workers", "0", "--quiet", "--state", "none"])
    written = [(tmp_path / "batch" / name).read_text(encoding="utf-8")
               for name in ("report.jsonl", "quarantine/in/bad.xml.reason")]
    assert converted.exit_code == 1 and "aoa.postcode" in converted.output, converted.output
    assert "The value (8 characters: letters, digits and spaces) is not accepted" in converted.output
    assert all("(8 characters: letters, digits and spaces)" in text for text in written)
    for text in (converted.output, batched.output, *written):
        assert "Castr" not in text and "12 C" not in text


@pytest.mark.parametrize("step", ["parse", "map_parsed", "render", "write"])
def test_a_bugs_own_text_in_a_batch_report_tells_what_it_quotes_by_its_shape(
        step: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Review s18: a bug is reported with the exception's own text, and Python quotes the value it choked on
    (``int()``, a KeyError): a name from the message stood in report.jsonl and the ``.reason`` file."""
    def broken(*_args: object, **_kwargs: object) -> None:
        raise ValueError(f"invalid literal for int() with base 10: {NAME!r}, nor {BSN}")

    if step == "write":  # the parent writes a chunk's zakLk01s after planning them all (session 32)
        monkeypatch.setattr(Planned, "write", broken)
    else:  # the bug while reading, mapping or rendering (the parent plans: the render's first half)
        monkeypatch.setattr(Converter, step, broken)
        if step == "render":
            monkeypatch.setattr(Converter, "plan", broken)
    source = tmp_path / "in" / "a.xml"
    source.parent.mkdir()
    source.write_bytes(SAMPLE)
    result = CliRunner().invoke(main, ["batch", str(source.parent), "--mapping", str(EXAMPLE), "--out",
                                       str(tmp_path / "out"), "--no-validate", "--workers", "0", "--quiet",
                                       "--state", "none"])
    written = [(tmp_path / "out" / name).read_text(encoding="utf-8") for name in ("report.jsonl",
                                                                                    "quarantine/in/a.xml.reason")]
    assert result.exit_code == 1, result.output
    for text in written:
        assert "internal error: ValueError: invalid literal for int() with base 10: (9 letters), nor (9 digits)" in text
        assert NAME not in text and BSN not in text


def test_unquoted_takes_a_quoted_value_whole() -> None:
    """What ``repr`` quotes, with a quote inside (escaped, or the other quote around it), is told whole."""
    quoted = [repr("02A01"), BSN, repr(NAME), repr("D'Souza"), repr("a\"b'c Jansen")]
    said = unquoted("KeyError: " + ", ".join(quoted))
    assert said == ("KeyError: '02A01', (9 digits), (9 letters), (7 characters: letters and other characters), "
                    "(13 characters: letters, spaces and other characters)")


def test_a_message_no_zaak_is_known_for_names_its_keys_not_its_client(tmp_path: Path) -> None:
    """StUF064 names the chain keys it looked for (the sender's own references and codes, so it can find its
    toewijzing), in the terminal, the batch report and the quarantine reason; never the client's BSN or name."""
    start = reference_dir() / "samples/iwmo20-xml/CasusB-02-WMO305_start.xml"
    if not start.is_file():
        pytest.skip(f"reference samples not at {start.parent} (OVERSTAP_REFERENCE_DIR)")
    runner = CliRunner()
    converted = runner.invoke(main, ["convert", str(start), "--out", str(tmp_path / "out"), "--state",
                                     str(tmp_path / "state")])
    batch = tmp_path / "in"
    batch.mkdir()
    (batch / start.name).write_bytes(start.read_bytes())
    runner.invoke(main, ["batch", str(batch), "--out", str(tmp_path / "batch"), "--workers", "0", "--quiet",
                         "--state", str(tmp_path / "batch-state")])
    report = (tmp_path / "batch" / "report.jsonl").read_text()
    reasons = [p.read_text() for p in (tmp_path / "batch").rglob("*.reason")]
    assert converted.exit_code == 1 and len(reasons) == 1
    for text in (converted.output, report, reasons[0]):
        assert "no zaak is known for this start (looked for product:0384:658721123:98026987:01:01A01:20160307)" \
            in text, text
        assert BSN not in text and NAME not in text and "EB" not in text.split("looked for")[1]
