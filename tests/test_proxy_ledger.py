"""The sidecar with the zaak ledger (profile zkn v2): chains become ZDS operations a receiver can apply.

Why: a receiving zaaksysteem applies creeerZaak, updateZaak and actualiseerZaakstatus to the zaak it
holds, so per zaak they must arrive in the order the chain happened, each with its own SOAPAction, and
an updateZaak's old values must be what the receiver holds. The ledger must survive a restart and must
never get ahead of the outbox: a message whose outbox write fails leaves the ledger as it was, so the
sender's retry is rendered again (issue 10). Real gateway under uvicorn, real receiver, real SQLite.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree
from proxy_helpers import Receiver, ServerThread, sample, samples_dir, soap11, wait_for

from gateway.mapping import Registry
from gateway.proxy.app import create_app
from gateway.proxy.config import ConfigError
from gateway.proxy.config_file import from_dict
from gateway.proxy.service import Gateway

ZKN = "{http://www.egem.nl/StUF/sector/zkn/0310}"
STUF = "{http://www.egem.nl/StUF/StUF0301}"
ACTION = "http://www.egem.nl/StUF/sector/zkn/0310/{}_Lk01"
A01, A02, A04 = "CasusA-01-WMO315_verzoek.xml", "CasusA-02-WMO301_toewijzing.xml", "CasusA-04-WMO301_intrekking.xml"
B01, B02, B04 = "CasusB-01-WMO301_toewijzing.xml", "CasusB-02-WMO305_start.xml", "CasusB-04-WMO307_stop.xml"
FAST_RETRY = {"base_delay": 0.05, "max_delay": 0.4, "max_attempts": 200, "jitter": 0.5}


@pytest.fixture(scope="module")
def registry() -> Registry:
    samples_dir()
    return Registry()


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, ServerThread]]:
    rec = Receiver()
    server = ServerThread(rec.app()).start()
    yield rec, server
    server.stop()


def start(tmp_path: Path, registry: Registry, downstream: Any, **top: Any) -> tuple[ServerThread, Gateway]:
    doc = {"data_dir": str(tmp_path / "data"), "poll_interval": 0.1, "watch_mappings": False,
           "convert_processes": 0, "retry": FAST_RETRY, "downstreams": {"zs": downstream},
           "routes": {"default": {"mode": "translate", "downstream": "zs"}}, **top}
    cfg = from_dict(doc, tmp_path)
    gw = Gateway(cfg, registry)
    return ServerThread(create_app(cfg, gw)).start(), gw


def post(server: ServerThread, name: str) -> httpx.Response:
    response = httpx.post(server.url + "/soap", content=soap11(sample(name)),
                          headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)
    assert response.status_code == 200, response.text
    return response


def zaak_of(body: bytes) -> str:
    return str(etree.fromstring(body).findtext(f".//{ZKN}object/{ZKN}identificatie"))


def operations(rec: Receiver) -> dict[str, list[str]]:
    """Per zaak, the operations the receiver got, in arrival order, read from the SOAPAction header."""
    out: dict[str, list[str]] = {}
    with rec.lock:
        for item in rec.received:
            action = (item.soap_action or "").strip('"')
            out.setdefault(zaak_of(item.body), []).append(action.rpartition("/")[2].removesuffix("_Lk01"))
    return out


def extra(obj: etree._Element, naam: str) -> str | None:
    found = obj.find(f"{STUF}extraElementen/{STUF}extraElement[@naam='{naam}']")
    return None if found is None else found.text


def ledger_rows(gw: Gateway) -> tuple[int, int]:
    with sqlite3.connect(gw.db_path) as conn:
        return (conn.execute("SELECT count(*) FROM chain_key").fetchone()[0],
                conn.execute("SELECT count(*) FROM zaak_state").fetchone()[0])


def test_chains_arrive_as_zds_operations_in_order_with_their_soap_actions(
        tmp_path: Path, registry: Registry, receiver: tuple[Receiver, ServerThread]) -> None:
    rec, down = receiver
    server, _ = start(tmp_path, registry, down.url + "/zs", convert_processes=1)  # mapping in a worker process
    try:
        for name in (A01, A02, A04, B01, B02, B04):
            post(server, name)
        assert wait_for(lambda: len(rec.received) == 11)
    finally:
        server.stop()
    ops = operations(rec)
    a_zaak = zaak_of(next(r.body for r in rec.received if b"reden_intrekking" in r.body))
    assert ops[a_zaak] == ["creeerZaak", "updateZaak", "actualiseerZaakstatus"]
    b_zaak = next(z for z in ops if z.startswith("0384B658721123"))
    assert ops[b_zaak] == ["creeerZaak", "actualiseerZaakstatus", "actualiseerZaakstatus", "updateZaak",
                           "actualiseerZaakstatus"]
    assert len(ops) == 3  # the 315's aanvraagzaak, the A toewijzing, the B toewijzing: one zaak each
    aanvraag = next(z for z in ops if z not in (a_zaak, b_zaak))
    assert ops[aanvraag] == ["creeerZaak", "updateZaak", "actualiseerZaakstatus"]  # answered by A-02, closed
    for item in rec.received:  # each operation with its own ZDS SOAPAction, as the ZDS WSDL routes it
        operation = etree.fromstring(item.body).findtext(f".//{STUF}mutatiesoort")
        action = (item.soap_action or "").strip('"')
        assert action in {ACTION.format(op) for op in ("creeerZaak", "updateZaak", "actualiseerZaakstatus")}
        assert (operation == "T") == (action == ACTION.format("creeerZaak"))
    update = next(etree.fromstring(r.body) for r in rec.received if "updateZaak" in (r.soap_action or "")
                  and zaak_of(r.body) == a_zaak)
    old, new = update.findall(f".//{ZKN}object")
    assert extra(old, "beschikking.einddatum") == "20161231"  # what CasusA-02 created
    assert extra(new, "beschikking.einddatum") == "20161107"  # what CasusA-04 changed it to
    assert old.findtext(f"{ZKN}einddatum") == "" and new.findtext(f"{ZKN}einddatum") == "20161107"


def test_the_ledger_survives_a_restart(tmp_path: Path, registry: Registry,
                                       receiver: tuple[Receiver, ServerThread]) -> None:
    rec, down = receiver
    server, _ = start(tmp_path, registry, down.url + "/zs")
    post(server, B01)
    post(server, B02)
    assert wait_for(lambda: len(rec.received) == 2)
    server.stop()
    server, _ = start(tmp_path, registry, down.url + "/zs")  # same data dir: same outbox, same ledger
    try:
        post(server, B04)
        assert wait_for(lambda: len(rec.received) == 5)
    finally:
        server.stop()
    ops = operations(rec)
    assert list(ops.values()) == [["creeerZaak", "actualiseerZaakstatus", "actualiseerZaakstatus", "updateZaak",
                                   "actualiseerZaakstatus"]]


def test_a_failed_outbox_write_leaves_the_ledger_unchanged(tmp_path: Path, registry: Registry,
                                                          receiver: tuple[Receiver, ServerThread]) -> None:
    rec, down = receiver
    server, gw = start(tmp_path, registry, down.url + "/zs")
    try:
        post(server, A02)
        assert wait_for(lambda: len(rec.received) == 1)
        before = ledger_rows(gw)
        with sqlite3.connect(gw.db_path) as conn:  # the disk refuses the next delivery row
            conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON delivery BEGIN SELECT RAISE(ABORT, 'disk full');"
                         " END")
        refused = httpx.post(server.url + "/soap", content=soap11(sample(A04)), timeout=30)
        assert refused.status_code == 500 and b"<StUF:code>StUF046</StUF:code>" in refused.content
        assert ledger_rows(gw) == before
        with sqlite3.connect(gw.db_path) as conn:
            state = conn.execute("SELECT state FROM zaak_state").fetchall()
            conn.execute("DROP TRIGGER refuse")
        post(server, A04)  # the sender's retry: rendered again against the unchanged ledger
        assert wait_for(lambda: len(rec.received) == 3)
        with sqlite3.connect(gw.db_path) as conn:
            assert conn.execute("SELECT state FROM zaak_state").fetchall() != state
    finally:
        server.stop()
    assert list(operations(rec).values()) == [["creeerZaak", "updateZaak", "actualiseerZaakstatus"]]


def test_a_message_is_rendered_on_the_event_loop_unless_it_is_large(
        tmp_path: Path, registry: Registry, receiver: tuple[Receiver, ServerThread],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A hand-over to the ledger thread and back costs more server CPU than rendering a typical message; a
    large one still goes to the thread, so it cannot hold up every other answer on the loop."""
    from gateway.proxy import ledgered

    rec, down = receiver
    server, gw = start(tmp_path, registry, down.url + "/zs")
    assert gw.stage is not None
    threads: list[str] = []
    render = gw.stage._render

    def noting(*args: Any) -> Any:
        threads.append(threading.current_thread().name)
        return render(*args)

    monkeypatch.setattr(gw.stage, "_render", noting)
    try:
        post(server, A02)
        monkeypatch.setattr(ledgered, "INLINE_RENDER_BYTES", 100)  # B01 counts as a large message
        post(server, B01)
        assert wait_for(lambda: len(rec.received) == 2)
    finally:
        server.stop()
    assert not threads[0].startswith("ledger") and threads[1].startswith("ledger"), threads


def test_a_resend_is_acknowledged_and_delivers_nothing(
        tmp_path: Path, registry: Registry, receiver: tuple[Receiver, ServerThread]) -> None:
    rec, down = receiver
    server, _ = start(tmp_path, registry, down.url + "/zs")
    try:
        first = post(server, B01)
        again = post(server, B01)  # the same bytes again: the receiver holds this state already
        assert len(first.headers["x-overstap-referentienummers"]) == 36  # one creeerZaak
        # answered with what it became the first time, so the sender can match it: nothing new is rendered
        assert again.headers["x-overstap-referentienummers"] == first.headers["x-overstap-referentienummers"]
        assert again.headers["x-overstap-duplicate"] == "true"
        assert wait_for(lambda: len(rec.received) == 1)
    finally:
        server.stop()
    time.sleep(0.3)
    assert len(rec.received) == 1


def test_soap_actions_per_downstream(tmp_path: Path, registry: Registry,
                                     receiver: tuple[Receiver, ServerThread]) -> None:
    rec, down = receiver
    server, _ = start(tmp_path, registry, {"url": down.url + "/zs",
                                           "soap_actions": {"creeerZaak": "urn:zs:nieuw"}})
    try:
        post(server, A02)
        post(server, A04)
        assert wait_for(lambda: len(rec.received) == 3)
    finally:
        server.stop()
    actions = [(r.soap_action or "").strip('"') for r in rec.received]
    assert actions == ["urn:zs:nieuw", ACTION.format("updateZaak"), ACTION.format("actualiseerZaakstatus")]


def test_zaaktype_catalogue_and_parties_come_from_the_serve_config(
        tmp_path: Path, registry: Registry, receiver: tuple[Receiver, ServerThread]) -> None:
    rec, down = receiver
    render = {"ontvanger": {"organisatie": "1900", "applicatie": "MIJNZAKEN"},
              "zaaktypen": {"wmo.toewijzing": {"code": "B1234", "omschrijving": "Wmo-maatwerkvoorziening",
                                               "ingangsdatum": "20240101"}}}
    server, _ = start(tmp_path, registry, down.url + "/zs", render=render)
    try:
        post(server, A02)
        assert wait_for(lambda: len(rec.received) == 1)
    finally:
        server.stop()
    zak = etree.fromstring(rec.received[0].body)
    assert zak.findtext(f".//{ZKN}stuurgegevens/{STUF}ontvanger/{STUF}applicatie") == "MIJNZAKEN"
    assert zak.findtext(f".//{ZKN}stuurgegevens/{STUF}ontvanger/{STUF}organisatie") == "1900"
    assert zak.findtext(f".//{ZKN}isVan/{ZKN}gerelateerde/{ZKN}code") == "B1234"
    assert zak.findtext(f".//{ZKN}isVan/{ZKN}gerelateerde/{ZKN}ingangsdatumObject") == "20240101"
    with pytest.raises(ConfigError, match=r"routes.default.render.zaaktypen.wmo.toewijzing: expected at least code"):
        from_dict({"data_dir": str(tmp_path / "d2"), "downstreams": {"zs": down.url},
                   "routes": {"default": {"downstream": "zs", "render": {"zaaktypen": {"wmo.toewijzing": {}}}}}})


@pytest.mark.parametrize("mode", ["translate", "shadow"])
def test_a_sqlite_error_while_rendering_is_a_store_failure_not_a_conversion_failure(
        tmp_path: Path, registry: Registry, receiver: tuple[Receiver, ServerThread], mode: str) -> None:
    """The embedded store has the same hole as the shared one: the render step reads the zaak ledger from the
    outbox file, and a SQLite error there (disk I/O, a damaged page) is the store failing, not the message. It
    is refused as a store failure (StUF046 with Retry-After, nothing kept), not quarantined as a render fault
    (translate) nor acknowledged unconverted past the zaak ledger (shadow); offered again, it converts."""
    import sqlite3

    _rec, down = receiver
    legacy = {"legacy_downstream": "zs"} if mode == "shadow" else {}
    routes = {"default": {"mode": mode, "downstream": "zs", **legacy}}
    server, gw = start(tmp_path, registry, down.url + "/zs", routes=routes)
    try:
        post(server, B01)
        ledger = gw.stage.ledger
        real = ledger.read
        failures = iter([sqlite3.OperationalError("disk I/O error")])

        def read(sql: str, args: tuple[str, ...]) -> Any:
            failure = next(failures, None)
            if failure is not None:
                raise failure
            return real(sql, args)

        ledger.read = read  # type: ignore[method-assign]
        answer = httpx.post(server.url + "/soap", content=soap11(sample(B02)), timeout=30,
                            headers={"Content-Type": "text/xml; charset=utf-8"})
        assert "StUF046" in answer.text and "StUF058" not in answer.text, answer.text
        assert answer.headers.get("Retry-After")
        post(server, B02)
    finally:
        server.stop()
    with sqlite3.connect(tmp_path / "data" / "outbox.sqlite3") as conn:
        assert conn.execute("SELECT count(*), count(reason) FROM message").fetchone() == (2, 0)
