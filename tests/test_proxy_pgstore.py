"""The sidecar on a shared PostgreSQL store, in-process: two replicas, claims, re-sends, configuration.

The process-level acceptance test (three replicas, one killed) is tests/test_replicas.py; these pin the
parts one at a time: a zaak's chain split over two replicas arrives as one sidecar would send it, a re-send
to the other replica is a duplicate with the first references, a zaak claimed by another replica is not
delivered until it is let go, and a wrong store setting is refused at start.
"""

from __future__ import annotations

import gc
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pg_helpers
import psycopg
import pytest
import test_proxy_ledger
from pg_helpers import fresh_database
from proxy_helpers import Receiver, ServerThread, sample, soap11, variant, wait_for
from test_proxy_ledger import A01, A02, A04, B01, B02, B04, FAST_RETRY, operations, zaak_of

from gateway.deliver import claims
from gateway.mapping import Registry
from gateway.proxy.app import create_app
from gateway.proxy.config import ConfigError
from gateway.proxy.config_file import from_dict
from gateway.proxy.service import Gateway

registry = test_proxy_ledger.registry  # the same fixtures: the sample mappings, a recording downstream
receiver = test_proxy_ledger.receiver


server = pg_helpers.server  # one PostgreSQL server for this module


def config(tmp_path: Path, name: str, downstream: str, store: str | None, **top: Any) -> dict[str, Any]:
    return {"data_dir": str(tmp_path / name), "poll_interval": 0.1, "watch_mappings": False,
            "convert_processes": 0, "retry": FAST_RETRY, "downstreams": {"zs": downstream},
            "routes": {"default": {"mode": "translate", "downstream": "zs"}}, "store": store, **top}


def start(tmp_path: Path, registry: Registry, name: str, downstream: str, store: str | None) -> ServerThread:
    cfg = from_dict(config(tmp_path, name, downstream, store), tmp_path)
    return ServerThread(create_app(cfg, Gateway(cfg, registry))).start()


def post(server: ServerThread, name: str) -> httpx.Response:
    response = httpx.post(server.url + "/soap", content=soap11(sample(name)),
                          headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)
    assert response.status_code == 200, response.text
    return response


CHAIN = (A01, A02, A04, B01, B02, B04)


def test_a_chain_split_over_two_replicas_arrives_as_one_sidecar_sends_it(
        tmp_path: Path, registry: Registry, server: str, receiver: tuple[Receiver, ServerThread]) -> None:
    """Every other message to the other replica: each renders against what the other just committed (a 305
    on replica 2 sets a status on the zaak replica 1 created), and the zaken match a single SQLite sidecar's."""
    rec, down = receiver
    store = fresh_database(server, "split")
    one, two = (start(tmp_path, registry, n, down.url + "/zs", store) for n in ("r1", "r2"))
    try:
        for i, name in enumerate(CHAIN):
            post((one, two)[i % 2], name)
        assert wait_for(lambda: len(rec.received) == 11)
    finally:
        one.stop()
        two.stop()
    split = operations(rec)
    single_rec = Receiver()
    with ServerThread(single_rec.app()) as single_down:
        alone = start(tmp_path, registry, "alone", single_down.url + "/zs", None)
        try:
            for name in CHAIN:
                post(alone, name)
            assert wait_for(lambda: len(single_rec.received) == 11)
        finally:
            alone.stop()
    assert split == operations(single_rec)  # the same zaken, the same operations in the same order
    b_zaak = next(z for z in split if z.startswith("0384B658721123"))
    assert split[b_zaak] == ["creeerZaak", "actualiseerZaakstatus", "actualiseerZaakstatus", "updateZaak",
                             "actualiseerZaakstatus"]
    with psycopg.connect(store) as conn:
        assert conn.execute("SELECT status, count(*) FROM delivery GROUP BY status").fetchall() == [("delivered", 11)]
        assert conn.execute("SELECT count(*) FROM zaak_state").fetchone() == (3,)


def test_a_resend_to_the_other_replica_is_a_duplicate_with_the_first_references(
        tmp_path: Path, registry: Registry, server: str, receiver: tuple[Receiver, ServerThread]) -> None:
    rec, down = receiver
    store = fresh_database(server, "resend")
    one, two = (start(tmp_path, registry, n, down.url + "/zs", store) for n in ("r1", "r2"))
    try:
        first = post(one, A02)
        again = post(two, A02)
        assert first.headers.get("x-overstap-duplicate") is None
        assert again.headers["x-overstap-duplicate"] == "true"
        refs = first.headers["x-overstap-referentienummers"]
        assert again.headers["x-overstap-referentienummers"] == refs
        assert wait_for(lambda: len(rec.received) == 1)
        later = post(two, A04)  # the re-send changed nothing in the ledger: A04 is an update of A02's zaak
        assert wait_for(lambda: len(rec.received) == 3)
    finally:
        one.stop()
        two.stop()
    assert rec.refs()[0] == refs and len(later.headers["x-overstap-referentienummers"].split(",")) == 2
    assert operations(rec)[zaak_of(rec.received[0].body)] == ["creeerZaak", "updateZaak", "actualiseerZaakstatus"]
    with psycopg.connect(store) as conn:
        assert conn.execute("SELECT times_received FROM message ORDER BY id").fetchall() == [(2,), (1,)]


def test_a_zaak_claimed_by_another_replica_waits_for_it(
        tmp_path: Path, registry: Registry, server: str, receiver: tuple[Receiver, ServerThread]) -> None:
    """Hold the claim of the zaak's order key from outside (as a replica delivering it would): the message is
    accepted and stays pending; once the claim is let go the replica's rescan delivers it."""
    rec, down = receiver
    store = fresh_database(server, "claims")
    gw = start(tmp_path, registry, "r1", down.url + "/zs", store)
    holder = psycopg.connect(store, autocommit=True)
    try:
        with psycopg.connect(store) as probe:  # learn the order key of A02's delivery from a first run
            post(gw, A02)
            assert wait_for(lambda: len(rec.received) == 1)
            route, target, order_key = probe.execute("SELECT route, target, order_key FROM delivery").fetchone()
        lid = claims.lock_id(route, target, order_key)
        # the replica lets its claim go once the first delivery's outcome is recorded, just after the receiver has it
        assert wait_for(lambda: holder.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (claims.CLAIM_CLASS, lid)).fetchone() == (True,))
        post(gw, A04)  # the same zaak: the same order key
        assert not wait_for(lambda: len(rec.received) > 1, timeout=1.5)
        holder.execute("SELECT pg_advisory_unlock(%s, %s)", (claims.CLAIM_CLASS, lid))
        assert wait_for(lambda: len(rec.received) == 3, timeout=10)
    finally:
        holder.close()
        gw.stop()
    assert [r.soap_action.strip('"').rpartition("/")[2] for r in rec.received] == [
        "creeerZaak_Lk01", "updateZaak_Lk01", "actualiseerZaakstatus_Lk01"]


def test_store_settings_are_checked_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="postgresql://"):
        from_dict(config(tmp_path, "x", "http://127.0.0.1:9/zs", "mysql://db/overstap"), tmp_path).check()
    console = from_dict(config(tmp_path, "x", "http://127.0.0.1:9/zs", "postgresql://db/overstap",
                               console={"enabled": True}), tmp_path)
    console.check()  # the console on a PostgreSQL store (refused before session 27): tests/test_console_pg.py
    assert console.console.enabled and console.store == "postgresql://db/overstap"


def test_an_unreachable_store_is_named_without_its_password(tmp_path: Path, registry: Registry) -> None:
    cfg = from_dict(config(tmp_path, "x", "http://127.0.0.1:9/zs", "postgresql://ovs:geheim@127.0.0.1:9/overstap"),
                    tmp_path)
    with pytest.raises(RuntimeError) as failed:
        Gateway(cfg, registry)
    assert "postgresql://127.0.0.1:9/overstap" in str(failed.value) and "geheim" not in str(failed.value)


def test_a_replica_whose_database_connections_are_cut_reconnects_and_loses_nothing(
        tmp_path: Path, registry: Registry, server: str, receiver: tuple[Receiver, ServerThread]) -> None:
    """A PostgreSQL restart or failover cuts every connection: a message that finds the outbox connection gone
    is refused (not acknowledged), the next one is stored on a new connection, and the forwarder, whose
    claims went with its connection, claims again and delivers."""
    rec, down = receiver
    store = fresh_database(server, "cut")
    gw = start(tmp_path, registry, "r1", down.url + "/zs", store)
    try:
        post(gw, A02)
        assert wait_for(lambda: len(rec.received) == 1)
        with psycopg.connect(store, autocommit=True) as admin:
            cut = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name ="
                                " 'overstap-sidecar'").fetchall()
        assert len(cut) >= 2  # the outbox writer and the forwarder's reader
        answers = []
        for _ in range(2):
            answers.append(httpx.post(gw.url + "/soap", content=soap11(sample(A04)),
                                      headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30))
        assert [a.status_code for a in answers] in ([500, 200], [200, 200])  # a StUF046 Fault, then accepted
        assert not any("StUF058" in a.text for a in answers)  # a cut store is the store's failure, not a render fault
        assert wait_for(lambda: len(rec.received) == 3, timeout=15)
    finally:
        gw.stop()
    assert [r.soap_action.strip('"').rpartition("/")[2] for r in rec.received] == [
        "creeerZaak_Lk01", "updateZaak_Lk01", "actualiseerZaakstatus_Lk01"]


def test_without_a_failure_three_busy_replicas_send_every_delivery_once_in_order(
        tmp_path: Path, registry: Registry, server: str) -> None:
    """Delivery is at least once only across a failure: while every replica lives, a zaak passing from one
    replica to another must not be sent again (a claim let go before its statuses were committed would)."""
    from test_replicas import BASES, ZaakDownstream, send

    store = fresh_database(server, "busy")
    messages = [[variant(sample(BASES[z % 3]), z * 10 + i, zaak=z) for i in range(10)] for z in range(40)]
    down = ZaakDownstream()
    with ServerThread(down.app()) as ds:
        replicas = [start(tmp_path, registry, f"r{n}", ds.url + "/zs", store) for n in range(3)]
        try:
            sent = send(replicas, messages)  # type: ignore[arg-type]  # anything with a url
            acked = {ref for refs in sent.acks.values() for ref in refs}
            assert wait_for(lambda: acked <= down.refs(), timeout=60)
            time.sleep(0.5)  # a second send of the last ones would be on its way by now
        finally:
            for replica in replicas:
                replica.stop()
    assert not down.refused, down.refused[:3]
    arrived = [a.referentienummer for a in down.arrivals]
    assert len(arrived) == len(set(arrived)) == len(acked)


@pytest.mark.parametrize("verdict", ["delivered", "dead"])
def test_ack_delivered_answers_with_the_verdict_another_replica_stored(
        tmp_path: Path, registry: Registry, server: str, receiver: tuple[Receiver, ServerThread], verdict: str) -> None:
    """``ack: delivered`` on a zaak another replica holds: the sender gets that replica's verdict, read from the
    store (here the test is the other replica: it holds the claim and settles the delivery itself)."""
    import threading

    rec, down = receiver
    store = fresh_database(server, f"verdict_{verdict}")
    doc = config(tmp_path, "r1", down.url + "/zs", store)
    doc["routes"]["default"].update(ack="delivered", ack_timeout=20)
    cfg = from_dict(doc, tmp_path)
    gw = ServerThread(create_app(cfg, Gateway(cfg, registry))).start()
    holder = psycopg.connect(store, autocommit=True)
    try:
        assert post(gw, A02).status_code == 200  # delivered by r1 itself: the zaak's order key is now known
        (route, target, order_key), = holder.execute("SELECT route, target, order_key FROM delivery").fetchall()
        lid = claims.lock_id(route, target, order_key)
        assert wait_for(lambda: holder.execute("SELECT pg_try_advisory_lock(%s, %s)",  # once r1 has let go
                                               (claims.CLAIM_CLASS, lid)).fetchone() == (True,))
        answers: list[httpx.Response] = []
        sender = threading.Thread(target=lambda: answers.append(httpx.post(
            gw.url + "/soap", content=soap11(sample(A04)), headers={"Content-Type": "text/xml"}, timeout=30)))
        sender.start()
        assert wait_for(lambda: holder.execute("SELECT count(*) FROM delivery").fetchone() == (3,))
        time.sleep(0.5)
        assert not answers  # waiting for the verdict of the replica that holds the zaak
        holder.execute("UPDATE delivery SET status = %s, http_status = %s, reason = %s WHERE id > 1",
                       (verdict, 200 if verdict == "delivered" else 500, "Fo03 StUF058 zaak gesloten"))
        sender.join(15)
    finally:
        holder.close()
        gw.stop()
    assert len(rec.received) == 1  # r1 never sent A04's deliveries: the holder did
    if verdict == "delivered":
        assert answers[0].status_code == 200 and b"Bv03Bericht" in answers[0].content
    else:
        assert answers[0].status_code == 500 and b"refused downstream" in answers[0].content
        assert b"zaak gesloten" not in answers[0].content  # the downstream's own words stay in the outbox


class _Interleaved:
    """A store connection that lets a batch shard take a tijdstipBericht right after the replica's first statement
    on the zender's row (the window a read-then-write would leave open)."""

    def __init__(self, conn: Any, take: Any) -> None:
        self.conn, self.take, self.thread = conn, take, None

    def execute(self, sql: str, params: Any = None) -> Any:
        result = self.conn.execute(sql, params)
        if "zender_tijdstip" in sql and self.thread is None:
            self.start()
        return result

    def start(self) -> None:
        import threading

        self.thread = threading.Thread(target=self.take)
        self.thread.start()
        self.thread.join(0.5)  # it may have to wait for the replica's row lock: then it finishes after COMMIT

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def test_a_replica_and_a_batch_shard_on_one_store_never_hand_out_the_same_tijdstip(server: str,
                                                                                     tmp_path: Path) -> None:
    """``batch --shard --state postgresql://`` takes tijdstipBericht from the zender's row in one statement without
    the store's write lock; a replica rendering at the same moment must not give the same value to its message."""
    import datetime as dt

    from gateway.deliver.store import open_store
    from gateway.pgstore.chunked import NEXT_TIJDSTIP
    from gateway.pgstore.conn import PgConnection
    from gateway.proxy.shared_stage import SharedLedgerStage

    store = fresh_database(server, "counter")
    open_store(str(tmp_path), store)  # not ".": it would leave a folder in the checkout
    zender, moment = "0384|OVERSTAP|", dt.datetime(2026, 12, 4, 12, 0, 0)
    shard = psycopg.connect(store, autocommit=True)
    shard.execute("SET TIME ZONE 'UTC'")
    shard.execute(NEXT_TIJDSTIP, (zender, "20261204115959999"))  # the shard was here first
    taken: list[str] = []
    conn = _Interleaved(PgConnection(store), lambda: taken.append(
        shard.execute(NEXT_TIJDSTIP, (zender, "20261204120000000")).fetchone()[0]))
    ledger = SharedLedgerStage(None).ledger  # type: ignore[arg-type]  # the replica's ledger, as the sidecar has it
    try:
        conn.execute("BEGIN IMMEDIATE")
        with ledger.using(conn), ledger.transaction() as tx:
            replica = tx.tijdstip(zender, moment)
        if conn.thread is None:  # one atomic statement: the shard comes after it, and waits for the COMMIT
            conn.start()
        conn.execute("COMMIT")
        assert conn.thread is not None
        conn.thread.join(10)
    finally:
        shard.close()
        conn.close()
    assert replica == "20261204120000000" and taken == ["20261204120000001"]


def refused_as_store_failure(response: httpx.Response) -> None:
    """The answer to a message the store could not take: a StUF046 Fault with Retry-After (the sender offers it
    again; HTTP 500 under the default ``fault_status: soap``, 503 under ``http``), never a render fault."""
    assert response.status_code == 500, response.text
    assert "StUF046" in response.text and "StUF058" not in response.text, response.text
    assert response.headers.get("Retry-After"), response.headers


def test_a_read_only_store_while_rendering_refuses_as_a_store_failure_and_keeps_nothing(
        tmp_path: Path, registry: Registry, server: str, receiver: tuple[Receiver, ServerThread]) -> None:
    """The store turns read-only (a DBA, a managed service's disk-full guard, a connection on a standby). The
    render step writes the ledger inside the store's transaction, so the database error comes up while rendering;
    it is the store's failure, not the message's: 503 StUF046 with Retry-After, not acknowledged, not kept as a
    conversion failure (in translate mode that was quarantine and a 500 StUF058)."""
    _rec, down = receiver
    store = fresh_database(server, "read_only")
    gw = start(tmp_path, registry, "r1", down.url + "/zs", store)
    try:
        post(gw, A01)
        with psycopg.connect(store, autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {store.rsplit('/', 1)[1]} SET default_transaction_read_only = on")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
                          "'overstap-sidecar'")
        answers = [httpx.post(gw.url + "/soap", content=soap11(sample(name)), timeout=30,
                              headers={"Content-Type": "text/xml; charset=utf-8"}) for name in (A02, A02, A04)]
        for answer in answers[1:]:  # the first may find the cut connection (a store failure too)
            refused_as_store_failure(answer)
        assert "StUF046" in answers[0].text, answers[0].text
    finally:
        gw.stop()
    with psycopg.connect(store, autocommit=True) as conn:
        assert conn.execute("SELECT status FROM message").fetchall() == [("accepted",)]


def test_a_store_error_while_rendering_on_a_shadow_route_is_not_acknowledged_unconverted(
        tmp_path: Path, registry: Registry, server: str, receiver: tuple[Receiver, ServerThread]) -> None:
    """On a shadow route a message that does not convert is forwarded as it is (acknowledged, stored unconverted).
    A passing database error while rendering (here: the zaak ledger's table locked by someone else beyond the
    store's lock bound) must not take that path: the message would be acknowledged while the zaak ledger never
    saw it, and every later message of its zaak would be rendered against a stale state. It is refused as a
    store failure instead, and goes through once the lock is gone."""
    _rec, down = receiver
    # the store's lock bound, 500 ms in its URL (which wins over the sidecar's 30 s, docs/deploy-sidecar.md; a
    # database default does not, so the refusal came at the client's own 30 s timeout: a coin toss)
    store = fresh_database(server, "shadow_lock") + "?options=-c%20lock_timeout%3D500ms"
    cfg = from_dict({**config(tmp_path, "r1", down.url + "/zs", store),
                     "routes": {"default": {"mode": "shadow", "downstream": "zs", "legacy_downstream": "zs"}}},
                    tmp_path)
    gw = ServerThread(create_app(cfg, Gateway(cfg, registry))).start()
    try:
        post(gw, A01)
        with psycopg.connect(store) as holder:
            holder.execute("LOCK TABLE zaak_state IN ACCESS EXCLUSIVE MODE")
            answer = httpx.post(gw.url + "/soap", content=soap11(sample(A02)), timeout=30,
                                headers={"Content-Type": "text/xml; charset=utf-8"})
            holder.rollback()
        refused_as_store_failure(answer)
        post(gw, A02)  # offered again: converted against the ledger
    finally:
        gw.stop()
    with psycopg.connect(store, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM message WHERE reason IS NOT NULL").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM message").fetchone() == (2,)


class SilentRelay:
    """A TCP relay to PostgreSQL that, once armed, stops passing the server's answers on after the one that grants
    the write lock (its row description names ``pg_advisory_xact_lock``), keeping both sockets open: to the server,
    a client that went silent holding the lock (a lost machine, a partition: no FIN, no RST)."""

    def __init__(self, port: int) -> None:
        import socket
        import threading

        self.port = port
        self.armed = threading.Event()
        self.silent = threading.Event()
        self.sockets: list[Any] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.address = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: Any) -> None:
        import select
        import socket

        server = socket.create_connection(("127.0.0.1", self.port))
        self.sockets += [client, server]
        try:
            while True:
                ready, _, _ = select.select([client, server], [], [], 0.2)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is server and self.armed.is_set() and b"pg_advisory_xact_lock" in data:
                        self.silent.set()
                    if sock is server and self.silent.is_set():
                        continue  # the answers no longer reach the client
                    (server if sock is client else client).sendall(data)
        except OSError:
            return
        finally:
            client.close()
            server.close()

    def close(self) -> None:
        """Cut every relayed connection (the silent client then sees its connection end) and stop listening."""
        import contextlib
        import socket

        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def test_the_store_sessions_carry_the_lost_peer_bounds_and_the_url_overrides_them(server: str) -> None:
    """Every store connection ends a silent peer's session in bounded time (keepalives both sides, the writer's
    idle-in-transaction and lock bounds); a URL that names its own values keeps them."""
    from gateway.pgstore import PostgresLedger
    from gateway.pgstore.conn import PgConnection

    store = fresh_database(server, "bounds")
    conn = PgConnection(store)
    try:
        shown = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in (
            "idle_in_transaction_session_timeout", "lock_timeout", "tcp_keepalives_idle", "TimeZone")}
        assert shown == {"idle_in_transaction_session_timeout": "15s", "lock_timeout": "30s",
                         "tcp_keepalives_idle": "30", "TimeZone": "UTC"}
        assert conn.raw.info.get_parameters()["keepalives_idle"] == "30"
    finally:
        conn.close()
    own = PgConnection(store + "?keepalives_idle=7&options=-c%20lock_timeout%3D2s")
    try:
        assert own.execute("SHOW lock_timeout").fetchone()[0] == "2s"
        assert own.execute("SHOW idle_in_transaction_session_timeout").fetchone()[0] == "15s"
        assert own.raw.info.get_parameters()["keepalives_idle"] == "7"
    finally:
        own.close()
    ledger = PostgresLedger(store)
    try:
        with ledger.transaction() as tx:
            assert tx.cur.execute("SHOW tcp_keepalives_idle").fetchone()[0] == "30"  # type: ignore[attr-defined]
    finally:
        ledger.close()


def test_a_replica_gone_silent_holding_the_write_lock_stops_the_others_only_for_the_bounds(
        tmp_path: Path, registry: Registry, server: str, receiver: tuple[Receiver, ServerThread]) -> None:
    """Replica A's database connection goes silent right after it took the store's write lock. Replica B must not
    hang behind it until the server's keepalive (~2 h): its wait for the lock is bounded (a StUF046 to offer again,
    with Retry-After), and the server ends A's session once it idles in its transaction past the bound, after
    which B accepts at once. The bounds are set small through the store URL, as an operator would."""
    _rec, down = receiver
    store = fresh_database(server, "partition")
    port, name = int(store.rsplit(":", 1)[1].split("/")[0]), store.rsplit("/", 1)[1]
    bounds = "?options=-c%20idle_in_transaction_session_timeout%3D3s%20-c%20lock_timeout%3D1s"
    relay = SilentRelay(port)
    a = start(tmp_path, registry, "a", down.url + "/zs", f"postgresql://overstap@127.0.0.1:{relay.address}/{name}"
              + bounds)
    b = start(tmp_path, registry, "b", down.url + "/zs", store + bounds)
    try:
        post(a, A01)
        relay.armed.set()
        import threading

        threading.Thread(target=lambda: httpx.post(a.url + "/soap", content=soap11(sample(B01)), timeout=30,
                                                   headers={"Content-Type": "text/xml; charset=utf-8"}),
                         daemon=True).start()
        assert relay.silent.wait(10), "replica A never took the write lock through the relay"
        silent = time.monotonic()
        first = httpx.post(b.url + "/soap", content=soap11(sample(A02)), timeout=20,
                           headers={"Content-Type": "text/xml; charset=utf-8"})
        refused_after = time.monotonic() - silent
        assert refused_after < 3, "replica B waited past its lock bound"
        refused_as_store_failure(first)
        accepted = None
        while accepted is None and time.monotonic() - silent < 10:
            answer = httpx.post(b.url + "/soap", content=soap11(sample(A02)), timeout=20,
                                headers={"Content-Type": "text/xml; charset=utf-8"})
            accepted = answer if answer.status_code == 200 else time.sleep(0.5)
        assert accepted is not None, "replica B still refused after A's session should have ended"
        print(f"\nB refused after {refused_after:.1f} s, accepted {time.monotonic() - silent:.1f} s after silence")
    finally:
        relay.close()
        b.stop()
        a.stop()


def test_a_claim_a_cut_store_kept_from_being_let_go_is_noted_once_not_left_to_asyncio(
        tmp_path: Path, registry: Registry, server: str, receiver: tuple[Receiver, ServerThread],
        caplog: pytest.LogCaptureFixture) -> None:
    """The reader's connection (which holds the claims) is cut while a delivery is out: once it is answered and its
    status committed, the key's release finds the reader's session ended. That failure is the forwarder's to note in
    its own words, once; left in the release task, asyncio reported "Task exception was never retrieved" with a
    traceback. The claim goes with the session the store ended; the replica carries on and delivers. (Cutting the
    writer too no longer reaches the release: since session 27 a status not stored has its delivery taken up
    again, the key busy, and the next claim finds the reader cut: tests/test_waiters_claims.py.)"""
    rec, down = receiver
    rec.delay = 1.5  # the answer comes after the cut
    store = fresh_database(server, "cutrelease")
    caplog.set_level(logging.INFO)
    cfg = from_dict(config(tmp_path, "r1", down.url + "/zs", store, poll_interval=60), tmp_path)
    gw = ServerThread(create_app(cfg, Gateway(cfg, registry))).start()  # no poll uses the reader before the release
    try:
        post(gw, A02)
        assert wait_for(lambda: rec.calls == 1)
        with psycopg.connect(store, autocommit=True) as admin:
            cut = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND"
                                " classid = %s AND granted", (claims.CLAIM_CLASS,)).fetchall()
        assert cut == [(True,)]  # the forwarder's reader, holding the claim
        assert wait_for(lambda: "claim was not let go" in caplog.text, timeout=15), caplog.text[-3000:]
        rec.delay = 0.0
        for _ in range(2):  # the replica carries on: the first may find the writer's connection cut (StUF046)
            httpx.post(gw.url + "/soap", content=soap11(sample(A04)), headers={"Content-Type": "text/xml"}, timeout=30)
        assert wait_for(lambda: len(rec.received) >= 2, timeout=15)  # claimed again on a new reader, sent
    finally:
        gw.stop()
    gc.collect()  # a failed task that nobody asked is reported when it is collected
    noted = [r for r in caplog.records if "claim was not let go" in r.getMessage()]
    assert len(noted) == 1, [r.getMessage() for r in noted]
    assert noted[0].name == "overstap.forwarder"
    assert "never retrieved" not in caplog.text
