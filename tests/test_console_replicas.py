"""The operator console of two sidecar replicas on one PostgreSQL store, against a real server (session 28).

Behind a load balancer a person's requests land on either replica: a login on one must be live on the other, a
logout on one must end it on both, and the audit of who replayed what must be one record (schema 0010 keeps the
sessions and the audit in the store). A stopped replica must leave no console connection on the server. The
console's indexes are built concurrently: an insert of a replica goes on while one is built, and an index an
interrupted build left INVALID is built again.
"""

from __future__ import annotations

import re
import threading
from contextlib import closing
from pathlib import Path

import httpx
import pg_helpers
import psycopg
import pytest
from console_helpers import ADMIN_KEY, CHAINS, Running, console_config, csrf_of, local_console, login, wait_settled
from pg_helpers import database_for
from proxy_helpers import Receiver, ServerThread, Start, sample, soap11, wait_for

from gateway.console import queries
from gateway.console.source import APPLICATION
from gateway.pgstore.conn import PgConnection

server = pg_helpers.server  # one PostgreSQL server for this module
REPLAY = re.compile(r'href="(/console/deliveries/(\d+)/replay)"')
LISTED = re.compile(r'href="/console/messages/(\d+)"')


CONSOLE = console_config()
"""One ``console:`` block for every replica, as one config file deployed to each: the same secret and the same
password hashes (a session's fingerprint is over its account's hash; another salt is another account)."""


def replica(start: Start, downstream: ServerThread, store: str, data: Path) -> ServerThread:
    """A sidecar on ``store`` with the console on and its own data_dir."""
    running, _gw = start({"default": {"downstream": downstream.url + "/zs"}}, {}, admin_key=ADMIN_KEY,
                         console=CONSOLE, store=store, data_dir=str(data))
    return running


def on(base: str, cookies: httpx.Cookies) -> httpx.Client:
    """A client of another replica carrying the cookies one got (what a load balancer without stickiness does)."""
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    client.cookies.update(cookies)
    return client


def test_two_replicas_share_the_console_session_and_the_audit(start: Start, server: str,
                                                              request: pytest.FixtureRequest, tmp_path: Path) -> None:
    store = database_for(server, request, "rep")
    rec = Receiver(behaviour="fo")
    with ServerThread(rec.app()) as ds:
        a = replica(start, ds, store, tmp_path / "a")
        b = replica(start, ds, store, tmp_path / "b")
        for name in CHAINS:
            r = httpx.post(a.url + "/soap", content=soap11(sample(name)),
                           headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)
            assert r.status_code == 200, r.text
        wait_settled(Running(a, ds, rec))
        otto = login(a.url, "otto")  # logged in on A ...
        on_b = on(b.url, otto.cookies)
        listing = on_b.get("/console/messages")  # ... live on B
        assert listing.status_code == 200
        first = int(LISTED.findall(listing.text)[-1])
        link = REPLAY.search(on_b.get(f"/console/messages/{first}").text)
        assert link
        confirm = on_b.get(link.group(1))
        rec.behaviour = "bv"
        done = on_b.post(link.group(1), data={"confirm": "yes", "csrf": csrf_of(confirm.text)})  # replayed through B
        assert done.status_code == 200 and "Queued again" in done.text, done.text
        audit = otto.get("/console/audit")  # read through A
        assert audit.status_code == 200
        rows = re.findall(r"<tr><td>[^<]*</td><td>otto</td><td class=\"action\">(\w+)</td><td>([^<]*)</td>",
                          audit.text)
        assert rows[0] == ("replay", f"delivery_id={link.group(2)} message_id={first} ok=True"), rows
        assert [a for a, _ in rows][-1] == "login"
        vera = login(b.url, "vera")
        assert on(a.url, vera.cookies).get("/console/audit").status_code == 403  # the operator's page only
        page = on_b.get("/console/messages")
        assert on_b.post("/console/logout", data={"csrf": csrf_of(page.text)}).status_code == 303  # out on B ...
        assert otto.get("/console/messages").status_code == 303  # ... and so out on A
        assert on(b.url, otto.cookies).get("/console/messages").status_code == 303
        with closing(PgConnection(store)) as pg:
            assert pg.execute("SELECT count(*) FROM console_session WHERE account = 'otto'").fetchone()[0] == 0
            stored = [tuple(r) for r in pg.execute("SELECT account, action FROM console_audit ORDER BY id")]
        assert stored[-1] == ("otto", "logout") and ("otto", "replay") in stored and ("vera", "login") in stored
    for data in (tmp_path / "a", tmp_path / "b"):  # nothing of the console's in a replica's data_dir
        assert not (data / "console.sqlite3").exists() and not (data / "console-audit.jsonl").exists()


def console_backends(store: str) -> int:
    """The console's sessions on the server in the store's database (``application_name``)."""
    with closing(PgConnection(store)) as pg:
        return int(pg.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                              " AND application_name = ?", (APPLICATION,)).fetchone()[0])


def test_a_stopped_replica_leaves_no_console_connection(start: Start, server: str, request: pytest.FixtureRequest,
                                                        tmp_path: Path) -> None:
    store = database_for(server, request, "rep")
    with ServerThread(Receiver(behaviour="bv").app()) as ds:
        a = replica(start, ds, store, tmp_path / "a")
        otto = login(a.url, "otto")
        for page in ("/console/messages", "/console/health", "/console/audit"):
            assert otto.get(page).status_code == 200
        assert console_backends(store) >= 2  # a read connection and a writing one (session, audit) kept idle
        a.stop()  # the sidecar's shutdown (lifespan), the process and its objects live on
        assert not a.thread.is_alive()
        assert wait_for(lambda: console_backends(store) == 0, timeout=20), "the console left sessions on the server"


def index_valid(store: str, name: str) -> tuple[bool, str] | None:
    with closing(PgConnection(store)) as pg:
        row = pg.execute("SELECT i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i"
                         " WHERE i.indexrelid = to_regclass(?)", (name,)).fetchone()
    return (bool(row[0]), str(row[1])) if row else None


def test_an_index_left_invalid_is_built_again(server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    local = local_console(tmp_path, store=database_for(server, request, "rep"))
    store = str(local.store)
    with closing(PgConnection(store)) as pg:  # an interrupted concurrent build: the index stays, INVALID
        pg.execute("DROP INDEX console_message_route_id")
        with pytest.raises(psycopg.errors.UniqueViolation):
            pg.execute("CREATE UNIQUE INDEX CONCURRENTLY console_message_route_id ON message(route)")
    assert index_valid(store, "console_message_route_id") == (
        False, "CREATE UNIQUE INDEX console_message_route_id ON public.message USING btree (route)")
    with closing(PgConnection(store)) as pg:
        assert queries.ensure_indexes(pg) is True
    assert index_valid(store, "console_message_route_id") == (
        True, "CREATE INDEX console_message_route_id ON public.message USING btree (route, id)")


def test_a_replica_inserts_while_the_console_builds_an_index(server: str, request: pytest.FixtureRequest,
                                                             tmp_path: Path) -> None:
    """A transaction that writes to ``message`` holds the build at its wait (a concurrent build waits for older
    writers; a plain one would wait for their lock and queue every later insert behind it); meanwhile another
    replica's insert goes through at once."""
    local = local_console(tmp_path, store=database_for(server, request, "rep"))
    store = str(local.store)
    with closing(PgConnection(store)) as pg:
        pg.execute("DROP INDEX console_message_status_id")
    writer = PgConnection(store)
    writer.execute("BEGIN")
    writer.execute("LOCK TABLE message IN ROW EXCLUSIVE MODE")  # what a replica's open write transaction holds
    builder = PgConnection(store, application_name="console-build")
    failed: list[BaseException] = []

    def build() -> None:
        try:
            queries.ensure_indexes(builder)
        except BaseException as exc:  # seen by the test thread
            failed.append(exc)

    thread = threading.Thread(target=build)
    thread.start()
    try:
        with closing(PgConnection(store)) as look:
            assert wait_for(lambda: look.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE a.application_name = 'console-build' AND NOT l.granted").fetchone()[0] == 1, timeout=60)
        with closing(PgConnection(store)) as other:  # another replica's insert, bounded: blocked it would fail
            other.execute("SET lock_timeout = '10s'")
            other.execute("INSERT INTO message (id, received_at, last_received_at, route, mode, status, body_sha256,"
                          " original) VALUES (5, 1, 1, 'default', 'live', 'accepted', 'h5', ?)", (b"<m/>",))
            assert other.execute("SELECT count(*) FROM message").fetchone()[0] == 5
        assert thread.is_alive()  # the build still waits for the open writer
    finally:
        writer.execute("COMMIT")
        thread.join(60)
        writer.close()
        builder.close()
    assert not failed, failed
    assert index_valid(store, "console_message_status_id") == (
        True, "CREATE INDEX console_message_status_id ON public.message USING btree (status, id)")


def test_replicas_build_the_console_indexes_in_turn(server: str, request: pytest.FixtureRequest,
                                                    tmp_path: Path) -> None:
    """While one replica holds the build's lock (building), another waits for it before it looks at an index:
    an index still being built is INVALID too, and two builds of one name collide in the catalog."""
    local = local_console(tmp_path, store=database_for(server, request, "rep"))
    store = str(local.store)
    with closing(PgConnection(store)) as pg:
        pg.execute("DROP INDEX console_message_status_id")
    holder = PgConnection(store)
    holder.execute("SELECT pg_advisory_lock(?)", (queries.BUILD_LOCK,))  # another replica, building
    builder = PgConnection(store, application_name="console-build")
    thread = threading.Thread(target=queries.ensure_pg_indexes, args=(builder, 0.05))
    thread.start()
    try:
        with closing(PgConnection(store)) as look:
            tries = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'console-build' AND query LIKE ?"
            assert wait_for(lambda: look.execute(tries, ("SELECT pg_try_advisory_lock%",)).fetchone()[0] == 1,
                            timeout=60)
        assert index_valid(store, "console_message_status_id") is None and thread.is_alive()
    finally:
        holder.execute("SELECT pg_advisory_unlock(?)", (queries.BUILD_LOCK,))
        thread.join(60)
        holder.close()
        builder.close()
    assert index_valid(store, "console_message_status_id") == (
        True, "CREATE INDEX console_message_status_id ON public.message USING btree (status, id)")
