"""Shared by the console tests: a gateway with the console on, two accounts, the A/B sample chains posted."""

from __future__ import annotations

import json
import re
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pg_helpers import database_for
from proxy_helpers import Receiver, ServerThread, Start, sample, soap11, wait_for
from starlette.applications import Starlette
from starlette.routing import Mount

if TYPE_CHECKING:
    from starlette.testclient import TestClient
from gateway.console.settings import hash_password
from gateway.deliver import outbox

CHAINS = ("CasusA-01-WMO315_verzoek.xml", "CasusA-02-WMO301_toewijzing.xml", "CasusA-04-WMO301_intrekking.xml",
          "CasusB-01-WMO301_toewijzing.xml", "CasusB-02-WMO305_start.xml", "CasusB-04-WMO307_stop.xml")
BSN = "123456782"
"""The client of every public sample: it must never appear in full outside a payload view."""
ADMIN_KEY = "console-admin-key"
USERS = {"vera": ("kijken-mag", "viewer"), "otto": ("herstellen-mag", "operator")}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def console_config() -> dict[str, object]:
    """Cheap hashes (1000 rounds) keep the tests fast; production hashes use the default 200,000."""
    return {"enabled": True, "secret": "test-secret",
            "users": {n: {"password": hash_password(p, iterations=1000), "role": r} for n, (p, r) in USERS.items()}}


@dataclass
class Running:
    gateway: ServerThread
    downstream: ServerThread
    receiver: Receiver

    @property
    def console(self) -> str:
        return self.gateway.url + "/console"


def start_with_chains(start: Start, receiver: Receiver, downstream: ServerThread, **top: Any) -> Running:
    """A gateway (profile zkn v2, ledger on) whose downstream answers as ``receiver`` says; A and B posted. ``top``:
    more of the serve config (``store=URL`` for a PostgreSQL store)."""
    server, _gw = start({"default": {"downstream": downstream.url + "/zs"}}, {}, admin_key=ADMIN_KEY,
                        console=console_config(), **top)
    for name in CHAINS:
        r = httpx.post(server.url + "/soap", content=soap11(sample(name)),
                       headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)
        assert r.status_code == 200, r.text
    return Running(server, downstream, receiver)


@contextmanager
def failing_chains(start: Start, **top: Any) -> Iterator[Running]:
    """The chains posted while the downstream refuses everything with a Fo03: every delivery a dead letter."""
    rec = Receiver(behaviour="fo")
    with ServerThread(rec.app()) as ds:
        running = start_with_chains(start, rec, ds, **top)
        wait_settled(running)
        yield running


def settled(running: Running) -> bool:
    """True when no delivery is pending any more (all delivered or dead)."""
    r = httpx.get(running.gateway.url + "/admin/outbox", headers={"X-Admin-Key": ADMIN_KEY}, timeout=10)
    return not any(d["status"] == "pending" and d["count"] for d in r.json()["deliveries"])


def wait_settled(running: Running) -> None:
    assert wait_for(lambda: settled(running), timeout=60)


def login(base: str, user: str, password: str | None = None) -> httpx.Client:
    """A client with a session cookie for ``user`` (the login form, CSRF token and all)."""
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    page = client.get("/console/login")
    token = CSRF.search(page.text)
    assert token, page.text
    secret = password if password is not None else USERS[user][0]
    r = client.post("/console/login", data={"csrf": token.group(1), "user": user, "password": secret})
    assert r.status_code == 303, r.text
    return client


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, html
    return found.group(1)


@dataclass
class Local:
    """A console over a real outbox in a temporary data_dir, served in process by Starlette's TestClient (no sidecar,
    no socket), so a test can pick the peer address and the scheme, and change rows between two requests."""

    folder: Path
    db: Path
    app: Starlette
    store: str | None = None
    """The PostgreSQL store the console reads (``db`` then holds its sessions only)."""

    def client(self, base_url: str = "http://127.0.0.1", peer: str = "127.0.0.1") -> TestClient:
        with warnings.catch_warnings():  # starlette warns that its TestClient will move off httpx
            warnings.simplefilter("ignore")
            from starlette.testclient import TestClient
        return TestClient(self.app, base_url=base_url, client=(peer, 50000), follow_redirects=False)

    def login(self, user: str, password: str | None = None, **client: str) -> TestClient:
        c = self.client(**client)
        token = csrf_of(c.get("/console/login").text)
        secret = password if password is not None else USERS[user][0]
        r = c.post("/console/login", data={"csrf": token, "user": user, "password": secret})
        assert r.status_code == 303, r.text
        return c

    def sql(self, statement: str, *args: object) -> list[tuple[object, ...]]:
        """A statement on the outbox the console reads (``?`` placeholders on either backend)."""
        if self.store is not None:
            from gateway.pgstore.conn import PgConnection

            with closing(PgConnection(self.store)) as pg:
                cursor = pg.execute(statement, args)
                return [tuple(r) for r in cursor.fetchall()] if cursor.description else []
        with closing(sqlite3.connect(self.db)) as conn, conn:
            return [tuple(r) for r in conn.execute(statement, args)]


def _four_messages(conn: Any) -> None:
    """The rows of :func:`local_console` (``?`` placeholders: a sqlite3 or a PgConnection)."""
    now = time.time()
    original = f"<m xmlns='http://www.istandaarden.nl/iwmo/3_2/wmo301/schema/3_2'><Bsn>{BSN}</Bsn></m>".encode()
    for i, status in ((1, "accepted"), (2, "accepted"), (3, "quarantined"), (4, "accepted")):
        conn.execute("INSERT INTO message (id, received_at, last_received_at, route, mode, status, body_sha256,"
                     " original) VALUES (?, ?, ?, 'default', 'live', ?, ?, ?)",
                     (i, now - 100 + i, now - 100 + i, status, f"h{i}", original))
    for i, status in ((1, "dead"), (2, "delivered"), (4, "pending")):
        conn.execute("INSERT INTO delivery (id, message_id, route, target, referentienummer, order_key, zaak,"
                     " payload, content_type, status, created_at, next_at, updated_at) VALUES (?, ?, 'default',"
                     " 'zaken', ?, 'k', 'Z-1', ?, 'text/xml', ?, ?, ?, ?)",
                     (i, i, f"R{i}", b"<p/>", status, now - 50, now - 50, now - 50))
    conn.execute("INSERT INTO zaak_state (zaak, state, updated_at) VALUES ('Z-1', ?, '2026-01-01')",
                 (json.dumps({"initiator": {"bsn": BSN}}),))


def local_console(folder: Path, block: dict[str, object] | None = None, admin_key: str | None = ADMIN_KEY,
                  db: Path | None = None, store: str | None = None, **backend: Any) -> Local:
    """The console (``console_config()`` updated with ``block``) over an outbox with four messages: 1 with a dead
    letter, 2 delivered, 3 quarantined, 4 with a pending delivery; a ledger zaak of client :data:`BSN`. With ``db``,
    over that outbox as it is (a restart with other settings). With ``store``, over that empty PostgreSQL database
    (filled with the same rows), the console's sessions in ``folder``."""
    from gateway.console.app import Backend, create_console
    from gateway.console.sessions import OWN_FILE
    from gateway.console.settings import parse

    if store is not None:
        from gateway.deliver.store import open_store
        from gateway.pgstore.conn import PgConnection

        open_store(folder, store)
        with closing(PgConnection(store)) as pg:
            _four_messages(pg)
        folder.mkdir(parents=True, exist_ok=True)
        db = folder / OWN_FILE
    elif db is None:
        db = outbox.open_db(folder)
        with closing(sqlite3.connect(db)) as conn, conn:
            conn.execute("CREATE TABLE IF NOT EXISTS zaak_state (zaak TEXT PRIMARY KEY, state TEXT NOT NULL,"
                         " updated_at TEXT NOT NULL)")
            _four_messages(conn)

    async def replay(ids: list[int]) -> list[Any]:
        return [SimpleNamespace(id=i, ok=True, note="queued") for i in ids]

    settings = parse({**console_config(), **(block or {})})
    console = create_console(settings, Backend(db, replay, admin_key, replay_quarantined=replay, store=store,
                                               **backend))
    return Local(folder, db, Starlette(routes=[Mount("/console", console)]), store)


HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden fields of the page's last POST form: what a browser sends back when it is submitted."""
    form = html.rsplit('<form method="post"', 1)[1].split("</form>")[0]
    return dict(HIDDEN.findall(form))


MakeLocal = Callable[..., "Local"]


@pytest.fixture(params=["sqlite", "postgresql"])
def make(request: pytest.FixtureRequest, tmp_path: Path) -> MakeLocal:
    """A local console over the four messages of ``local_console``, on either store (a test module imports it)."""
    if request.param == "sqlite":
        return lambda block=None: local_console(tmp_path, block)
    url = database_for(request.getfixturevalue("server"), request, "con")
    return lambda block=None: local_console(tmp_path, block, store=url)


def import_audit(*args: str) -> tuple[int, str, str]:
    """``overstap console import-audit ARGS`` in process: exit code, stdout, stderr."""
    from click.testing import CliRunner

    from gateway.cli import main

    result = CliRunner().invoke(main, ["console", "import-audit", *args])
    return result.exit_code, result.stdout, result.stderr
