"""A mixed message corpus for the batch tests, and real archives (folder, .zip, .tar.gz) made from it.

Good members are the public 2.0 XML and EI samples (read from the reference folder at test time),
every XML fixture of the project, SOAP-wrapped and StUF-GGk-enveloped messages; broken members each
carry the reason the batch must give for them; OS litter must be skipped and not reported.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import tarfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.batch.inputs import member_bytes
from gateway.model import bsn_is_valid
from gateway.pipeline import Converter

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_DIRS = ("iwmo21", "iwmo32", "ijw21", "ijw32")
SOAP11 = (b'<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
          b"<soap:Body>%s</soap:Body></soap:Envelope>")


@dataclass
class Corpus:
    files: dict[str, bytes] = field(default_factory=dict)
    good: set[str] = field(default_factory=set)
    broken: dict[str, str] = field(default_factory=dict)
    """Relative path -> a phrase the failure reason must contain."""
    junk: set[str] = field(default_factory=set)

    def add(self, path: str, data: bytes, reason: str | None = None) -> None:
        self.files[path] = data
        if reason is None:
            self.good.add(path)
        else:
            self.broken[path] = reason


def holds(members: list, marker: bytes) -> bool:
    """Whether a chunk's members hold ``marker``: read as its worker reads them (a ZIP member travels unread)."""
    return any(marker in member_bytes(data, 1 << 30)[0] for _, data, _, _ in members)


def _payload(xml: bytes) -> bytes:
    return xml.split(b"?>", 1)[1].lstrip() if xml.startswith(b"<?xml") else xml


def build(reference: Path) -> Corpus:
    corpus = Corpus()
    samples = reference / "samples"
    for path in sorted((samples / "iwmo20-xml").glob("*.xml")):
        corpus.add(f"2016/xml/{path.name}", path.read_bytes())
    for path in sorted((samples / "iwmo-ei").iterdir()):
        corpus.add(f"2016/ei/{path.name}", path.read_bytes())
    for folder in FIXTURE_DIRS:
        for path in sorted((FIXTURES / folder).rglob("*.xml")):
            corpus.add(f"fixtures/{folder}/{path.relative_to(FIXTURES / folder)}", path.read_bytes())
    toewijzing = (samples / "iwmo20-xml" / "CasusA-02-WMO301_toewijzing.xml").read_bytes()
    verzoek = (FIXTURES / "iwmo21" / "CasusA-01-WMO315_verzoek.xml").read_bytes()
    corpus.add("transport/soap/toewijzing.xml", SOAP11 % _payload(toewijzing))
    ggk = Converter(profile="ggk")
    corpus.add("transport/ggk/toewijzing-di01.xml", ggk.convert(toewijzing, "toewijzing").outputs[0].xml)
    corpus.add("transport/ggk/verzoek-di01.xml", ggk.convert(verzoek, "verzoek").outputs[0].xml)

    assert not bsn_is_valid("123456789")
    corpus.add("broken/bad-bsn.xml", toewijzing.replace(b"<wmo301:Bsn>123456782<", b"<wmo301:Bsn>123456789<"),
               "11-proef")
    corpus.add("broken/not-xml.xml", b"Dit is geen bericht.\n", "not well-formed XML")
    corpus.add("broken/unknown-dialect.xml",
               b'<?xml version="1.0"?>\n<Bericht xmlns="urn:example:unknown"><Header/></Bericht>\n', "unknown dialect")
    corpus.add("broken/truncated.xml", toewijzing[: len(toewijzing) // 2], "not well-formed XML")
    corpus.add("broken/empty.xml", b"", "empty input")
    corpus.add("broken/doctype.xml", b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "b">]>\n<x>&a;</x>\n', "DOCTYPE")
    corpus.add("broken/short-record.ei", b"01414garbage\n", "EI flat file")
    corpus.files[".DS_Store"] = b"\0\0\0\1Bud1"
    corpus.files["__MACOSX/2016/._CasusA.xml"] = b"\0\5\26\7"
    corpus.junk = {".DS_Store", "__MACOSX/2016/._CasusA.xml"}
    return corpus


def write_folder(corpus: Corpus, root: Path) -> Path:
    for rel, data in corpus.files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def write_zip(corpus: Corpus, path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("2016/", b"")  # a directory entry, which is no member
        for rel, data in corpus.files.items():
            zf.writestr(rel, data)
    return path


def write_tar(corpus: Corpus, path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for rel, data in corpus.files.items():
            info = tarfile.TarInfo(f"./{rel}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


PER_RENDERING = re.compile(rb"(<StUF:(?:referentienummer|tijdstipBericht)>)[^<]*(<)")


def stable(data: bytes) -> bytes:
    """Output bytes without what profile zkn v2 makes new for every rendering (StUF 03.01 4.4.3, 4.3.2): a
    UUID referentienummer and the creation time; two runs over the same input agree on everything else."""
    return PER_RENDERING.sub(rb"\g<1>*\g<2>", data)


def tree(root: Path, skip: tuple[str, ...] = (".journal.jsonl", "summary.json")) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> :func:`stable` bytes), without the journal and the
    timing-bearing summary."""
    return {p.relative_to(root).as_posix(): stable(p.read_bytes()) for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).as_posix() not in skip}


def archive_tree(path: Path) -> dict[str, bytes]:
    """The members of an output archive, as :func:`tree` gives a folder (summary left out)."""
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            assert zf.testzip() is None
            return {n: stable(zf.read(n)) for n in zf.namelist() if n != "summary.json"}
    with tarfile.open(path, "r:*") as tf:
        return {m.name: stable(tf.extractfile(m).read()) for m in tf.getmembers()  # type: ignore[union-attr]
                if m.isfile() and m.name != "summary.json"}


def summary_without_run(data: bytes) -> dict[str, object]:
    summary = json.loads(data)
    summary.pop("run")
    return summary


IDENT = re.compile(rb"(<(?:\w+:)?Identificatie>)[^<]*(<)")
BSN = re.compile(rb"(<(?:\w+:)?Bsn>)\d{9}(<)")


def valid_bsn(n: int) -> bytes:
    """An 11-proof BSN, distinct for distinct ``n`` below 40 million: 8 digits from ``n``, then the check digit."""
    for stem in (10_000_000 + n, 50_000_000 + n):
        check = sum(int(d) * w for d, w in zip(str(stem), range(9, 1, -1), strict=True)) % 11
        if check < 10:
            assert bsn_is_valid(f"{stem}{check}")
            return f"{stem}{check}".encode()
    return valid_bsn(n + 40_000_000)


def varied(count: int, broken_every: int = 0) -> list[tuple[str, bytes]]:
    """``count`` distinct messages from the 2.1 fixtures (new identificatie and BSN each); every
    ``broken_every``-th one is not XML at all."""
    bases = [p.read_bytes() for p in sorted((FIXTURES / "iwmo21").glob("*.xml"))]
    out = []
    for i in range(count):
        if broken_every and i % broken_every == broken_every - 1:
            out.append((f"batch/{i // 500:02d}/broken-{i:05d}.xml", b"not a message %d\n" % i))
            continue
        data = IDENT.sub(rb"\g<1>" + b"t%011d" % i + rb"\g<2>", bases[i % len(bases)], count=1)
        out.append((f"batch/{i // 500:02d}/msg-{i:05d}.xml", BSN.sub(rb"\g<1>" + valid_bsn(i) + rb"\g<2>", data)))
    return out


def kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float = 60.0) -> None:
    """SIGKILL a batch process (started with ``start_new_session``) as soon as ``ready()`` holds, its workers
    with it; fails when it ended first."""
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None and not ready():
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
