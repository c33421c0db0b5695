"""Hostile and broken input at the front door (issue 11, items 1, 6 and 12): every attack is built here,
run through ingest, the Converter or the real ``overstap convert`` process, and must end in a clear
refusal, in bounded time, without opening anything the message names.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from gateway.ingest import InputError, read
from gateway.ingest.xml import DTD_REFUSED, _parser, parse_xml
from gateway.pipeline import Converter, describe

FIXTURES = Path(__file__).parent / "fixtures"
TOEWIJZING = (FIXTURES / "iwmo21" / "CasusA-02-WMO301_toewijzing.xml").read_bytes()
PAYLOAD = TOEWIJZING.split(b"?>", 1)[1].lstrip()
SOAP = b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">%s</s:Envelope>'
OVERSTAP = [sys.executable, "-c", "from gateway.cli import main; main()"]


def _doctype(system: str) -> str:
    return f'<!DOCTYPE x SYSTEM "{system}">'


# -- item 1: a DOCTYPE wherever it sits, in whatever encoding -------------------------------------------------

PLACEMENTS = {
    "after-4096-bytes": lambda d: ('<?xml version="1.0"?>\n<!--' + "x" * 5000 + "-->\n" + d + "<x/>").encode(),
    "after-64k-of-whitespace": lambda d: ("\n" * 70000 + d + "<x/>").encode(),
    "utf-8-bom": lambda d: b"\xef\xbb\xbf" + (d + "<x/>").encode(),
    "utf-16-le-bom": lambda d: ('<?xml version="1.0" encoding="UTF-16"?>' + d + "<x/>").encode("utf-16"),
    "utf-16-be-bom": lambda d: b"\xfe\xff" + ('<?xml version="1.0" encoding="UTF-16"?>' + d + "<x/>").encode(
        "utf-16-be"),
    "utf-16-le-no-bom": lambda d: ('<?xml version="1.0" encoding="UTF-16"?>' + d + "<x/>").encode("utf-16-le"),
    "utf-16-after-4096": lambda d: ("<?xml version='1.0' encoding='UTF-16'?><!--" + "y" * 4000 + "-->" + d
                                    + "<x/>").encode("utf-16"),
    "utf-32-le-bom": lambda d: ('<?xml version="1.0" encoding="UTF-32"?>' + d + "<x/>").encode("utf-32"),
    "utf-32-be-no-bom": lambda d: ('<?xml version="1.0" encoding="UTF-32"?>' + d + "<x/>").encode("utf-32-be"),
    "latin-1-declared": lambda d: ('<?xml version="1.0" encoding="ISO-8859-1"?>' + d + "<x>\xe9</x>").encode(
        "latin-1"),
    "entity-only": lambda d: b'<?xml version="1.0"?>\n<x>&a;</x><!ENTITY a "b">',
}


@pytest.mark.parametrize("place", sorted(PLACEMENTS))
def test_a_doctype_is_refused_wherever_it_sits(place: str) -> None:
    data = PLACEMENTS[place](_doctype("/etc/passwd"))
    with pytest.raises(InputError) as caught:
        parse_xml(data, "m.xml")
    assert caught.value.message == DTD_REFUSED
    assert caught.value.source == "m.xml" and caught.value.line is not None


def test_the_refusal_is_no_oracle_for_local_files(tmp_path: Path) -> None:
    """The text (and the Fo03 fault built from it) is the same whether the named file exists or not."""
    existing = tmp_path / "there.dtd"
    existing.write_text('<!ELEMENT x ANY>')
    converter = Converter()
    texts = []
    for target in (str(existing), str(tmp_path / "absent.dtd")):
        data = PLACEMENTS["after-4096-bytes"](_doctype(target))
        with pytest.raises(InputError) as caught:
            converter.convert(data, "m.xml")
        texts.append(str(describe(caught.value, "m.xml")))
    assert texts[0] == texts[1]
    assert DTD_REFUSED in texts[0] and str(tmp_path) not in texts[0]


_PARSE_ALONE = """
import sys
from lxml import etree
from gateway.ingest.xml import _parser
target = sys.argv[1]
outcomes = []
for system in (target, "/dev/stdin", "/proc/self/fd/0"):
    root = etree.fromstring(('<!DOCTYPE x SYSTEM "%s"><x>&e;</x>' % system).encode(), _parser())
    outcomes.append(root.getroottree().docinfo.doctype != "")
print("parsed", outcomes)
"""


def test_the_parser_itself_opens_no_file_fifo_or_stdin(tmp_path: Path) -> None:
    """Past the pre-scan (called directly), the parser must still open nothing: a FIFO without a writer
    and a stdin that never ends would block it forever if it did."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with subprocess.Popen([sys.executable, "-c", _PARSE_ALONE, str(fifo)], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            out, err = proc.communicate(timeout=60)  # stdin stays open: reading it would never end
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the parser opened the external subset (FIFO or stdin) and hung")
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == "parsed [True, True, True]"


def test_the_parser_itself_answers_alike_for_present_and_absent_files(tmp_path: Path) -> None:
    present = tmp_path / "p.dtd"
    present.write_text('<!ENTITY e "secret">')
    results = []
    for system in (present, tmp_path / "absent.dtd"):
        root = etree.fromstring(f'<!DOCTYPE x SYSTEM "{system}"><x>&e;</x>'.encode(), _parser())
        results.append(etree.tostring(root))
    assert results[0] == results[1] == b"<x>&e;</x>"


def test_convert_on_stdin_with_a_doctype_naming_stdin_ends(tmp_path: Path) -> None:
    data = PLACEMENTS["after-4096-bytes"](_doctype("/dev/stdin"))
    done = subprocess.run([*OVERSTAP, "convert", "/dev/stdin", "--out", str(tmp_path / "out"), "--no-validate"],
                          input=data, capture_output=True, timeout=120)
    assert done.returncode == 1, done.stderr.decode()
    assert done.stdout.decode().startswith("FAIL /dev/stdin:")
    assert DTD_REFUSED in done.stdout.decode()
    assert list((tmp_path / "out").iterdir()) == []


def test_convert_reads_stdin_only_up_to_the_limit(tmp_path: Path) -> None:
    big = b"<x>" + b"a" * (10 * 1024 * 1024) + b"</x>"
    done = subprocess.run([*OVERSTAP, "convert", "/dev/stdin", "--out", str(tmp_path / "out"), "--no-validate"],
                          input=big, capture_output=True, timeout=120)
    assert done.returncode == 1
    # read up to a GGk envelope's 25 MB at most; a message that is no envelope is then held to 10 MB
    assert "/dev/stdin: message is 10485767 bytes, more than the limit of 10485760" in done.stdout.decode()
    with open("/dev/zero", "rb") as zero:
        endless = subprocess.run([*OVERSTAP, "convert", "/dev/stdin", "--out", str(tmp_path / "out"),
                                  "--no-validate"], stdin=zero, capture_output=True, timeout=120)
    assert "/dev/stdin: message is more than the limit of 26214400 bytes" in endless.stdout.decode()


def test_a_doctype_inside_a_ggk_payload_is_refused_too() -> None:
    inner = PLACEMENTS["utf-16-le-bom"](_doctype("/etc/passwd"))
    envelope = read_ggk_envelope(base64.b64encode(inner))
    with pytest.raises(InputError) as caught:
        read(envelope, "e.xml")
    assert DTD_REFUSED in caught.value.message and caught.value.field == "parameters.bericht"


VERSIONS = "".join(f"<GGK:{name}>0001</GGK:{name}>" for name in ("applicatieVersie", "applicatieSubversie",
                                                                   "functieVersie", "functieSubversie"))
"""Verplicht in a Di01 (GGk spec 3.2): without them the envelope is refused before its payload is read."""


def read_ggk_envelope(encoded: bytes) -> bytes:
    stuur = "".join(f"<StUF:{k}>{v}</StUF:{k}>" for k, v in (
        ("berichtcode", "Di01"), ("referentienummer", "0e09a81f-64a0-4793-b946-d6538fb3f37e"),
        ("tijdstipBericht", "20240101120000"), ("functie", "x")))
    party = "<StUF:organisatie>o</StUF:organisatie><StUF:applicatie>a</StUF:applicatie>"
    stuur = stuur.replace("<StUF:referentienummer>", f"<StUF:zender>{party}</StUF:zender>"
                          f"<StUF:ontvanger>{party}</StUF:ontvanger><StUF:referentienummer>")
    return ('<GGK:envelopHeenbericht-ggk_Di01 xmlns:GGK="http://www.stufstandaarden.nl/sectormodel/ggk/0210" '
            'xmlns:StUF="http://www.egem.nl/StUF/StUF0301">'
            f"<GGK:stuurgegevens>{stuur}</GGK:stuurgegevens><GGK:parameters>{VERSIONS}<GGK:bericht>"
            f"{encoded.decode()}</GGK:bericht></GGK:parameters></GGK:envelopHeenbericht-ggk_Di01>").encode()


def test_an_unsupported_declared_encoding_is_refused_not_guessed() -> None:
    with pytest.raises(InputError) as caught:
        parse_xml(b'<?xml version="1.0" encoding="EBCDIC-CP-US"?><x/>', "m.xml")
    assert "encoding 'EBCDIC-CP-US' is not supported" in caught.value.message


def test_utf16_xml_without_a_doctype_still_parses() -> None:
    root = parse_xml(('<?xml version="1.0" encoding="UTF-16"?>\n<x>\u00e9\u00eb</x>').encode("utf-16"))
    assert root.text == "\u00e9\u00eb" and root.sourceline == 2


# -- item 6: one SOAP envelope, one message --------------------------------------------------------------------


def _second_root_line(data: bytes) -> int:
    """The line where the second copy of the payload's root element opens."""
    second = [m.start() for m in re.finditer(rb"<wmo301:Bericht[\s>]", data)][1]
    return data[:second].count(b"\n") + 1


def test_a_soap_body_with_two_messages_is_refused_not_half_converted() -> None:
    data = SOAP % (b"<s:Body>" + PAYLOAD + PAYLOAD + b"</s:Body>")
    with pytest.raises(InputError) as caught:
        Converter().convert(data, "two.xml")
    assert caught.value.message == "SOAP Body holds 2 messages: expected exactly one per envelope"
    assert caught.value.field == "Body" and caught.value.line == _second_root_line(data)


def test_two_soap_bodies_are_refused() -> None:
    data = SOAP % (b"<s:Body>" + PAYLOAD + b"</s:Body>\n<s:Body>" + PAYLOAD + b"</s:Body>")
    with pytest.raises(InputError) as caught:
        read(data, "two.xml")
    assert caught.value.message == "SOAP envelope with 2 Body elements: expected exactly one"
    assert caught.value.line == data[: data.rfind(b"<s:Body>")].count(b"\n") + 1


def test_convert_reports_the_two_message_envelope_as_failed(tmp_path: Path) -> None:
    path = tmp_path / "two.xml"
    path.write_bytes(SOAP % (b"<s:Body>" + PAYLOAD + PAYLOAD + b"</s:Body>"))
    done = subprocess.run([*OVERSTAP, "convert", str(path), "--out", str(tmp_path / "out"), "--no-validate"],
                          capture_output=True, timeout=120)
    assert done.returncode == 1
    second = _second_root_line(path.read_bytes())
    assert f"FAIL {path}:{second}: Body: SOAP Body holds 2 messages" in done.stdout.decode()
    assert list((tmp_path / "out").iterdir()) == []


def test_one_message_in_soap_still_converts() -> None:
    result = Converter().convert(SOAP % (b"<s:Body>" + PAYLOAD + b"</s:Body>"), "one.xml")
    assert result.source.envelopes == ["soap11"] and len(result.outputs) == 1


# -- item 12: convert never overwrites an output of the same run ----------------------------------------------


def test_convert_keeps_both_outputs_with_one_name(tmp_path: Path) -> None:
    for name in ("a.xml", "b.xml"):
        (tmp_path / name).write_bytes(TOEWIJZING)  # the same message twice: the same output name
    out = tmp_path / "out"
    # profile ggk: each conversion is a new envelope (new UUID) with the same file name; in zkn the second would
    # be "no change" against the ledger and write nothing
    done = subprocess.run([*OVERSTAP, "convert", str(tmp_path / "a.xml"), str(tmp_path / "b.xml"), "--out",
                           str(out), "--no-validate", "--profile", "ggk", "--state", "none"],
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    files = sorted((p.name for p in out.iterdir()), key=len)
    assert len(files) == 2 and files[1] == files[0][:-4] + "-2.xml"
    first, second = ((out / f).read_bytes() for f in files)
    assert first != second and b"<StUF:referentienummer>" in first
    assert f"-> {files[1]}" in done.stdout.decode().splitlines()[1]


def test_convert_does_not_follow_a_symlink_out_of_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    secret = tmp_path / "secret.xml"
    secret.write_bytes(TOEWIJZING)
    (folder / "link.xml").symlink_to(secret)
    (folder / "sub").symlink_to(tmp_path)
    done = subprocess.run([*OVERSTAP, "convert", str(folder), "--out", str(tmp_path / "out"), "--no-validate"],
                          capture_output=True, timeout=120)
    assert done.returncode == 0
    assert sorted(done.stdout.decode().splitlines()) == [  # named as not read, not converted and not silent
        f"skip {folder / 'link.xml'}: symbolic link: not followed inside a folder input",
        f"skip {folder / 'sub'}: symbolic link: not followed inside a folder input",
    ]
    assert not list((tmp_path / "out").iterdir())


# -- item 12: EI flat files in UTF-8 and UTF-16 ---------------------------------------------------------------


def _ei_with_accent(reference_dir: Path) -> str:
    """A public EI sample with the client's surname given an accented letter (one character, one position)."""
    text = (reference_dir / "samples" / "iwmo-ei" / "CasusA-02-WMO301_toewijzing.ei").read_bytes().decode("ascii")
    assert "Gaastra " in text
    return text.replace("Gaastra ", "G\u00e1\u00e4stra ", 1)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_ei_files_are_read_in_any_unicode_encoding_without_mojibake(reference_dir: Path, encoding: str) -> None:
    text = _ei_with_accent(reference_dir)
    expected = read(text.encode("latin-1"), "a.ei")
    source = read(text.encode(encoding), "a.ei")
    assert source.format == "ei"
    assert source.root.findtext("Client/Geslachtsnaam") == "G\u00e1\u00e4stra"
    assert etree.tostring(source.root) == etree.tostring(expected.root)


def test_an_ei_character_outside_latin_1_is_named_with_its_line(reference_dir: Path) -> None:
    text = _ei_with_accent(reference_dir).replace("G\u00e1", "G\u0142", 1)
    with pytest.raises(InputError) as caught:
        read(text.encode("utf-16"), "a.ei")
    assert caught.value.message == ("EI flat file: character U+0142 cannot be written in the ISO-8859-1 "
                                    "the EI layouts use")
    assert caught.value.line == 2


def test_the_sidecar_conversion_refuses_a_two_message_body_too() -> None:
    """The check sits in ingest, so the sidecar's conversion step (which answers Bv03 or Fo03) gets it."""
    from gateway.proxy.converting import convert_message

    converted = convert_message(Converter(), "route", "route", SOAP % (b"<s:Body>" + PAYLOAD + PAYLOAD + b"</s:Body>"))
    assert converted.outputs is None and converted.failure is not None
    assert converted.failure.message == "SOAP Body holds 2 messages: expected exactly one per envelope"


def _packed(kind: str, tmp_path: Path) -> bytes:
    """``TOEWIJZING`` packed as ``kind``, by the standard library's own writers (a tar member named with digits,
    as a folder of years is, so its first byte would read as an EI flat file's)."""
    import bz2
    import gzip
    import io
    import lzma
    import tarfile
    import zipfile

    buffer = io.BytesIO()
    if kind in ("a ZIP archive", "an empty ZIP archive"):
        with zipfile.ZipFile(buffer, "w") as zf:
            if kind == "a ZIP archive":
                zf.writestr("a.xml", TOEWIJZING)
        return buffer.getvalue()
    if kind == "a tar archive":
        with tarfile.open(fileobj=buffer, mode="w") as tf:
            info = tarfile.TarInfo("2016/a.xml")
            info.size = len(TOEWIJZING)
            tf.addfile(info, io.BytesIO(TOEWIJZING))
        return buffer.getvalue()
    return {"a gzip file": gzip.compress, "a bzip2 file": bz2.compress, "an xz file": lzma.compress}[kind](TOEWIJZING)


@pytest.mark.parametrize("kind", ["a ZIP archive", "an empty ZIP archive", "a tar archive", "a gzip file",
                                  "a bzip2 file", "an xz file"])
def test_an_archive_given_as_a_message_is_named_as_one(tmp_path: Path, kind: str) -> None:
    """Session 24: ``convert in.zip`` (and a ZIP inside a batch's ZIP) was refused as "not well-formed XML: Start
    tag expected, '<' not found", a tar of digit-named members as a broken EI file: the operator looked for a
    fault in a message. Now it says what the file is and what is expected."""
    said = (f"{kind}, not a message: expected an XML message or an EI flat file (only `overstap batch` unpacks "
            "archives, those it is given, not one inside another)")
    with pytest.raises(InputError) as err:
        read(_packed(kind, tmp_path), "in")
    assert (err.value.message, err.value.code, err.value.line) == (said, "StUF055", None)
    path = tmp_path / "in.bin"
    path.write_bytes(_packed(kind, tmp_path))
    done = subprocess.run([*OVERSTAP, "convert", "--state", "none", str(path), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout, done.stderr) == (1, f"FAIL {path}: {said}\n", "")
