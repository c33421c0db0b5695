"""``overstap console import-audit`` keeps replicas apart (session 30): two replicas' byte-identical lines are two
entries (``console_audit.source``, schema 0011), each file imported again adds nothing, entries imported before
0011 are claimed rather than doubled, and the file ``--config`` names (``console.audit_log``) is the one read.

A real PostgreSQL server; the files as the console of session 27 wrote them.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import console_helpers
import pg_helpers
import pytest
from test_console_audit_import import line

from gateway.console import auditimport
from gateway.pgstore.conn import PgConnection

server = pg_helpers.server  # one PostgreSQL server for this module
run = console_helpers.import_audit

SAME = line("2026-11-30T09:02:00+00:00", "anna", "view_payload", message_id=12)
"""The one line both replicas wrote: anna opened message 12 on each within a second, behind a load balancer."""
A = [line("2026-11-30T09:00:00+00:00", "anna", "login"), SAME, SAME]
B = [line("2026-11-30T09:01:00+00:00", "anna", "login"), SAME]


SERVE = """data_dir: {data}
store: {url}
downstreams:
  zs: http://127.0.0.1:9/zs
routes:
  default: {{mode: translate, downstream: zs}}
console:
  audit_log: {log}
"""
"""A replica's serve config: its data dir, the store, the console's audit file (relative to the data dir)."""


def sql(url: str, statement: str, *args: object) -> list[tuple[object, ...]]:
    """One statement on the store, its rows."""
    pg = PgConnection(url)
    try:
        cursor = pg.execute(statement, args)
        return [tuple(r) for r in cursor.fetchall()] if cursor.description else []
    finally:
        pg.close()


def data_dir(tmp_path: Path, name: str, lines: list[str]) -> Path:
    """A replica's data dir holding its old ``console-audit.jsonl``."""
    folder = tmp_path / name
    folder.mkdir()
    (folder / "console-audit.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def migrate(url: str, to: str | None = None) -> str:
    """The store brought to ``to`` (head when None) by ``overstap store migrate``."""
    from click.testing import CliRunner

    from gateway.cli import main

    result = CliRunner().invoke(main, ["store", "migrate", "--store", url, *(["--to", to] if to else [])])
    assert result.exit_code == 0, result.output
    return url


def migrated(server: str, request: pytest.FixtureRequest, to: str | None = None) -> str:
    """A new store brought to ``to`` (head when None)."""
    return migrate(pg_helpers.database_for(server, request, "src"), to)


def test_two_replicas_identical_lines_stay_apart_and_each_file_again_adds_nothing(
        server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = migrated(server, request)
    a, b = data_dir(tmp_path, "replica-a", A), data_dir(tmp_path, "replica-b", B)
    code, out, err = run("--data-dir", str(a), "--store", url)  # the default source: the file's first line's digest
    assert code == 0, out + err
    source_a = f"file:{hashlib.sha256(A[0].encode()).hexdigest()[:24]}"
    assert "imported 3 entries into postgresql://127.0.0.1" in out and f"as source {source_a!r}; 0 already" in out
    code, out, err = run("--data-dir", str(b), "--store", url)  # the same host, another replica's data dir
    assert code == 0 and "imported 2 entries" in out and "; 0 already there" in out, out + err
    code, out, _ = run("--data-dir", str(a), "--store", url)
    assert code == 0 and "imported 0 entries" in out and "3 already there" in out
    code, out, _ = run("--file", str(b / "console-audit.jsonl"), "--store", url)
    assert code == 0 and "imported 0 entries" in out and "2 already there" in out
    got = sql(url, "SELECT source, details->>'message_id', count(*) FROM console_audit WHERE action = 'view_payload' "
                   "GROUP BY 1, 2 ORDER BY 1")
    source_b = f"file:{hashlib.sha256(B[0].encode()).hexdigest()[:24]}"
    assert sorted(got) == sorted([(source_a, "12", 2), (source_b, "12", 1)])

    copy = tmp_path / "from-a-backup.jsonl"  # a copy of replica A's file, elsewhere: the same source by default
    copy.write_text("\n".join(A) + "\n", encoding="utf-8")
    code, out, _ = run("--file", str(copy), "--store", url)
    assert code == 0 and "imported 0 entries" in out and f"as source {source_a!r}; 3 already there" in out
    code, out, _ = run("--file", str(copy), "--store", url, "--source", "replica-c")
    assert code == 0 and "imported 3 entries" in out and "as source 'replica-c'" in out
    assert sql(url, "SELECT count(*) FROM console_audit") == [(8,)]
    code, _, err = run("--file", str(copy), "--store", url, "--source", "")
    assert code == 2 and "--source: a name of 1 to 200 printable characters" in err
    code, _, err = run("--file", str(copy), "--store", url, "--source", "x" * 201)
    assert code == 2 and "--source: a name of 1 to 200 printable characters" in err


def imported_by_session_29(url: str) -> None:
    """Replica A's file as session 29's import left it in a store at 0010: no source, its index on the key alone."""
    counted: dict[str, int] = {}
    for text in A:  # the line's digest and its occurrence
        digest = hashlib.sha256(text.encode()).digest()[:12].hex()
        found = json.loads(text)
        details = {k: v for k, v in found.items() if k not in ("time", "user", "action")}
        details["imported"] = f"{digest}:{counted.get(digest, 0)}"
        counted[digest] = counted.get(digest, 0) + 1
        sql(url, "INSERT INTO console_audit (at, account, action, details) VALUES (?, ?, ?, ?::jsonb)",
            found["time"], found["user"], found["action"], json.dumps(details, sort_keys=True))
    sql(url, "CREATE UNIQUE INDEX console_audit_imported ON console_audit ((details->>'imported')) "
             "WHERE (details->>'imported') IS NOT NULL")


def test_a_store_of_0010_with_imported_entries_is_migrated_and_they_are_claimed_not_doubled(
        server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Session 29's import left entries without a source, unique on their key alone: the migration keeps them (source
    NULL) and drops that index; importing their file again claims them for its source (nothing added), and the other
    replica's identical line, finding its key taken, is an entry of its own."""
    url = migrated(server, request, to="0010")
    sql(url, "INSERT INTO console_audit (at, account, action, details) VALUES ('2026-12-01T08:00:00+00:00', 'otto', "
             "'login', '{}'::jsonb)")  # a replica's own entry, written since 0010
    imported_by_session_29(url)
    before = sql(url, "SELECT id, at, account, action, details FROM console_audit ORDER BY id")

    migrate(url)  # 0010 to head, as an operator upgrades
    assert sql(url, "SELECT id, at, account, action, details FROM console_audit ORDER BY id") == before
    assert sql(url, "SELECT count(*) FROM console_audit WHERE source IS NULL") == [(4,)]
    assert sql(url, "SELECT to_regclass('console_audit_imported')") == [(None,)]

    a, b = data_dir(tmp_path, "replica-a", A), data_dir(tmp_path, "replica-b", B)
    code, out, err = run("--data-dir", str(a), "--store", url, "--source", "a")
    assert code == 0 and "imported 0 entries" in out and "3 already there" in out, out + err
    assert sql(url, "SELECT source, count(*) FROM console_audit GROUP BY 1 ORDER BY 1") == [("a", 3), (None, 1)]
    code, out, _ = run("--data-dir", str(b), "--store", url, "--source", "b")
    assert code == 0 and "imported 2 entries" in out and "0 already there" in out
    assert sql(url, "SELECT source, count(*) FROM console_audit WHERE action = 'view_payload' GROUP BY 1 "
                    "ORDER BY 1") == [("a", 2), ("b", 1)]


def lock_waits(url: str) -> int:
    """How many of the database's backends wait for a lock now."""
    [(count,)] = sql(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                          "wait_event_type = 'Lock'")
    return int(str(count))


def until(check: Callable[[], bool], what: str) -> None:
    """Wait for ``check`` (a state asked of the server, not a time that passed); a minute at most."""
    deadline = time.monotonic() + 60
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_a_replica_imported_while_another_claims_never_waits_for_nor_takes_its_entry(
        server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Replica A's file, imported before 0011, is being claimed for source a (its batch's transaction open, waiting on
    a row this test holds at line 3) when replica B's file is imported: B's identical line passes over the entry A's
    import has claimed (``FOR UPDATE SKIP LOCKED``) and is inserted as b's at once. Without the row lock B waited for
    A's commit and then took A's claimed entry for itself: one entry for the two replicas' lines."""
    url = migrated(server, request, to="0010")
    imported_by_session_29(url)
    migrate(url)
    with closing(PgConnection(url)) as first:
        auditimport.ensure_unique(first)
    a, b = data_dir(tmp_path, "replica-a", A), data_dir(tmp_path, "replica-b", B)
    _, third = list(auditimport.rows(a / "console-audit.jsonl", auditimport.Lines(), auditimport.Lines()))[2]
    blocker = PgConnection(url)
    blocker.raw.execute("BEGIN")
    blocker.raw.execute(auditimport.INSERT, {**third, "source": "a"})
    done: dict[str, auditimport.Imported] = {}

    def importing(name: str, folder: Path) -> None:
        with closing(PgConnection(url)) as conn:
            done[name] = auditimport.import_file(conn, folder / "console-audit.jsonl", name)

    claiming = threading.Thread(target=importing, args=("a", a), daemon=True)
    other = threading.Thread(target=importing, args=("b", b), daemon=True)
    try:
        claiming.start()
        until(lambda: lock_waits(url) == 1, "A's import waits on line 3, its claims of lines 1 and 2 held")
        other.start()
        until(lambda: not other.is_alive() or lock_waits(url) == 2, "B's import ends or waits too")
        b_waited = other.is_alive()
    finally:
        blocker.raw.execute("ROLLBACK")
        blocker.close()
    claiming.join(60)
    other.join(60)
    assert not b_waited
    assert {k: (v.added, v.present) for k, v in done.items()} == {"a": (0, 3), "b": (2, 0)}
    assert sql(url, "SELECT source, count(*) FROM console_audit GROUP BY 1 ORDER BY 1") == [("a", 3), ("b", 2)]


def test_the_file_the_config_names_is_imported_and_a_missing_one_named(
        server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """``console.audit_log`` relative to the config's ``data_dir``, found as the console finds it."""
    url = migrated(server, request)
    data = tmp_path / "data"
    (data / "old").mkdir(parents=True)
    (data / "console-audit.jsonl").write_text(A[0] + "\n", encoding="utf-8")  # not the one the config names
    (data / "old" / "audit.jsonl").write_text("\n".join(B) + "\n", encoding="utf-8")
    config = tmp_path / "overstap.yaml"
    config.write_text(SERVE.format(data=data, url=url, log="old/audit.jsonl"), encoding="utf-8")
    code, out, err = run("--config", str(config))
    assert code == 0, out + err
    assert out.startswith(f"{data / 'old' / 'audit.jsonl'}: imported 2 entries into postgresql://127.0.0.1")
    assert sql(url, "SELECT account, action FROM console_audit ORDER BY at") == [("anna", "login"),
                                                                                ("anna", "view_payload")]

    config.write_text(SERVE.format(data=data, url=url, log="gone.jsonl"), encoding="utf-8")
    code, _, err = run("--config", str(config))
    assert code == 2 and f"no audit file at {data / 'gone.jsonl'} (from console.audit_log of {config})" in err

