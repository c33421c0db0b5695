"""The ISD-keten's Fo01 on a ggk route: kept, matched to the Di01 it refuses, that delivery a dead letter.

Why: the chain is asynchronous (GGk spec 2.3): it takes a Di01 with a Bv03 and refuses it later in a StUF Fo01
whose crossRefnummer is the Di01's referentienummer. The sidecar answered such a Fo01 with a Fo03 ("unknown
dialect"), quarantined it as a message it could not read, and left the Di01 ``delivered``: nobody saw that the
chain had refused it. Each test runs ``overstap serve`` as a real process, a real downstream on 127.0.0.1 playing
the chain, and reads the outbox through the real ``overstap outbox`` CLI.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import uuid
from pathlib import Path

import httpx
import pg_helpers
import pytest
from lxml import etree
from pg_helpers import database_for
from proxy_helpers import (
    ROOT,
    GatewayProcess,
    Receiver,
    ServerThread,
    free_port,
    metric,
    overstap_command,
    sample,
    soap11,
    soap12,
    variant,
    wait_for,
)
from test_ggk_shells import RETOUR, cross_ref, heen

from gateway.deliver import outbox

STUF = "{http://www.egem.nl/StUF/StUF0301}"
ACTION = "http://www.egem.nl/StUF/StUF0301/Fo01"
BSN = "123456782"
FO01 = """<StUF:Fo01Bericht xmlns:StUF="http://www.egem.nl/StUF/StUF0301"><StUF:stuurgegevens>
<StUF:berichtcode>Fo01</StUF:berichtcode>
<StUF:zender><StUF:organisatie>IB</StUF:organisatie><StUF:applicatie>GGk</StUF:applicatie></StUF:zender>
<StUF:ontvanger><StUF:organisatie>0384</StUF:organisatie><StUF:applicatie>OVERSTAP</StUF:applicatie></StUF:ontvanger>
<StUF:referentienummer>{ref}</StUF:referentienummer><StUF:tijdstipBericht>20261206120000000</StUF:tijdstipBericht>
<StUF:crossRefnummer>{cross}</StUF:crossRefnummer></StUF:stuurgegevens>
<StUF:body><StUF:code>IB001</StUF:code><StUF:plek>{plek}</StUF:plek>
<StUF:omschrijving>Client met BSN {bsn} onbekend bij het Inlichtingenbureau</StUF:omschrijving>
<StUF:details>AfgekeurdIB</StUF:details></StUF:body></StUF:Fo01Bericht>"""
_REF = re.compile(rb"<StUF:referentienummer>([^<]+)</StUF:referentienummer>")
_TIJDSTIP = re.compile(rb"<StUF:tijdstipBericht>([^<]+)</StUF:tijdstipBericht>")
_BERICHT = re.compile(rb"<GGK:bericht[^>]*>([^<]+)</GGK:bericht>")


def fo01(cross: str, ref: str | None = None, plek: str = "client") -> tuple[str, bytes]:
    """(its referentienummer, a Fo01 of the chain refusing the envelope ``cross``, with a BSN in its text)."""
    ref = ref or str(uuid.uuid4())
    return ref, FO01.format(ref=ref, cross=cross, plek=plek, bsn=BSN).encode()


server = pg_helpers.server  # one PostgreSQL server for this module, started only by the test that asks for it


def cli(data: Path | str, *args: str) -> str:
    """``overstap outbox <args> --data-dir <data>`` (``--store <url>`` for a postgresql:// URL) as an operator runs
    it; its output."""
    where = ["--store", data] if isinstance(data, str) else ["--data-dir", str(data)]
    done = subprocess.run([*overstap_command(), "outbox", *args, *where], cwd=ROOT,
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def deliveries(data: Path | str) -> dict[str, dict[str, object]]:
    """referentienummer -> the delivery as ``outbox list --json`` shows it."""
    return {d["referentienummer"]: d for d in json.loads(cli(data, "list", "--json"))}


def answer_of(response: httpx.Response) -> etree._Element:
    """The StUF message in the sidecar's SOAP answer."""
    return etree.fromstring(response.content)[-1][0]


def di01_ref(received: bytes) -> str:
    found = _REF.search(received)
    assert found is not None
    return found.group(1).decode()


def stamps(received: bytes) -> tuple[str, str, bytes]:
    """(referentienummer, tijdstipBericht, base64 payload) of a Di01 the chain got."""
    found = [pattern.findall(received) for pattern in (_REF, _TIJDSTIP, _BERICHT)]
    assert [len(f) for f in found] == [1, 1, 1], found
    return found[0][0].decode(), found[1][0].decode(), found[2][0]


def same_but_stamps(old: bytes, new: bytes) -> bool:
    """Whether two Di01s differ in their referentienummer and tijdstipBericht only (payload, parties, CR LF)."""
    (ref, tijdstip, _), (new_ref, new_tijdstip, _) = stamps(old), stamps(new)
    return new.replace(new_ref.encode(), ref.encode()).replace(new_tijdstip.encode(), tijdstip.encode()) == old


def counters(db: Path) -> dict[str, str]:
    """The zaak ledger's last tijdstipBericht per zender (organisatie/applicatie) in the outbox file."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return dict(conn.execute("SELECT zender, tijdstip FROM zender_tijdstip").fetchall())
    finally:
        conn.close()


def one_di01(gw: GatewayProcess, chain: Receiver) -> str:
    """Send the 301 sample through the ggk route; the referentienummer of the Di01 the chain got."""
    assert httpx.post(gw.url + "/soap", content=sample(), timeout=30).status_code == 200
    assert wait_for(lambda: len(chain.received) == 1)
    return di01_ref(chain.received[0].body)


def serve(tmp_path: Path, downstream: str, *more: str) -> GatewayProcess:
    """``overstap serve --profile ggk``: its one route sends every message to the chain as a Di01 (``more``: other
    flags, e.g. ``--store URL`` for a shared PostgreSQL store, ``--admin-key``)."""
    return GatewayProcess(["--data-dir", str(tmp_path / "data"), "--downstream", downstream, "--profile", "ggk",
                           "--convert-processes", "0", "--log-level", "info", *more], free_port(),
                          tmp_path / "gateway.log").start()


def serve_routes(tmp_path: Path, downstreams: dict[str, str], routes: dict[str, dict[str, str]]) -> GatewayProcess:
    """``overstap serve --config`` with these downstreams and routes, its outbox in ``tmp_path/data``."""
    config = tmp_path / "serve.yaml"
    config.write_text(json.dumps({"data_dir": str(tmp_path / "data"), "convert_processes": 0,
                                  "downstreams": downstreams, "routes": routes}))
    return GatewayProcess(["--config", str(config), "--log-level", "info"], free_port(),
                          tmp_path / "gateway.log").start()


def test_a_chain_fo01_makes_the_di01_it_refuses_a_dead_letter(tmp_path: Path) -> None:
    """Two 301s go out as Di01s; the chain refuses the first in a Fo01. The Bv03 comes once the Fo01 and its effect
    are stored (a SIGKILL right after it loses neither); the first delivery is dead with the chain's reason, BSN
    masked, the second untouched; nothing goes downstream; a replay sends the Di01 again in a new envelope; the
    same Fo01 offered again is counted and leaves the replayed delivery alone."""
    chain = Receiver()
    data = tmp_path / "data"
    with ServerThread(chain.app()) as ds:
        gw = serve(tmp_path, ds.url + "/isd")
        try:
            for n in (1, 2):
                sent = httpx.post(gw.url + "/soap", content=variant(sample(), n), timeout=30)
                assert sent.status_code == 200, sent.text
            assert wait_for(lambda: len(chain.received) == 2)
            first, second = (di01_ref(r.body) for r in chain.received)
            ref, message = fo01(first)
            answer = httpx.post(gw.url + "/soap", content=soap11(message), timeout=30,
                                headers={"SOAPAction": ACTION, "Content-Type": "text/xml; charset=utf-8"})
            assert answer.status_code == 200, answer.text
            bv = answer_of(answer)
            assert etree.QName(bv).localname == "Bv03Bericht"
            assert bv.findtext(f"{STUF}stuurgegevens/{STUF}crossRefnummer") == ref
            assert bv.findtext(f"{STUF}stuurgegevens/{STUF}ontvanger/{STUF}organisatie") == "IB"
            assert metric(gw.url, "overstap_chain_faults_total", outcome="dead_letter") == 1
            assert metric(gw.url, "overstap_dead_lettered_total") == 1
            offered_again = httpx.post(gw.url + "/soap", content=soap11(message), timeout=30,
                                       headers={"SOAPAction": ACTION, "Content-Type": "text/xml; charset=utf-8"})
            assert offered_again.status_code == 200 and offered_again.headers["x-overstap-duplicate"] == "true"
            assert metric(gw.url, "overstap_chain_faults_total", outcome="repeat") == 1  # counted, not marked again
            assert metric(gw.url, "overstap_chain_faults_total", outcome="dead_letter") == 1
            assert metric(gw.url, "overstap_dead_lettered_total") == 1
            gw.kill()  # at once: what the Bv03 promised must be on disk
        finally:
            gw.terminate()
        assert len(chain.received) == 2  # a Fo01 is never forwarded
        listed = deliveries(data)
        assert listed[first]["status"] == outbox.DEAD
        assert listed[first]["reason"] == ("refused by the chain: Fo01 IB001 client: Client met BSN *******82 "
                                           "onbekend bij het Inlichtingenbureau: AfgekeurdIB")
        assert listed[first]["reply_code"] == "Fo01 IB001"
        assert listed[second]["status"] == outbox.DELIVERED
        kept = answer.headers["x-overstap-message"]
        shown = cli(data, "show", kept, "--message")
        assert ref in shown and "refused by the chain: Fo01 IB001" in shown
        assert f"delivery {listed[first]['id']}" in shown
        log = (tmp_path / "gateway.log").read_text()
        assert f"Fo01 IB001 {ref}" in log and BSN not in log and "Inlichtingenbureau" not in log

        assert "1 replayed, 0 not" in cli(data, "replay", str(listed[first]["id"]))
        gw = serve(tmp_path, ds.url + "/isd")
        try:
            assert wait_for(lambda: len(chain.received) == 3)
            renewed = di01_ref(chain.received[2].body)
            assert renewed != first  # the chain holds the first envelope (IB216, CC08): a new one
            assert wait_for(lambda: deliveries(data)[renewed]["status"] == outbox.DELIVERED)
            again = httpx.post(gw.url + "/soap", content=soap11(message), timeout=30)
            assert again.status_code == 200 and again.headers["x-overstap-duplicate"] == "true"
            assert deliveries(data)[renewed]["status"] == outbox.DELIVERED
        finally:
            gw.terminate()


def test_a_fo01_that_names_nothing_sent_is_kept_in_quarantine(tmp_path: Path) -> None:
    """A Fo01 (in SOAP 1.2) about an envelope this gateway never sent: answered in SOAP 1.2 and kept, with why."""
    chain = Receiver()
    data = tmp_path / "data"
    with ServerThread(chain.app()) as ds:
        gw = serve(tmp_path, ds.url + "/isd")
        try:
            one_di01(gw, chain)
            stranger = str(uuid.uuid4())
            ref, message = fo01(stranger)
            answer = httpx.post(gw.url + "/soap", content=soap12(message), timeout=30,
                                headers={"Content-Type": "application/soap+xml"})
            assert answer.status_code == 200, answer.text
            assert answer.content.count(b"http://www.w3.org/2003/05/soap-envelope") == 1
            assert answer_of(answer).findtext(f"{STUF}stuurgegevens/{STUF}crossRefnummer") == ref
            assert metric(gw.url, "overstap_chain_faults_total", outcome="quarantined") == 1
        finally:
            gw.terminate()
    (kept,) = json.loads(cli(data, "list", "--quarantine", "--json"))
    assert kept["id"] == int(answer.headers["x-overstap-quarantine"]) and kept["source_ref"] == ref
    assert kept["reason"].startswith("refused by the chain: Fo01 IB001 client: Client met BSN *******82")
    assert kept["reason"].endswith(f"about referentienummer {stranger}, which names no delivery this gateway sent")
    assert [d["status"] for d in deliveries(data).values()] == [outbox.DELIVERED]
    assert len(chain.received) == 1


@pytest.mark.parametrize(("cross", "plek", "field"), [
    ("REF-0001", "client", "stuurgegevens.crossRefnummer"),  # a Refnummer to the schema, no UUID to GGk (spec 2.4)
    (None, "elders", "Fo01Bericht"),  # plek is client or server (StUF 03.01 schema)
])
def test_a_fo01_that_is_no_valid_fo01_is_refused_and_kept(tmp_path: Path, cross: str | None, plek: str,
                                                          field: str) -> None:
    """A Fo01 that fails the StUF 03.01 schema or a GGk stuurgegevens rule: Fo03 (StUF055, in a SOAP Fault),
    quarantined; the Di01 it names stays as it was."""
    chain = Receiver()
    data = tmp_path / "data"
    with ServerThread(chain.app()) as ds:
        gw = serve(tmp_path, ds.url + "/isd")
        try:
            sent = one_di01(gw, chain)
            ref, message = fo01(cross or sent, plek=plek)
            answer = httpx.post(gw.url + "/soap", content=message, timeout=30)
            assert answer.status_code == 500, answer.text  # a SOAP Fault, its Fo03 in the detail
            fo = next(etree.fromstring(answer.content).iter(f"{STUF}Fo03Bericht"))
            assert fo.findtext(f"{STUF}body/{STUF}code") == "StUF055"
            assert fo.findtext(f"{STUF}stuurgegevens/{STUF}crossRefnummer") == ref  # answered to whom it came from
            assert fo.findtext(f"{STUF}stuurgegevens/{STUF}ontvanger/{STUF}organisatie") == "IB"
        finally:
            gw.terminate()
    (kept,) = json.loads(cli(data, "list", "--quarantine", "--json"))
    assert kept["fault_field"] == field and kept["fault_code"] == "StUF055"
    assert deliveries(data)[sent]["status"] == outbox.DELIVERED


def test_a_fo01_is_stored_before_its_bv03(tmp_path: Path) -> None:
    """Another connection finds the Fo01 and the dead letter committed the moment the Bv03 arrives."""
    chain = Receiver()
    db = tmp_path / "data" / outbox.DB_NAME
    with ServerThread(chain.app()) as ds:
        gw = serve(tmp_path, ds.url + "/isd")
        try:
            sent = one_di01(gw, chain)
            ref, message = fo01(sent)
            assert httpx.post(gw.url + "/soap", content=message, timeout=30).status_code == 200
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
            try:
                assert conn.execute("SELECT status FROM message WHERE source_ref = ?", (ref,)).fetchall() == \
                    [(outbox.ACCEPTED,)]
                assert conn.execute("SELECT status FROM delivery WHERE referentienummer = ?", (sent,)).fetchall() == \
                    [(outbox.DEAD,)]
            finally:
                conn.close()
        finally:
            gw.terminate()


def test_a_fo01_finds_only_what_went_to_the_chain(tmp_path: Path) -> None:
    """A zkn route's zakLk01 also goes out under a UUID; a Fo01 on the ggk route that names it refuses nothing of
    the chain's and is quarantined: the zaaksysteem's delivery stays delivered."""
    zaken, chain = Receiver(), Receiver()
    data = tmp_path / "data"
    with ServerThread(zaken.app()) as zs, ServerThread(chain.app()) as isd:
        gw = serve_routes(tmp_path, {"zs": zs.url + "/zs", "isd": isd.url + "/isd"},
                          {"default": {"downstream": "zs"}, "isd": {"downstream": "isd", "profile": "ggk"}})
        try:
            assert httpx.post(gw.url + "/soap", content=sample(), timeout=30).status_code == 200
            assert wait_for(lambda: len(zaken.received) == 1)
            zaak_ref = zaken.received[0].referentienummer
            uuid.UUID(zaak_ref)  # a UUID like a Di01's: only the route tells them apart
            _ref, message = fo01(zaak_ref)
            answer = httpx.post(gw.url + "/soap/isd", content=message, timeout=30)
            assert answer.status_code == 200 and "x-overstap-quarantine" in answer.headers, answer.text
        finally:
            gw.terminate()
    assert deliveries(data)[zaak_ref]["status"] == outbox.DELIVERED
    assert len(json.loads(cli(data, "list", "--quarantine", "--json"))) == 1


def test_a_fo01_on_a_postgresql_store(server: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Replicas share a PostgreSQL store: the Fo01 is kept and the Di01 marked there, the same as in SQLite."""
    url = database_for(server, request, "fo")
    chain = Receiver()
    with ServerThread(chain.app()) as ds:
        gw = serve(tmp_path, ds.url + "/isd", "--store", url)
        try:
            sent = one_di01(gw, chain)
            _ref, message = fo01(sent)
            assert httpx.post(gw.url + "/soap", content=message, timeout=30).status_code == 200
            stranger, other = fo01(str(uuid.uuid4()))
            assert "x-overstap-quarantine" in httpx.post(gw.url + "/soap", content=other, timeout=30).headers
        finally:
            gw.terminate()
    listed = deliveries(url)
    assert listed[sent]["status"] == outbox.DEAD and str(listed[sent]["reason"]).startswith(
        "refused by the chain: Fo01 IB001 client: Client met BSN *******82")
    assert [q["source_ref"] for q in json.loads(cli(url, "list", "--quarantine", "--json"))] == [stranger]


def test_without_the_stuf_schema_a_fo01_is_not_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unchecked, a Fo01 could make any delivery dead: without stuf0301.xsd in the reference folder it is refused
    as the server's fault (the sidecar quarantines it, StUF058), never taken on trust."""
    from gateway.ingest.fo01 import SchemaMissing, read_fo01
    from gateway.reference import ENV

    _ref, message = fo01(str(uuid.uuid4()))
    assert read_fo01(message, "fo01", 1 << 20).code == "IB001"
    monkeypatch.setenv(ENV, str(tmp_path))
    with pytest.raises(SchemaMissing, match=re.escape("ggk/0301/stuf0301.xsd not found")):
        read_fo01(message, "fo01", 1 << 20)


def refuse(gw: GatewayProcess, cross: str) -> httpx.Response:
    """The chain's Fo01 (a new one, its own referentienummer) about the envelope ``cross``, as the sidecar answers."""
    _ref, message = fo01(cross)
    answer = httpx.post(gw.url + "/soap", content=soap11(message), timeout=30,
                        headers={"SOAPAction": ACTION, "Content-Type": "text/xml; charset=utf-8"})
    assert answer.status_code == 200, answer.text
    return answer


def test_a_replay_after_a_fo01_goes_in_a_new_envelope(tmp_path: Path) -> None:
    """Why: the chain holds every envelope it took under zender and UUID and refuses the same UUID again (IB216,
    CC08; StUF 03.01 4.4: the sender fixes its problem and makes a new message with a new referentienummer and
    tijdstipBericht). The replayed Di01 reaches the chain under a new UUID, a later tijdstipBericht, byte for byte
    the rest; the outbox row follows it; a Fo01 naming the old UUID is a repeat, one naming the
    new UUID makes it dead again; the CLI beside the serving sidecar refuses it (the sidecar stamps ahead)."""
    chain = Receiver()
    data = tmp_path / "data"
    db = data / outbox.DB_NAME
    with ServerThread(chain.app()) as ds:
        gw = serve(tmp_path, ds.url + "/isd")
        try:
            first = one_di01(gw, chain)
            delivery_id = int(refuse(gw, first).headers["x-overstap-delivery"])
        finally:
            gw.terminate()
        (zender,) = counters(db)
        conn = sqlite3.connect(db)  # the counter ahead of the clock (a burst, a clock set back): it is the rule
        with conn:
            conn.execute("UPDATE zender_tijdstip SET tijdstip = '20991231235959998'")
        conn.close()
        out = cli(data, "replay", str(delivery_id))
        listed = deliveries(data)
        (renewed,) = (ref for ref, d in listed.items() if d["id"] == delivery_id)
        assert renewed != first and first not in listed and listed[renewed]["status"] == outbox.PENDING
        assert f"queued again in a new envelope {renewed} (was {first})" in out
        assert listed[renewed]["reason"] == (f"replayed in a new envelope {renewed} (was {first}): refused by the "
                                             "chain: Fo01 IB001 client: Client met BSN *******82 onbekend bij het "
                                             "Inlichtingenbureau: AfgekeurdIB")
        assert counters(db) == {zender: "20991231235959999"}
        gw = serve(tmp_path, ds.url + "/isd")
        try:
            assert wait_for(lambda: len(chain.received) == 2)
            old, new = (r.body for r in chain.received)
            assert stamps(new)[0] == renewed and stamps(new)[1] == "20991231235959999" > stamps(old)[1]
            assert stamps(new)[2] == stamps(old)[2] and same_but_stamps(old, new)
            assert wait_for(lambda: deliveries(data)[renewed]["status"] == outbox.DELIVERED)
            shown = cli(data, "show", str(delivery_id))  # the reason went with the delivery; the old UUID stays
            assert f"referentienummer  {renewed}\n" in shown and f"replaced          {first} (" in shown
            about_old = refuse(gw, first)
            assert about_old.headers["x-overstap-duplicate"] == "true"
            assert "x-overstap-quarantine" not in about_old.headers
            assert deliveries(data)[renewed]["status"] == outbox.DELIVERED
            assert metric(gw.url, "overstap_chain_faults_total", outcome="repeat") == 1
            assert refuse(gw, renewed).headers["x-overstap-delivery"] == str(delivery_id)
            assert deliveries(data)[renewed]["status"] == outbox.DEAD
            beside = subprocess.run([*overstap_command(), "outbox", "replay", str(delivery_id), "--data-dir",
                                     str(data)], cwd=ROOT, capture_output=True, timeout=120, check=False)
            assert beside.returncode == 1, beside.stderr.decode()
            assert b"POST /admin/replay" in beside.stdout and b"0 replayed, 1 not" in beside.stdout
            assert deliveries(data)[renewed]["status"] == outbox.DEAD
        finally:
            gw.terminate()
    assert len(chain.received) == 2
    shown = cli(data, "list", "--quarantine", "--json")
    assert json.loads(shown) == []


def test_an_admin_replay_stamps_in_order_with_what_the_sidecar_renders(tmp_path: Path) -> None:
    """Through ``POST /admin/replay`` of a serving sidecar (its staged ledger): the Di01 refused in a Fo01 goes in a
    new envelope whose tijdstipBericht lies between the envelopes rendered before and after it (StUF019, one
    counter per zender); a delivered Di01 replayed on force goes in a new one too (the chain holds it as well)."""
    chain = Receiver()
    data = tmp_path / "data"
    with ServerThread(chain.app()) as ds:
        gw = GatewayProcess(["--data-dir", str(data), "--downstream", ds.url + "/isd", "--profile", "ggk",
                             "--convert-processes", "0", "--admin-key", "geheim"], free_port(),
                            tmp_path / "gateway.log").start()
        admin = {"X-Admin-Key": "geheim"}
        try:
            first = one_di01(gw, chain)
            delivery_id = int(refuse(gw, first).headers["x-overstap-delivery"])
            answer = httpx.post(gw.url + "/admin/replay", json={"ids": [delivery_id]}, headers=admin, timeout=60)
            assert answer.status_code == 200 and "new envelope" in answer.text, answer.text
            assert wait_for(lambda: len(chain.received) == 2)
            assert httpx.post(gw.url + "/soap", content=variant(sample(), 2), timeout=30).status_code == 200
            assert wait_for(lambda: len(chain.received) == 3)
            old, renewed, fresh = (stamps(r.body) for r in chain.received)
            assert renewed[0] not in (old[0], fresh[0]) and old[1] < renewed[1] < fresh[1]
            assert same_but_stamps(chain.received[0].body, chain.received[1].body)
            assert wait_for(lambda: deliveries(data)[renewed[0]]["status"] == outbox.DELIVERED)
            forced = httpx.post(gw.url + "/admin/replay", json={"ids": [delivery_id], "force": True}, headers=admin,
                                timeout=60)
            assert forced.status_code == 200 and "new envelope" in forced.text, forced.text
            assert wait_for(lambda: len(chain.received) == 4)
            again = stamps(chain.received[3].body)
            assert again[0] not in (old[0], renewed[0], fresh[0]) and again[1] > fresh[1] and again[2] == old[2]
        finally:
            gw.terminate()
    assert list(counters(data / outbox.DB_NAME).values()) == [again[1]]  # the replay's value stored with it


def test_a_replay_in_a_new_envelope_on_a_postgresql_store(server: str, request: pytest.FixtureRequest,
                                                          tmp_path: Path) -> None:
    """On a shared PostgreSQL store the CLI (beside the serving sidecar, as a replica would) and ``POST
    /admin/replay`` both stamp the new envelope from the store's one counter per zender: tijdstipBericht strictly
    increasing over first send, both replays and a message rendered after them."""
    url = database_for(server, request, "fo_replay")
    chain = Receiver()
    with ServerThread(chain.app()) as ds:
        gw = serve(tmp_path, ds.url + "/isd", "--store", url, "--admin-key", "geheim")
        try:
            first = one_di01(gw, chain)
            delivery_id = int(refuse(gw, first).headers["x-overstap-delivery"])
            assert "new envelope" in cli(url, "replay", str(delivery_id))
            assert wait_for(lambda: len(chain.received) == 2)
            renewed = di01_ref(chain.received[1].body)
            assert wait_for(lambda: deliveries(url)[renewed]["status"] == outbox.DELIVERED)
            assert refuse(gw, renewed).headers["x-overstap-delivery"] == str(delivery_id)
            answer = httpx.post(gw.url + "/admin/replay", json={"ids": [delivery_id]},
                                headers={"X-Admin-Key": "geheim"}, timeout=60)
            assert answer.status_code == 200 and "new envelope" in answer.text, answer.text
            assert wait_for(lambda: len(chain.received) == 3)
            assert httpx.post(gw.url + "/soap", content=variant(sample(), 2), timeout=30).status_code == 200
            assert wait_for(lambda: len(chain.received) == 4)
        finally:
            gw.terminate()
    sent = [stamps(r.body) for r in chain.received]
    assert len({s[0] for s in sent}) == 4 and [s[1] for s in sent] == sorted({s[1] for s in sent})
    assert sent[0][2] == sent[1][2] == sent[2][2]
    assert same_but_stamps(chain.received[0].body, chain.received[2].body)
    assert deliveries(url)[sent[2][0]]["id"] == delivery_id


def test_a_retour_after_the_replay_points_at_the_new_envelope(tmp_path: Path) -> None:
    """The 302 to a 301 whose Di01 the chain refused and a replay sent again: its Du01's crossRefnummer is the new
    envelope's UUID, the Di01 the chain got (spec 3.3), not the one it refused (CC04 would not find it). The
    retour comes in on a route of its own (it echoes the 301's identificatie) that shares the zaak ledger."""
    chain = Receiver()
    with ServerThread(chain.app()) as ds:
        config = tmp_path / "serve.yaml"
        config.write_text(json.dumps({
            "data_dir": str(tmp_path / "data"), "convert_processes": 0, "admin_key": "geheim",
            "downstreams": {"isd": ds.url + "/isd"},
            "routes": {"default": {"downstream": "isd", "profile": "ggk"},
                       "retour": {"downstream": "isd", "profile": "ggk"}}}))
        gw = GatewayProcess(["--config", str(config)], free_port(), tmp_path / "gateway.log").start()
        try:
            assert httpx.post(gw.url + "/soap", content=heen(), timeout=30).status_code == 200
            assert wait_for(lambda: len(chain.received) == 1)
            first = di01_ref(chain.received[0].body)
            delivery_id = int(refuse(gw, first).headers["x-overstap-delivery"])
            answer = httpx.post(gw.url + "/admin/replay", json={"ids": [delivery_id]},
                                headers={"X-Admin-Key": "geheim"}, timeout=60)
            assert answer.status_code == 200 and "new envelope" in answer.text, answer.text
            assert wait_for(lambda: len(chain.received) == 2)
            renewed = di01_ref(chain.received[1].body)
            assert httpx.post(gw.url + "/soap/retour", content=RETOUR.read_bytes(), timeout=30).status_code == 200
            assert wait_for(lambda: len(chain.received) == 3)
        finally:
            gw.terminate()
    assert renewed != first and cross_ref(chain.received[2].body) == renewed


def test_a_fo01_settles_only_deliveries_to_the_chain_endpoint_of_its_own_route(tmp_path: Path) -> None:
    """Two chains (two endpoints) behind three ggk routes, two of them to the same endpoint under two downstream
    names. A Fo01 on route ``a`` that names a Di01 route ``b`` sent to the other chain is quarantined and that
    delivery stays delivered (before session 25 any ggk route's Fo01 settled it); the same Fo01 on ``b`` settles it;
    a Fo01 on ``a`` settles a Di01 of ``a2``, whose downstream is the same endpoint as ``a``'s."""
    chain_a, chain_b = Receiver(), Receiver()
    data = tmp_path / "data"
    with ServerThread(chain_a.app()) as isd_a, ServerThread(chain_b.app()) as isd_b:
        gw = serve_routes(tmp_path, {"isd_a": isd_a.url + "/isd", "isd_a_too": isd_a.url + "/isd",
                                     "isd_b": isd_b.url + "/isd"},
                          {"a": {"downstream": "isd_a", "profile": "ggk"},
                           "a2": {"downstream": "isd_a_too", "profile": "ggk"},
                           "b": {"downstream": "isd_b", "profile": "ggk"}})
        try:
            assert httpx.post(gw.url + "/soap/b", content=sample(), timeout=30).status_code == 200
            assert httpx.post(gw.url + "/soap/a2", content=variant(sample(), 2), timeout=30).status_code == 200
            assert wait_for(lambda: len(chain_b.received) == 1 and len(chain_a.received) == 1)
            ref_b, ref_a2 = di01_ref(chain_b.received[0].body), di01_ref(chain_a.received[0].body)
            on_a = httpx.post(gw.url + "/soap/a", content=fo01(ref_b)[1], timeout=30)
            assert on_a.status_code == 200 and "x-overstap-quarantine" in on_a.headers, on_a.text
            assert deliveries(data)[ref_b]["status"] == outbox.DELIVERED
            on_b = httpx.post(gw.url + "/soap/b", content=fo01(ref_b)[1], timeout=30)
            assert on_b.status_code == 200 and "x-overstap-delivery" in on_b.headers, on_b.text
            same_endpoint = httpx.post(gw.url + "/soap/a", content=fo01(ref_a2)[1], timeout=30)
            assert same_endpoint.status_code == 200 and "x-overstap-delivery" in same_endpoint.headers
            assert metric(gw.url, "overstap_chain_faults_total", route="a", outcome="quarantined") == 1
            assert metric(gw.url, "overstap_chain_faults_total", route="a", outcome="dead_letter") == 1
        finally:
            gw.terminate()
    seen = deliveries(data)
    assert (seen[ref_b]["status"], seen[ref_a2]["status"]) == (outbox.DEAD, outbox.DEAD)
    assert [q["route"] for q in json.loads(cli(data, "list", "--quarantine", "--json"))] == ["a"]
