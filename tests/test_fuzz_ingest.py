"""Fuzzing ingest (XML, EI, archives) and the mapping engine: bad input may only fail the documented way.

Documented failures are :data:`gateway.pipeline.FAILURES` and ``MappingError`` for a message, and a
member with a ``problem`` for an archive; anything else (a KeyError, an IndexError, a lxml error that
escapes) is an internal error and fails the run here. In CI the run is derandomised and short; set
``OVERSTAP_FUZZ_EXAMPLES`` (e.g. 5000) for a longer, randomised run.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tarfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from gateway import reference
from gateway.batch.inputs import Inputs
from gateway.ingest import InputError, read
from gateway.mapping import MappingError
from gateway.pipeline import FAILURES, Converter

LONG = int(os.environ.get("OVERSTAP_FUZZ_EXAMPLES", "0"))
settings.register_profile("fuzz-ci", derandomize=True, max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("fuzz-long", derandomize=False, max_examples=max(LONG, 1), deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FUZZ = settings.get_profile("fuzz-long" if LONG else "fuzz-ci")
ALLOWED = (*FAILURES, MappingError)

FIXTURES = Path(__file__).parent / "fixtures"
MESSAGES = [p.read_bytes() for p in sorted((FIXTURES / "iwmo21").glob("*.xml"))
            + sorted((FIXTURES / "ijw32").rglob("*.xml"))[:3]]
EI_DIR = reference.reference_dir() / "samples" / "iwmo-ei"
EI_MESSAGES = sorted(p.read_bytes() for p in EI_DIR.glob("*.ei")) if EI_DIR.is_dir() else []
CONVERTER = Converter()


def convert_or_refuse(data: bytes) -> None:
    with contextlib.suppress(ALLOWED):
        CONVERTER.convert(data, "fuzz.xml")


@st.composite
def mutated(draw: st.DrawFn, corpus: list[bytes]) -> bytes:
    """A real message with a few byte-level edits: flips, insertions, deletions or a cut."""
    data = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "cut", "splice"]))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at: at + draw(st.integers(1, 32))]
        elif kind == "cut":
            del data[at:]
        else:
            data[at:at] = draw(st.sampled_from([b"<!DOCTYPE x>", b"&amp;", b"<![CDATA[x]]>", b"\xef\xbb\xbf",
                                                b"<a:b xmlns:a='urn:x'/>", b"</x>", b"\x00", b"\r\n"]))
    return bytes(data)


@st.composite
def revalued(draw: st.DrawFn) -> bytes:
    """A real message whose leaf values are replaced by arbitrary text: the mapping engine's input space."""
    root = etree.fromstring(draw(st.sampled_from(MESSAGES)))
    leaves = [el for el in root.iter() if isinstance(el.tag, str) and len(el) == 0]
    for el in draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=6)):
        el.text = draw(st.one_of(
            st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=40),
            st.from_regex(r"\A[0-9]{0,12}\Z"), st.sampled_from(["", " ", "0", "-1", "99999999", "2016-02-30",
                                                                 "20161315", "1e9", "NaN", "ja", "nee"])))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@FUZZ
@given(st.binary(max_size=512))
def test_any_bytes_are_read_or_refused_as_input_errors(data: bytes) -> None:
    with contextlib.suppress(InputError):
        read(data, "fuzz")


@FUZZ
@given(mutated(MESSAGES))
def test_mutated_xml_messages_convert_or_fail_as_documented(data: bytes) -> None:
    convert_or_refuse(data)


@FUZZ
@given(revalued())
def test_arbitrary_values_through_the_mapping_engine_fail_as_documented(data: bytes) -> None:
    convert_or_refuse(data)


@pytest.mark.skipif(not EI_MESSAGES, reason=f"reference EI samples not found at {EI_DIR}")
@FUZZ
@given(st.data())
def test_mutated_ei_files_convert_or_fail_as_documented(data: st.DataObject) -> None:
    message = data.draw(mutated(EI_MESSAGES))
    if data.draw(st.booleans()):
        message = message.decode("latin-1").encode(data.draw(st.sampled_from(["utf-8", "utf-16", "utf-32-be"])))
    convert_or_refuse(message)


def _zip_of(messages: list[bytes], method: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for i, data in enumerate(messages):
            zf.writestr(f"m{i}.xml", data)
    return buf.getvalue()


def _tar_of(messages: list[bytes], mode: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for i, data in enumerate(messages):
            info = tarfile.TarInfo(f"m{i}.xml")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


ARCHIVES = {
    "a.zip": [_zip_of(MESSAGES[:3], zipfile.ZIP_DEFLATED), _zip_of(MESSAGES[:2], zipfile.ZIP_BZIP2),
              _zip_of(MESSAGES[:2], zipfile.ZIP_STORED)],
    "a.tar.gz": [_tar_of(MESSAGES[:3], "w:gz")],
    "a.tar": [_tar_of(MESSAGES[:2], "w")],
    "a.tar.xz": [_tar_of(MESSAGES[:2], "w:xz")],
}


@FUZZ
@given(st.data())
def test_damaged_archives_give_members_or_problems_never_exceptions(tmp_path_factory: pytest.TempPathFactory,
                                                                    data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(ARCHIVES)))
    archive = data.draw(mutated(ARCHIVES[name]))
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(archive)
    found = list(Inputs([path], max_bytes=64 * 1024).members())
    assert found, "even an unreadable archive gets a line"
    for member in found:
        assert re.match(re.escape(name) + r"(/|\Z)", member.key)
        assert member.problem is None or member.data == b""
