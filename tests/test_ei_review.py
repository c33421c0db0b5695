"""EI flat files whose records are fine but whose start or line ends are not (session 21 review): blanks
before the voorloop and CR-only line ends are named as what they are, not as broken XML or a stray control
character."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.ingest import InputError, read
from gateway.ingest.ei_default import is_flat_file


@pytest.fixture
def sample(reference_dir: Path) -> bytes:
    return (reference_dir / "samples" / "iwmo-ei" / "CasusB-02-WMO305_start.ei").read_bytes()


def _error(data: bytes) -> InputError:
    with pytest.raises(InputError) as caught:
        read(data, "a.ei")
    return caught.value


@pytest.mark.parametrize("lead", [b"\n", b"\r\n\n", b"  "])
def test_blanks_before_the_voorloop_are_named_as_an_ei_problem_not_broken_xml(sample: bytes, lead: bytes) -> None:
    assert is_flat_file(lead + sample)
    err = _error(lead + sample)
    assert err.line == 1
    what = "is blank" if lead.endswith(b"\n") else "starts with blanks"
    assert err.message == (f"EI flat file: the first line {what}: the 01 voorloop must start at position 1 of "
                           "line 1 (remove what comes before it)")


def test_blanks_before_xml_still_make_xml() -> None:
    assert not is_flat_file(b"  \n<a/>") and not is_flat_file(b"\n\n\n")


def test_cr_only_line_ends_are_named_as_such(sample: bytes) -> None:
    err = _error(sample.replace(b"\n", b"\r"))
    assert err.line == 1
    assert err.message == ("EI flat file: a CR without LF after it at position 181: records end in LF or CRLF "
                           "(a file with CR-only line ends must be converted to LF first)")


def test_crlf_line_ends_still_read(sample: bytes) -> None:
    assert read(sample.replace(b"\n", b"\r\n"), "a.ei").format == "ei"


def test_a_sluit_count_too_long_to_quote_is_told_as_a_number(reference_dir: Path) -> None:
    lines = (reference_dir / "samples" / "iwmo-ei" / "CasusA-02-WMO301_toewijzing.ei").read_bytes().split(b"\n")
    sluit = lines[8]
    assert sluit[56:63] == b"0000007"
    lines[8] = sluit[:56] + b"1000007" + sluit[63:]
    err = _error(b"\n".join(lines))
    assert (err.line, err.field) == (9, "AantalDetailrecords")
    assert err.message == "EI flat file: AantalDetailrecords says a 7-digit number, but the file has 7 detail record(s)"
