"""Re-convert from the console (session 26): a real sidecar with the console on and a zaak ledger, a real downstream
on 127.0.0.1 that takes chain B's toewijzing and then refuses everything (Fo03).

What an operator relies on: a message whose zaak the receiver holds is not offered, and is refused in words that say
so (also when the creeerZaak was purged since: the receiver *may* hold it); the POST needs the operator role, the
session's CSRF token and the confirmation; at most 200 messages are named; the confirmation shows every message of
the zaak, and a zaak that gained one in between is refused rather than converted beyond what was shown.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pg_helpers
import pytest
from console_helpers import ADMIN_KEY, BSN, console_config, csrf_of, hidden_fields, login
from proxy_helpers import Receiver, ServerThread, Start, sample, soap11, wait_for

from gateway.deliver import outbox
from gateway.pgstore.conn import PgConnection

B01, B02 = "CasusB-01-WMO301_toewijzing.xml", "CasusB-02-WMO305_start.xml"
A01, A02, A04 = "CasusA-01-WMO315_verzoek.xml", "CasusA-02-WMO301_toewijzing.xml", "CasusA-04-WMO301_intrekking.xml"
DISABLED = '<button type="button" disabled>Re-convert</button>'
server = pg_helpers.server  # started only for the test on a PostgreSQL store


@dataclass
class Mixed:
    url: str
    db: Path
    """The SQLite outbox, or (with ``store``) a path in the data dir (the audit is then in the store)."""
    receiver: Receiver
    store: str | None = None

    def sql(self, statement: str, *args: object) -> list[tuple[object, ...]]:
        if self.store is not None:
            with closing(PgConnection(self.store)) as pg:
                return [tuple(r) for r in pg.execute(statement, args).fetchall()]
        with closing(sqlite3.connect(self.db)) as conn:
            return [tuple(r) for r in conn.execute(statement, args)]

    def post(self, name: str) -> int:
        """Post a sample; wait until no delivery is pending; the new message's id."""
        r = httpx.post(self.url + "/soap", content=soap11(sample(name)),
                       headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)
        assert r.status_code == 200, r.text
        assert wait_for(lambda: not self.sql("SELECT 1 FROM delivery WHERE status = 'pending'"), timeout=60)
        return int(self.sql("SELECT max(id) FROM message")[0][0])  # type: ignore[arg-type]

    def statuses(self) -> list[tuple[object, ...]]:
        """Every message's and every delivery's status: what a refused re-conversion must leave as it was."""
        return self.sql("SELECT 'm', id, status FROM message UNION ALL SELECT 'd', id, status FROM delivery"
                        " ORDER BY 1, 2")


@pytest.fixture
def mixed(start: Start, request: pytest.FixtureRequest) -> Iterator[Mixed]:
    """B01 delivered (the receiver holds zaak B), then B02 refused; A01 and A02 refused (zaak A: all dead). On the
    SQLite outbox, or with the param ``postgresql`` on a PostgreSQL store."""
    store = None
    if getattr(request, "param", "sqlite") == "postgresql":
        store = pg_helpers.database_for(request.getfixturevalue("server"), request, "conrec")
    rec = Receiver(behaviour="bv")
    with ServerThread(rec.app()) as ds:
        sidecar, gw = start({"default": {"downstream": ds.url + "/zs"}}, {}, admin_key=ADMIN_KEY,
                            console=console_config(), store=store)
        db = gw.db_path or Path(gw.config.data_dir) / "console.sqlite3"
        running = Mixed(sidecar.url, db, rec, store)
        assert running.post(B01) == 1 and len(rec.received) == 1
        rec.behaviour = "fo"
        assert [running.post(n) for n in (B02, A01, A02)] == [2, 3, 4]
        assert running.sql("SELECT message_id, status FROM delivery ORDER BY id") == [  # A02: a zaak of its own too
            (1, "delivered"), (2, "dead"), (3, "dead"), (4, "dead"), (4, "dead"), (4, "dead")]
        yield running


def audit(mixed: Mixed) -> list[dict[str, object]]:
    """The re-conversions in the audit log: the data dir's file, or on PostgreSQL the store's table (schema 0010)."""
    if mixed.store is not None:
        return [{"user": user, **json.loads(str(details))} for user, details in mixed.sql(
            "SELECT account, details FROM console_audit WHERE action = 'reconvert' ORDER BY id")]
    lines = (mixed.db.parent / "console-audit.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if '"reconvert"' in line]


def test_a_zaak_the_receiver_holds_is_not_offered_and_refused_in_an_operators_words(mixed: Mixed) -> None:
    otto = login(mixed.url, "otto")
    before = mixed.statuses()
    page = otto.get("/console/messages/2").text
    assert DISABLED in page and "The receiver holds this zaak" in page
    assert "/console/reconvert?message=2" not in page
    confirm = otto.get("/console/reconvert", params={"message": "2"})
    assert confirm.status_code == 200 and "Not converted anew: The receiver holds this zaak" in confirm.text
    assert "Yes, re-convert" not in confirm.text and "delivered: 1" in confirm.text  # the gateway's own detail
    token = csrf_of(confirm.text)
    refused = otto.post("/console/reconvert", data={"csrf": token, "confirm": "yes", "messages": "2",
                                                    "expected": "1,2"})
    assert refused.status_code == 409 and "The receiver holds this zaak" in refused.text
    assert mixed.statuses() == before and len(mixed.receiver.received) == 1  # nothing changed, nothing sent

    # B01's creeerZaak delivered and purged since: all of the zaak in the outbox is dead, yet the receiver has it
    with closing(outbox.connect(mixed.db)) as conn, conn:
        assert outbox.purge(conn, before=time.time() + 1) == (1, 1)
    page = otto.get("/console/messages/2").text
    assert DISABLED in page and "The receiver may hold this zaak" in page
    refused = otto.post("/console/reconvert", data={"csrf": token, "confirm": "yes", "messages": "2",
                                                    "expected": "2"})
    assert refused.status_code == 409 and "The receiver may hold this zaak" in refused.text
    assert "has no creeerZaak in the outbox" in refused.text
    assert mixed.statuses() == [s for s in before if s[:2] not in (("d", 1), ("m", 1))]


def test_a_re_conversion_needs_the_operator_the_csrf_token_the_confirmation_and_at_most_200(mixed: Mixed) -> None:
    otto, vera = login(mixed.url, "otto"), login(mixed.url, "vera")
    before = mixed.statuses()
    page = otto.get("/console/messages/4").text
    assert 'href="/console/reconvert?message=4"' in page and DISABLED not in page
    confirm = otto.get("/console/reconvert", params={"message": "4"})
    assert confirm.status_code == 200 and "Yes, re-convert 2 message(s)" in confirm.text
    assert "not</strong> replayed" in confirm.text and "mappings of\nnow" in confirm.text
    fields = hidden_fields(confirm.text)
    assert (fields["messages"], fields["expected"], fields["confirm"]) == ("4", "3,4", "yes")  # the 315 goes along
    assert BSN not in confirm.text
    unsigned = {k: v for k, v in fields.items() if k != "csrf"}
    assert otto.post("/console/reconvert", data=unsigned).status_code == 403
    assert otto.post("/console/reconvert", data={**unsigned, "csrf": "0" * 64}).status_code == 403
    assert otto.post("/console/reconvert", data={**fields, "confirm": "no"}).status_code == 400
    assert vera.get("/console/reconvert", params={"message": "4"}).status_code == 403
    vera_token = csrf_of(vera.get("/console/messages").text)
    assert vera.post("/console/reconvert", data={**fields, "csrf": vera_token}).status_code == 403
    assert "Re-convert" not in vera.get("/console/messages/4").text
    assert mixed.statuses() == before and all(s in ("accepted", "dead", "delivered") for *_, s in before)

    many = otto.get("/console/reconvert", params=[("message", str(i)) for i in range(1, 202)])
    assert many.status_code == 400 and "at most 200 messages" in many.text
    assert otto.get("/console/reconvert", params={"message": "x4"}).status_code == 400
    assert otto.get("/console/reconvert").status_code == 400
    both = otto.get("/console/reconvert", params=[("message", "3"), ("message", "4")])
    assert both.status_code == 200 and hidden_fields(both.text)["messages"] == "3,4"

    dead = otto.get("/console/messages", params={"status": "dead"}).text  # the bulk action: a box a message
    assert 'id="bulk" method="get" action="/console/reconvert"' in dead
    assert re.findall(r'name="message" value="(\d+)" form="bulk"', dead) == ["4", "3", "2"]
    assert 'form="bulk"' not in otto.get("/console/messages").text  # only on the dead-letter list
    assert 'id="bulk"' not in vera.get("/console/messages", params={"status": "dead"}).text
    assert audit(mixed) == []


@pytest.mark.parametrize("mixed", ["sqlite", "postgresql"], indirect=True)
def test_an_operator_re_converts_and_a_zaak_that_gained_a_message_meanwhile_is_refused(mixed: Mixed) -> None:
    otto = login(mixed.url, "otto")
    fields = hidden_fields(otto.get("/console/reconvert", params={"message": "4"}).text)
    assert fields["expected"] == "3,4"
    assert mixed.post(A04) == 5  # the intrekking, refused too: zaak A has three messages now
    before = mixed.statuses()
    late = otto.post("/console/reconvert", data=fields)
    assert late.status_code == 409 and "The zaak changed since the confirmation" in late.text
    assert mixed.statuses() == before

    mixed.receiver.behaviour = "bv"  # the cause fixed
    fields = hidden_fields(otto.get("/console/reconvert", params={"message": "4"}).text)
    assert fields["expected"] == "3,4,5"
    done = otto.post("/console/reconvert", data=fields)
    assert done.status_code == 200 and "Converted anew: 3 message(s)" in done.text
    replaced = re.findall(r'messages/(\d+)">message \d+</a> is now\s+<a href="/console/messages/(\d+)"', done.text)
    assert replaced == [("3", "6"), ("4", "7"), ("5", "8")]
    assert mixed.sql("SELECT id, status FROM message ORDER BY id") == [
        (1, "accepted"), (2, "accepted"), (3, "superseded by 6"), (4, "superseded by 7"), (5, "superseded by 8"),
        (6, "accepted"), (7, "accepted"), (8, "accepted")]
    fresh = "SELECT status FROM delivery WHERE message_id > 5"
    assert wait_for(lambda: {s for (s,) in mixed.sql(fresh)} == {"delivered"}, timeout=60)
    assert len(mixed.receiver.received) == 1 + len(mixed.sql(fresh))  # B01, and zaak A converted anew
    old = otto.get("/console/messages/4").text
    assert "superseded: converted anew as" in old and "Re-convert" not in old and "Replay…" not in old
    again = otto.post("/console/reconvert", data=fields)  # a second click: superseded now, the gateway not asked
    assert again.status_code == 409 and "This was converted anew already" in again.text
    lines = audit(mixed)
    assert [(a["user"], a["message_ids"], a["converted"], a["ok"]) for a in lines] == [
        ("otto", "4", 0, False), ("otto", "4", 3, True)]
