"""An EI flat file's encoding is read, never guessed where the file says otherwise.

Why: a UTF-8 byte-order mark declares the encoding; bytes after it that are not UTF-8 were read as ISO-8859-1
without a word, so a damaged name became another name. A file that mixes UTF-8 sequences with bytes that are
not UTF-8 was read the same way, turning its UTF-8 letters into two letters each. Both are now an error
that names the line and byte and what was expected, never the value (a name, a BSN). A file without a BOM
whose non-ASCII bytes are no UTF-8 at all is still the ISO-8859-1 the layouts assume (dialects/ei/README.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_registry import shared_registry

from gateway.ingest import InputError
from gateway.pipeline import Converter

BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="module")
def sample(reference_dir: Path) -> bytes:
    """A public 301 in EI; its client's name on line 2 starts at byte 60 (notes/ei-flat-format.md 3a)."""
    data = (reference_dir / "samples" / "iwmo-ei" / "CasusA-04-WMO301_intrekking.ei").read_bytes()
    assert data.split(b"\n")[1][59:66] == b"Gaastra"
    return data


def name_of(data: bytes) -> str:
    return Converter(shared_registry()).to_model(data, "x.ei")[2].bericht.clients[0].naam.geslachtsnaam.naam


def test_a_bom_then_bytes_that_are_not_utf8_is_an_error(sample: bytes) -> None:
    data = BOM + sample.replace(b"Gaastra", b"Gaastr\xe1", 1)  # ISO-8859-1 "a acute" after a UTF-8 BOM
    with pytest.raises(InputError) as caught:
        Converter(shared_registry()).to_model(data, "x.ei")
    error = caught.value
    assert error.line == 2
    offset = 3 + 311 + 65
    assert error.message == (f"EI flat file: not valid UTF-8 at line 2, byte 66 (file offset {offset}): invalid "
                             "continuation byte; the byte-order mark at the start declares UTF-8, so every byte "
                             "after it must be UTF-8")
    assert "Gaastr" not in str(error)


def test_a_bom_then_utf8_reads_the_letter(sample: bytes) -> None:
    assert name_of(BOM + sample.replace(b"Gaastra", b"Gaastr\xc3\xa1", 1)) == "Gaastr\u00e1"


def test_utf8_mixed_with_other_bytes_is_an_error(sample: bytes) -> None:
    data = sample.replace(b"Gaastra", b"Gaastr\xe1", 1).replace(b"Mistral ", b"Mistr\xc3\xa9l", 1)
    with pytest.raises(InputError) as caught:
        Converter(shared_registry()).to_model(data, "x.ei")
    assert caught.value.line == 2
    assert caught.value.message == ("EI flat file: mixes encodings: a UTF-8 sequence at line 3, byte 78 and a byte "
                                    "that is not UTF-8 at line 2, byte 66 (file offset 376, invalid continuation "
                                    "byte); expected one encoding, UTF-8 (best with a byte-order mark) or ISO-8859-1")


def test_without_a_bom_bytes_that_are_no_utf8_at_all_are_iso_8859_1(sample: bytes) -> None:
    assert name_of(sample.replace(b"Gaastra", b"Gaastr\xe1", 1)) == "Gaastr\u00e1"


def test_a_utf16_file_cut_in_a_character_names_the_line(sample: bytes) -> None:
    data = (BOM.decode("utf-8") + sample.decode("ascii")).encode("utf-16-le")[:-1]  # half of the final line end
    with pytest.raises(InputError) as caught:
        Converter(shared_registry()).to_model(data, "x.ei")
    assert caught.value.message.startswith("EI flat file: not valid utf-16-le at line 9 (file offset ")
    assert caught.value.message.endswith(": truncated data; its byte-order mark or first character declares "
                                         "utf-16-le")
