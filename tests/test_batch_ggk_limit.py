"""``overstap batch`` takes a GGk envelope up to 25 MB, as ingest, the sidecar and convert do (session 21).

Why: the batch cut every file and archive member at the 10 MB message limit before ingest could see it was a Di01,
so an envelope of 10-25 MB (GGk spec 3.2) was refused by the batch alone. Only an envelope gets 25 MB: another
message keeps 10 MB, and is not read past it.
"""

from __future__ import annotations

import base64
import json
import random
import re
import tarfile
import zipfile
from pathlib import Path

import pytest

from gateway.batch import BatchOptions, run
from gateway.batch.inputs import Inputs
from gateway.ledger import MemoryLedger
from gateway.mapping import Registry
from gateway.pipeline import Converter

TOEWIJZING = Path(__file__).parent / "fixtures" / "iwmo21" / "CasusA-02-WMO301_toewijzing.xml"
GGK_LIMIT = 25 * 1024 * 1024


def _di01(padding: int) -> bytes:
    """A Di01 of the fixture whose payload carries ``padding`` bytes of hex in a comment: ~4/3 as large enveloped.
    Hex, not one repeated letter: a ZIP deflates it ~2 times, not past the bomb check's 1,000."""
    converter = Converter(Registry(), profile="ggk", ledger=MemoryLedger(), validate=False)
    envelope = converter.convert(TOEWIJZING.read_bytes(), "a.xml").outputs[0].xml
    found = re.search(rb"(<GGK:bericht [^>]*>)([^<]*)<", envelope)
    assert found is not None
    filler = random.Random(21).randbytes(padding // 2).hex().encode()
    payload = base64.b64decode(found.group(2)).replace(b"?>", b"?><!--" + filler + b"-->", 1)
    return envelope[: found.start(2)] + base64.b64encode(payload) + envelope[found.end(2) :]


@pytest.fixture(scope="module")
def big() -> bytes:
    data = _di01(17 << 19)
    assert 11 << 20 < len(data) < GGK_LIMIT
    return data


def _batch(inputs: list[Path], out: Path) -> list[dict[str, object]]:
    outcome = run(BatchOptions(inputs, out, profile="ggk", validate=False, progress="quiet", workers=0))
    lines = [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]
    assert outcome.exit_code == (0 if all(line["status"] == "ok" for line in lines) else 1), lines
    return lines


def _zip(path: Path, name: str, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, data)
    return path


def test_an_11_mb_envelope_converts_from_a_folder_and_from_a_zip(tmp_path: Path, big: bytes) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "big.xml").write_bytes(big)
    archive = _zip(tmp_path / "big.zip", "big.xml", big)
    lines = _batch([tmp_path / "in", archive], tmp_path / "out")
    assert [(line["source"], line["status"]) for line in lines] == [("in/big.xml", "ok"), ("big.zip/big.xml", "ok")]
    assert [len(m.data) for m in Inputs([archive]).members()] == [len(big)]  # read in the parent, not deferred
    written = sorted(p for p in (tmp_path / "out").rglob("*.xml"))
    assert len(written) == 2 and all(b"Di01" in p.read_bytes()[:2000] for p in written)


def test_an_envelope_above_25_mb_is_refused_naming_the_limit(tmp_path: Path) -> None:
    huge = _di01(19 << 20)
    assert len(huge) > GGK_LIMIT
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "huge.xml").write_bytes(huge)
    archive = _zip(tmp_path / "huge.zip", "huge.xml", huge)
    lines = _batch([tmp_path / "in", archive], tmp_path / "out")
    whose = "(a GGk envelope's, GGk spec 3.2)"
    assert [(line["source"], line["status"]) for line in lines] == [("in/huge.xml", "failed"),
                                                                   ("huge.zip/huge.xml", "failed")]
    assert lines[0]["error"]["message"] == f"file is more than the limit of {GGK_LIMIT} bytes {whose}"
    assert lines[1]["error"]["message"] == f"member is {len(huge)} bytes, more than the limit of {GGK_LIMIT} {whose}"


def test_another_message_keeps_10_mb_and_is_not_read_past_it(tmp_path: Path) -> None:
    other = b"<a>" + b" " * (11 << 20) + b"</a>"
    (tmp_path / "other.xml").write_bytes(other)
    archive = _zip(tmp_path / "other.zip", "other.xml", other)
    members = list(Inputs([tmp_path / "other.xml", archive]).members())
    assert [(m.data, m.problem) for m in members] == [
        (b"", "file is more than the limit of 10485760 bytes"),
        (b"", f"member is {len(other)} bytes, more than the limit of 10485760")]


def test_a_tar_member_gets_the_envelope_limit_too(tmp_path: Path, big: bytes) -> None:
    path = tmp_path / "big.tar"
    with tarfile.open(path, "w") as tar:
        (tmp_path / "big.xml").write_bytes(big)
        tar.add(tmp_path / "big.xml", "big.xml")
        (tmp_path / "other.xml").write_bytes(b"<a>" + b" " * (11 << 20) + b"</a>")
        tar.add(tmp_path / "other.xml", "other.xml")
    members = list(Inputs([path]).members())
    assert [(len(m.data), m.problem) for m in members] == [
        (len(big), None), (0, f"member is {(11 << 20) + 7} bytes, more than the limit of 10485760")]
