"""The audit page when the log cannot be read, or only in part: a 503 page saying why, never a 500 (session 29).

The failures are real: on SQLite a directory or a symlink loop in the file's place (the tests run as root, whom no
file mode stops, so a mode of 000 would still be read), on PostgreSQL ``console_audit`` dropped, and the console's
connection ended by the server while its read waits on a lock another session holds. The page must say what failed
in an operator's words and the error's type (never its message), the log hold one ERROR, and the other pages work.
A file whose torn lines were skipped, or whose newest 8 MiB held fewer than 200 entries, is shown with a note.
"""

from __future__ import annotations

import html
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import console_helpers
import pg_helpers
import pytest
from console_helpers import MakeLocal, local_console
from proxy_helpers import wait_for

from gateway.console.auditlog import why_unread

if TYPE_CHECKING:
    from starlette.testclient import TestClient

server = pg_helpers.server  # one PostgreSQL server for this module
make = console_helpers.make  # a console on each store (the fixture)
UNREAD = "The audit log could not be read."
LOGGED = "console audit log not read"
INCOMPLETE = "<strong>Incomplete:</strong>"


def text(page: object) -> str:
    """A page's text as a reader sees it: entities decoded, line breaks of the template as spaces."""
    return " ".join(html.unescape(page.text).split())  # type: ignore[attr-defined]


def errors(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.error_type) for r in caplog.records  # type: ignore[attr-defined]
            if r.getMessage() == LOGGED]


def assert_unread(otto: TestClient, caplog: pytest.LogCaptureFixture, words: str, why: str, hidden: str) -> None:
    """One visit of the audit page by ``otto`` (logged in before the log broke: a login not audited is refused): a
    503 saying ``words`` and ``why``, not ``hidden`` (the exception's message); one ERROR; other pages still work."""
    caplog.clear()
    caplog.set_level(logging.INFO, logger="overstap.console")
    page = otto.get("/console/audit")
    assert page.status_code == 503, page.text
    assert UNREAD in text(page) and f"{words}: {why}" in text(page) and hidden not in page.text
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert errors(caplog) == [("ERROR", why.split(" ")[0].rstrip(":"))]
    assert all(r.exc_info is None for r in caplog.records)  # no traceback: it would quote the message
    assert otto.get("/console/messages").status_code == 200 and otto.get("/console/health").status_code == 200


def test_an_audit_file_with_a_directory_or_a_loop_in_its_place_is_a_503_saying_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    local = local_console(tmp_path)
    audit = tmp_path / "console-audit.jsonl"
    otto = local.login("otto")  # the login's entry is written first: then the file is broken
    audit.unlink()
    audit.mkdir()
    assert_unread(otto, caplog, "the audit file is a directory, not a file (console.audit_log in data_dir)",
                  "IsADirectoryError: Is a directory", str(audit))
    audit.rmdir()
    audit.symlink_to(audit)  # a link to itself: every open fails, also for root
    assert_unread(otto, caplog, "the audit file cannot be read (console.audit_log in data_dir)",
                  "OSError: Too many levels of symbolic links", str(audit))


def test_a_dropped_console_audit_is_a_503_saying_so(make: MakeLocal, request: pytest.FixtureRequest,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    if "postgresql" not in request.node.name:
        pytest.skip("the store's table: PostgreSQL only (SQLite's file: the test above)")
    local = make()
    otto = local.login("otto")
    local.sql("DROP TABLE console_audit")
    assert_unread(otto, caplog, "the store has no table console_audit (dropped, or the store is not at schema "
                  "revision 0010: overstap store migrate)", "UndefinedTable (SQLSTATE 42P01)", "does not exist")


def test_a_connection_lost_mid_read_is_a_503_and_the_next_visit_reads_again(
        server: str, request: pytest.FixtureRequest, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The server ends the console's connection while its read of ``console_audit`` waits for a lock another
    session holds (a hand-shake on ``pg_stat_activity``, no timing); the connection is not pooled again."""
    import psycopg

    url = pg_helpers.database_for(server, request, "unread")
    local = local_console(tmp_path, store=url)
    otto = local.login("otto")
    caplog.set_level(logging.INFO, logger="overstap.console")
    answers = []
    waits = ("SELECT pid FROM pg_stat_activity WHERE application_name = 'overstap-console' AND wait_event_type"
             " = 'Lock' AND query LIKE '%console_audit%'")
    with psycopg.connect(url, autocommit=True) as holder, psycopg.connect(url, autocommit=True) as look:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE console_audit IN ACCESS EXCLUSIVE MODE")
        visit = threading.Thread(target=lambda: answers.append(otto.get("/console/audit")))
        visit.start()
        # Looked at from a connection of its own, a statement a transaction: inside the holder's transaction the
        # server shows pg_stat_activity as it was at the first look, so a read not yet waiting then never showed
        # (the loop spun for good on a loaded machine).
        assert wait_for(lambda: look.execute(waits).fetchone() is not None, timeout=60)
        holder.execute("SELECT pg_terminate_backend(%s)", look.execute(waits).fetchone())
        visit.join(30)
        holder.execute("ROLLBACK")
    page = answers[0]
    assert page.status_code == 503
    assert "the connection to the store's database was lost or refused: AdminShutdown (SQLSTATE 57P01)" in text(page)
    assert errors(caplog) == [("ERROR", "AdminShutdown")]
    again = otto.get("/console/audit")
    assert again.status_code == 200 and UNREAD not in again.text and "<td>otto</td>" in again.text


def test_a_revoked_select_on_console_audit_is_a_503_saying_so(
        server: str, request: pytest.FixtureRequest, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The test server's user is a superuser, whom no GRANT stops: the console here runs as a role of its own that
    owns the store's tables (as a sidecar's role does, docs/postgresql.md), and SELECT on ``console_audit`` is then
    revoked from it (an owner's own privilege can be)."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from gateway.console.app import Backend, create_console
    from gateway.console.settings import parse

    url = pg_helpers.database_for(server, request, "unread")
    admin = local_console(tmp_path / "setup", store=url)  # the store with its rows, made by the superuser
    clerk = url.replace("overstap@", "clerk@")
    admin.sql("DO $$ BEGIN CREATE ROLE clerk LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")  # per server
    admin.sql("GRANT ALL ON SCHEMA public TO clerk")  # the console builds its indexes at start
    for (table,) in admin.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"):
        admin.sql(f'ALTER TABLE "{table}" OWNER TO clerk')
    (tmp_path / "clerk").mkdir()

    async def replay(ids: list[int]) -> list[object]:
        return []

    app = create_console(parse(console_helpers.console_config()),
                         Backend(tmp_path / "clerk" / "console.sqlite3", replay, console_helpers.ADMIN_KEY,
                                 store=clerk))
    running = console_helpers.Local(tmp_path / "clerk", tmp_path / "clerk" / "console.sqlite3",
                                    Starlette(routes=[Mount("/console", app)]), clerk)
    otto = running.login("otto")  # its entry written as clerk
    admin.sql("REVOKE SELECT ON console_audit FROM clerk")
    assert_unread(otto, caplog, "the store's user of this sidecar may not read the table console_audit (a "
                  "permission revoked)", "InsufficientPrivilege (SQLSTATE 42501)", "permission denied")


def test_the_words_for_a_file_the_sidecar_may_not_read(tmp_path: Path) -> None:
    """A file mode of 000 does not stop root (the tests' user): the words, on a real PermissionError."""
    blocked = tmp_path / "blocked"
    blocked.write_text("x")
    try:
        raise PermissionError(13, "Permission denied", str(blocked))
    except PermissionError as exc:
        assert why_unread(exc) == ("the sidecar may not read the audit file (its permissions; console.audit_log in "
                                   "data_dir): PermissionError: Permission denied")


def test_skipped_lines_and_a_stopped_budget_are_said_on_the_page(tmp_path: Path) -> None:
    local = local_console(tmp_path)
    audit = tmp_path / "console-audit.jsonl"
    otto = local.login("otto")
    whole = otto.get("/console/audit")
    assert whole.status_code == 200 and INCOMPLETE not in whole.text
    with audit.open("ab") as out:
        out.write(b'{"action": "purge", "deli\n{"act\n')  # two lines torn by crashes mid-write
    page = otto.get("/console/audit")
    assert page.status_code == 200 and "<td>otto</td>" in page.text
    assert f"{INCOMPLETE} 2 line(s) of the audit file could not be read" in text(page)
    assert "MiB of the" not in page.text
    newest = audit.read_bytes()
    audit.write_bytes(b"x" * (9 * 1024 * 1024) + b"\n" + newest)  # an older line the 8 MiB budget cannot reach
    cut = otto.get("/console/audit")
    assert cut.status_code == 200 and "<td>otto</td>" in cut.text
    assert f"{INCOMPLETE} only the newest 8 MiB of the audit file were read" in text(cut)
    assert "fewer than 200 entries: older entries are not shown" in text(cut)
    fill = b"".join(b'{"action": "view_zaak", "time": "2026-12-07T06:00:00+00:00", "user": "otto", "zaak_key": %d}\n'
                    % i for i in range(300))
    audit.write_bytes(b"x" * (9 * 1024 * 1024) + b"\n" + fill)  # 200 entries within the budget: nothing missed
    full = otto.get("/console/audit")
    assert full.status_code == 200 and "zaak_key=299" in full.text and INCOMPLETE not in full.text


def test_connections_the_server_ended_while_idle_are_not_handed_out_again(
        server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """A restart or fail-over of the database ends the console's pooled connections while they are idle; the next
    pages (the session check, the audit, a list) open new ones instead of failing on the dead ones with a 500."""
    import psycopg

    url = pg_helpers.database_for(server, request, "unread")
    local = local_console(tmp_path, store=url)
    otto = local.login("otto")
    assert otto.get("/console/audit").status_code == 200 and otto.get("/console/messages").status_code == 200
    console = "SELECT pid FROM pg_stat_activity WHERE application_name = 'overstap-console'"
    with psycopg.connect(url, autocommit=True) as admin:
        ended = admin.execute(f"SELECT pg_terminate_backend(pid) FROM ({console}) c").fetchall()
        assert len(ended) >= 2  # a pooled writing (session, audit) and a read connection
        assert wait_for(lambda: not admin.execute(console).fetchall(), timeout=60)  # the server has ended them all
    for _ in range(2):  # the pools held more than one: every visit finds a live one
        assert otto.get("/console/audit").status_code == 200
        assert otto.get("/console/messages").status_code == 200
