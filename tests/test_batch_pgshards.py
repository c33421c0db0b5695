"""``overstap batch --shard I/N --store postgresql://…``: N shards running at once share one zaak ledger (issue 16).

Why: a history converted by N parallel jobs must give the same zaken as one run. The messages of a zaak must
meet the ledger in input order, so shards on one ledger split by client; what they still share, the
tijdstipBericht per zender, must never repeat whichever shard renders; and a shard killed half-way must resume
without applying a member twice. Real PostgreSQL, real processes running concurrently, real SIGKILL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import pg_helpers
import pytest
from batch_corpus import BSN, holds, kill_when, valid_bsn, varied
from click.testing import CliRunner
from pg_helpers import fresh_database
from proxy_helpers import sample, samples_dir, variant

from gateway.batch import BatchOptions, Shard, run, work
from gateway.cli import main
from gateway.ledger import next_tijdstip
from gateway.pgstore import PostgresLedger
from gateway.pgstore.chunked import ChunkedPgLedger

B01, B02, B04 = "CasusB-01-WMO301_toewijzing.xml", "CasusB-02-WMO305_start.xml", "CasusB-04-WMO307_stop.xml"
OVERSTAP = [sys.executable, "-c", "from gateway.cli import main; main()"]
ZAKEN = 90
SHARDS = 3
TIJDSTIP = re.compile(rb"<StUF:zender>(.*?)</StUF:zender>.*?<StUF:tijdstipBericht>(\d{17})<", re.S)


server = pg_helpers.server  # one PostgreSQL server for this module


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ZAKEN toewijzingen (301, then 305 start, then 307 stop), two per client, interleaved as a real history is:
    every 301 first, then every 305, then every 307, so a shard that rendered a 305 before its zaak's 301 had
    reached the shared ledger would fail it (StUF064) instead of setting the status."""
    return write_zip(tmp_path_factory.mktemp("history") / "history.zip", chains(ZAKEN))


def chains(zaken: int) -> list[tuple[str, bytes]]:
    """The members of ``zaken`` toewijzing chains, two zaken per client, every 301 before every 305 before every
    307."""
    samples_dir()
    members = []
    for step, name in enumerate((B01, B02, B04)):
        for k in range(zaken):
            data = BSN.sub(rb"\g<1>" + valid_bsn(k // 2) + rb"\g<2>", variant(sample(name), 1000 * step + k, zaak=k))
            members.append((f"{step}-{k:03d}-{name}", data))
    return members


def write_zip(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def batch(history: Path, out: Path, store: str, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*OVERSTAP, "batch", str(history), "--out", str(out), "--store", store, "--workers", "1",
                             "--quiet", *extra], env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(procs: list[subprocess.Popen[bytes]], timeout: float = 300) -> None:
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=timeout)
            assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


RESUME_BOOKKEEPING = "SELECT kind, key, value FROM remembered WHERE kind NOT IN ('render-settings', 'ledger-keys')"
"""What a run remembers besides the record of its render settings (which stays: gateway/ledger/render_record.py) and
the mark of a ledger whose keys from before session 25 were written (gateway/ledger/keys_before_s25.py: a shard
opening the ledger after another wrote zaken marks it)."""


def pg_ledger(url: str) -> dict[str, Any]:
    """The ledger's contents as values: chain key -> zaak, zaak -> state, remembered (kind, key) -> value."""
    import psycopg

    with psycopg.connect(url) as conn:
        return {"keys": dict(conn.execute("SELECT key, zaak FROM chain_key").fetchall()),
                "states": {z: json.loads(s) for z, s in conn.execute("SELECT zaak, state::text FROM zaak_state")},
                "remembered": {(k, key): v for k, key, v in conn.execute(RESUME_BOOKKEEPING)}}


def sqlite_ledger(state: Path) -> dict[str, Any]:
    with contextlib.closing(sqlite3.connect(state / "ledger.sqlite")) as conn:
        return {"keys": dict(conn.execute("SELECT key, zaak FROM chain_key").fetchall()),
                "states": {z: json.loads(s) for z, s in conn.execute("SELECT zaak, state FROM zaak_state")},
                "remembered": {(k, key): v for k, key, v in conn.execute(RESUME_BOOKKEEPING)}}


def report(*outs: Path) -> dict[str, tuple[str, list[str]]]:
    """Member -> (status, output names) over the shards' report.jsonl files; a member reported twice fails."""
    lines = [json.loads(line) for out in outs for line in (out / "report.jsonl").read_text().splitlines()]
    found = {line["source"]: (line["status"], [p.rsplit("/", 1)[1] for p in line.get("outputs", [])])
             for line in lines}
    assert len(found) == len(lines), "a member was reported by two shards"
    return found


def tijdstippen(*outs: Path) -> dict[str, list[str]]:
    """Per zender, every tijdstipBericht the shards' outputs carry, in each shard's output order."""
    found: dict[str, list[str]] = {}
    for out in outs:
        for line in (out / "report.jsonl").read_text().splitlines():
            for path in json.loads(line)["outputs"]:
                for zender, moment in TIJDSTIP.findall((out / path).read_bytes()):
                    found.setdefault(zender.decode(), []).append(moment.decode())
    return found


@pytest.fixture(scope="module")
def single(server: str, history: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    """One run over the whole history on a fresh database: the ledger and OUT every sharded run must equal."""
    url = fresh_database(server, "single_run")
    out = tmp_path_factory.mktemp("single") / "out"
    started = time.monotonic()
    finish([batch(history, out, url)])
    print(f"\none run: {time.monotonic() - started:.1f} s")
    return pg_ledger(url), out


def test_three_shards_at_once_give_the_zaken_of_one_run(server: str, history: Path, single: tuple[dict[str, Any], Path],
                                                         tmp_path: Path) -> None:
    reference, single_out = single
    url = fresh_database(server, "three_shards")
    outs = [tmp_path / f"shard-{i}" for i in range(SHARDS)]
    started = time.monotonic()
    finish([batch(history, out, url, "--shard", f"{i}/{SHARDS}") for i, out in enumerate(outs)])
    print(f"\n{SHARDS} shards at once: {time.monotonic() - started:.1f} s")
    shared = pg_ledger(url)
    assert len(reference["states"]) == ZAKEN and all(s["statussen"] for s in reference["states"].values())
    assert shared["keys"] == reference["keys"]
    assert shared["states"] == reference["states"]
    assert shared["remembered"] == reference["remembered"] == {}  # the resume bookkeeping was pruned
    assert report(*outs) == report(single_out)
    assert {status for status, _ in report(*outs).values()} == {"ok"}
    counts = [len(report(out)) for out in outs]
    assert all(n > 0 for n in counts) and sum(counts) == 3 * ZAKEN, counts  # every shard rendered some zaken
    for zender, moments in tijdstippen(*outs).items():  # handed out by one counter: never twice, whoever renders
        assert len(set(moments)) == len(moments), zender
        assert len(moments) >= 3 * ZAKEN


def test_the_shared_ledger_equals_a_state_folder_run(history: Path, single: tuple[dict[str, Any], Path],
                                                      tmp_path: Path) -> None:
    finish([batch(history, tmp_path / "out", str(tmp_path / "state"))])
    assert sqlite_ledger(tmp_path / "state") == single[0]


def outputs_remembered(url: str) -> int:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM remembered WHERE kind = 'batch-outputs'").fetchone()[0])
    except psycopg.errors.UndefinedTable:
        return 0


def test_a_shard_killed_half_way_resumes_without_applying_a_member_twice(
        server: str, history: Path, single: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    """Shard 0 is killed after the ledger took members its journal has not recorded (it commits once an hour
    here); resumed while the other two run, it must reuse those members' outputs, not render them again."""
    reference, single_out = single
    url = fresh_database(server, "killed_shard")
    outs = [tmp_path / f"shard-{i}" for i in range(SHARDS)]
    slow = ("--chunk-size", "1", "--commit-interval", "3600")
    first = batch(history, outs[0], url, "--shard", f"0/{SHARDS}", *slow)
    kill_when(first, lambda: outputs_remembered(url) >= 20, timeout=120)
    assert outputs_remembered(url) >= 20  # the shared ledger is ahead of the shard's journal
    finish([batch(history, outs[0], url, "--shard", f"0/{SHARDS}", "--resume", *slow),
            *(batch(history, outs[i], url, "--shard", f"{i}/{SHARDS}") for i in range(1, SHARDS))])
    shared = pg_ledger(url)
    assert shared["states"] == reference["states"]
    assert shared["keys"] == reference["keys"]
    assert shared["remembered"] == {}
    assert report(*outs) == report(single_out)


@pytest.mark.parametrize(("last", "now"), [
    (None, dt.datetime(2026, 12, 4, 12, 0, 0, 5000)),
    ("20261204115959999", dt.datetime(2026, 12, 4, 12, 0, 0)),  # older than now: now
    ("20261204120000000", dt.datetime(2026, 12, 4, 12, 0, 0)),  # the same millisecond: one later
    ("20261231235959999", dt.datetime(2026, 12, 31, 23, 0, 0)),  # ahead of now, into the next year
    ("20280228235959999", dt.datetime(2028, 2, 1)),  # a leap day
    ("20260329023000000", dt.datetime(2026, 3, 29, 1, 0, 0)),  # an hour Amsterdam's clocks skip
])
def test_the_shared_counter_hands_out_what_next_tijdstip_would(server: str, last: str | None,
                                                               now: dt.datetime) -> None:
    """The counter is next_tijdstip (ledger/base.py) as SQL: it must agree on every value, also on a server
    whose time zone has a DST gap (the counter's session runs in UTC)."""
    import psycopg

    url = fresh_database(server, "counter")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER DATABASE counter SET timezone = 'Europe/Amsterdam'")
    ledger = ChunkedPgLedger(url)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            if last is not None:
                conn.execute("INSERT INTO zender_tijdstip VALUES ('z', %s)", (last,))
        ledger.begin()
        assert ledger.direct.tijdstip("z", now) == next_tijdstip(last, now)
        ledger.rollback()
    finally:
        ledger.close()


def test_a_batch_whose_database_cannot_be_reached_is_a_usage_error_without_its_password(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    result = CliRunner().invoke(main, ["batch", str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--store",
                                       "postgresql://overstap:geheim@127.0.0.1:9/none", "--shard", "0/2"])
    assert result.exit_code == 2
    assert "--state postgresql://overstap:***@127.0.0.1:9/none: cannot reach the ledger database" in result.output
    assert "geheim" not in result.output and not (tmp_path / "o").exists()


def test_a_convert_on_the_same_database_takes_turns_with_a_shards_chunk(server: str) -> None:
    """Shards take the ledger's lock shared (they own different clients), ``convert --state`` exclusively: a
    convert of a message whose zaak a shard is rendering must wait for that chunk's commit, not read past it."""
    url = fresh_database(server, "turns")
    shard, other = ChunkedPgLedger(url), ChunkedPgLedger(url)
    convert = PostgresLedger(url)
    entered = threading.Event()
    seen: list[Any] = []

    def message() -> None:
        with convert.transaction() as tx:
            entered.set()
            seen.append(tx.state("0384Z1"))

    try:
        shard.begin()
        other.begin()  # a second shard is not held up
        with shard.transaction() as tx:
            tx.put_state("0384Z1", {"by": "the shard"})
        thread = threading.Thread(target=message)
        thread.start()
        assert not entered.wait(1.0), "convert did not wait for the shard's chunk"
        other.commit()
        shard.commit()
        assert entered.wait(10.0)
        thread.join(10)
        assert seen == [{"by": "the shard"}]
    finally:
        for ledger in (shard, other, convert):
            ledger.close()


def test_a_member_that_fails_anywhere_is_reported_by_exactly_one_shard(server: str, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every shard maps every member, so every shard meets every failure: unreadable, unmappable, or one that
    takes the worker's chunk down (the retry member by member). Each must be reported once, as in one run."""
    original = work.Worker.map_chunk

    def broken(self: work.Worker, chunk: work.Chunk) -> work.ChunkResult:
        if holds(chunk.members, b"<!-- RAISE -->"):
            raise RuntimeError("injected fault")
        return original(self, chunk)

    monkeypatch.setattr(work.Worker, "map_chunk", broken)
    members = chains(12)
    members[7] = (members[7][0], members[7][1] + b"<!-- RAISE -->")
    members[20:20] = [(f"broken-{n}.xml", b"not a message %d\n" % n) for n in range(6)]
    members.append(("unread.zip", b"PK\3\4 an archive inside the archive"))
    path = write_zip(tmp_path / "in.zip", members)

    def statuses(url: str, *shards: Shard) -> dict[str, tuple[str, list[str]]]:
        outs = [tmp_path / f"out-{url.rsplit('/', 1)[1]}-{s.index}" for s in shards]
        for shard, out in zip(shards, outs, strict=True):
            run(BatchOptions([path], out, validate=False, progress="quiet", workers=0, chunk_size=4, shard=shard,
                             state=url))
        return report(*outs)

    single = statuses(fresh_database(server, "fail_one"), Shard())
    sharded = statuses(fresh_database(server, "fail_two"), Shard(0, 2), Shard(1, 2))
    assert sharded == single
    failed = {key.rsplit("/", 1)[1] for key, (status, _) in single.items() if status == "failed"}
    lost_zaak = {f"{step}-007-{name}" for step, name in enumerate((B01, B02, B04))}  # its 301 failed: so do the rest
    assert failed == {*lost_zaak, "unread.zip", *(f"broken-{n}.xml" for n in range(6))}
    assert len(single) == len(members)


def test_a_zaak_whose_messages_name_two_clients_fails_visibly_instead_of_splitting(server: str,
                                                                                    tmp_path: Path) -> None:
    """The split by client rests on every message of a zaak naming one client. Here it does not: the generated
    messages carry a new BSN each but keep their fixture's ToewijzingNummer, so one zaak gets messages of several
    clients. A shard must then fail the message that would write another shard's zaak, saying why, and every
    other member must come out as in one run; without the claims, messages succeed with other operations."""
    path = write_zip(tmp_path / "in.zip", varied(24))

    def lines(url: str, *shards: Shard) -> list[dict[str, Any]]:
        found = []
        for shard in shards:
            out = tmp_path / f"out-{url.rsplit('/', 1)[1]}-{shard.index}"
            run(BatchOptions([path], out, validate=False, progress="quiet", workers=0, shard=shard, state=url))
            found += [json.loads(line) for line in (out / "report.jsonl").read_text().splitlines()]
        return found

    single = {line["source"]: line for line in lines(fresh_database(server, "two_clients_one"), Shard())}
    sharded = lines(fresh_database(server, "two_clients_two"), Shard(0, 2), Shard(1, 2))
    conflicts = {re.match(r"zaak (\S+) is written by shard", line["error"]["message"]).group(1)  # type: ignore[union-attr]
                 for line in sharded if "without --shard" in line.get("error", {}).get("message", "")}
    assert conflicts, "no message was refused for writing another shard's zaak"
    assert len(sharded) == len(single)
    for line in sharded:
        touched = {z for z in conflicts if any(f".{z}-" in p for p in single[line["source"]].get("outputs", []))}
        if not touched and "without --shard" not in line.get("error", {}).get("message", ""):
            assert (line["status"], line.get("outputs")) == (single[line["source"]]["status"],
                                                             single[line["source"]].get("outputs")), line["source"]


def test_a_319_in_another_shard_than_its_aanvraagzaak_fails_naming_the_owner(server: str, tmp_path: Path) -> None:
    """A 319 names no client, so it goes to the shard its member name hashes to. When that is not the shard that
    claimed the aanvraagzaak (its 315's client), the refusal it renders writes a zaak of another shard: that must
    fail on the claim, naming the owning shard, as a bind does, instead of writing the zaak unchecked."""
    fixtures = Path(__file__).parent / "fixtures" / "iwmo32"
    v315, v319 = (fixtures / "WMO315_verzoek.xml").read_bytes(), (fixtures / "WMO319_verzoek_antwoord.xml").read_bytes()
    owner = next(i for i in range(2) if Shard(i, 2).owns("client:999900031"))  # the 315's client
    path = tmp_path / "in.zip"
    # a member is split by its key, the input's label (its base name) and the member's name (batch/keys.py)
    name319 = next(f"b-319-{n}.xml" for n in range(100) if Shard(1 - owner, 2).owns(f"{path.name}/b-319-{n}.xml"))
    write_zip(path, [("a-315.xml", v315), (name319, v319)])
    url = fresh_database(server, "refused_elsewhere")
    lines = {}
    for shard in (Shard(owner, 2), Shard(1 - owner, 2)):
        out = tmp_path / f"out-{shard.index}"
        run(BatchOptions([path], out, validate=False, progress="quiet", workers=0, shard=shard, state=url))
        lines.update({json.loads(line)["source"].rsplit("/", 1)[1]: {**json.loads(line), "shard": shard.index}
                      for line in (out / "report.jsonl").read_text().splitlines()})
    assert lines["a-315.xml"]["status"] == "ok"
    refused = lines[name319]
    assert refused["shard"] == 1 - owner, "the 319 was meant to land in the other shard"
    assert refused["status"] == "failed" and not refused.get("outputs"), refused
    assert f"is written by shard {owner}/2" in refused["error"]["message"], refused["error"]
    import psycopg

    with psycopg.connect(url) as conn:
        states = [s for (s,) in conn.execute("SELECT state::text FROM zaak_state")]
    assert states and not any("Afgewezen" in s for s in states), "the other shard's 319 wrote the aanvraagzaak"
