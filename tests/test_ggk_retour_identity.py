"""A retour's identity is "the retour to that heenbericht", whatever mapping file read it and on whatever route.

Why: session 26 checked a second 302 to one 301 across the routes of the zaak ledger, but only among messages of the
same mapping, because a 302 was stored under its 301's key (Afzender, Identificatie, Dagtekening echoed) and would
otherwise have met its own 301. So two retour routes with different mapping files (an aanbieder moving from one
vendor's 302 to another's, the migration Overstap is for) each took a 302 to one 301, and the chain got two Du01s to
one Di01 (GGk spec 2.2: one Du01 "als bijbehorend retourbericht"; CC11). And a 302 on its 301's own route was
refused StUF016 as "another message under the 301's identificatie". A retour's key is now its heenbericht's marked
as a retour: it never meets the heenbericht, and it meets every other retour to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ggk_chain_standin import BV, StrictChain
from proxy_helpers import Start, wait_for
from test_ggk_retour_routes import _CODE, _di01, _downstreams, _heen, _retour

from gateway.deliver import outbox
from gateway.mapping.registry import builtin_dir

VENDOR = """overstap-mapping: 1
name: vendor-wmo302
title: Another vendor's WMO302 (the aanbieder's new system), the built-in 302 under its own file
extends: iwmo21-wmo302
"""


def routes(vendor: Path) -> dict[str, Any]:
    """The 301's route; ``retour`` reads 302s with the built-in dialect, ``retour-b`` with the vendor's file."""
    builtin = str(builtin_dir() / "iwmo21" / "wmo302.yaml")
    return {"default": {"downstream": "isd", "profile": "ggk"},
            "retour": {"downstream": "isd", "profile": "ggk", "mappings": [builtin]},
            "retour-b": {"downstream": "isd", "profile": "ggk", "mappings": [str(vendor)]}}


def test_a_second_retour_read_by_another_mapping_file_is_refused(start: Start, tmp_path: Path) -> None:
    vendor = tmp_path / "vendor-wmo302.yaml"
    vendor.write_text(VENDOR, encoding="utf-8")
    with StrictChain() as chain:
        sidecar, gw = start(routes(vendor), _downstreams(chain), mappings=[str(vendor)])
        url = sidecar.url
        first = _heen(url, chain, 7401)
        taken = _retour(url, "retour", first, "r7401a")
        assert taken.status_code == 200 and b"Bv03Bericht" in taken.content, taken.text
        assert wait_for(lambda: any(o.retour == "r7401a" for o in chain.offers))

        second = _retour(url, "retour-b", first, "r7401b")  # before: taken, a second Du01 to one Di01
        assert second.status_code == 500 and _CODE.findall(second.content) == [b"StUF016"], second.text
        again = _retour(url, "retour-b", first, "r7401a")  # the same 302 in the other vendor's file: a re-send
        assert again.status_code == 200 and again.headers.get("x-overstap-duplicate") == "true", again.text
        assert again.headers["x-overstap-message"] == taken.headers["x-overstap-message"]

        changed = _heen(url, chain, 7402)  # a 302 on its 301's own route: before, StUF016 (the 301's identity)
        own = _retour(url, "default", changed, "r7402a")
        assert own.status_code == 200 and "x-overstap-duplicate" not in own.headers, own.text
        assert wait_for(lambda: any(o.retour == "r7402a" for o in chain.offers))
        other = _retour(url, "retour-b", changed, "r7402b")
        assert other.status_code == 500 and _CODE.findall(other.content) == [b"StUF016"], other.text

        du01s = [(o.retour, o.cross, o.answer) for o in chain.offers if o.berichtcode == "Du01"]
        assert du01s == [("r7401a", _di01(chain, first), BV), ("r7402a", _di01(chain, changed), BV)], du01s
        rows = gw.store.connect().execute("SELECT route, mapping FROM message WHERE status = ? ORDER BY id",
                                          (outbox.ACCEPTED,)).fetchall()
        assert [tuple(r) for r in rows] == [("default", "iwmo20-wmo301"), ("retour", "iwmo21-wmo302"),
                                            ("default", "iwmo20-wmo301"), ("default", "iwmo21-wmo302")]


def test_a_retour_stored_before_its_key_was_marked_still_counts(tmp_path: Path) -> None:
    """An outbox from before session 27 holds a 302 under its 301's key, unmarked: a re-send of it is still a
    duplicate, a second 302 still refused, and the 301 itself (another mapping) is never taken for a retour."""
    conn = outbox.connect(outbox.open_db(tmp_path))
    heen_key = "0384|t00000007501|2016-02-20"

    def message(route: str, mapping: str, key: str, content: str, body: bytes,
                shared: tuple[str, ...] = ("default", "retour", "retour-b")) -> outbox.NewMessage:
        return outbox.NewMessage(route, "translate", body, source_ref="t00000007501", afzender="0384",
                                 mapping=mapping, source_key=key, content_sha256=content, shared_routes=shared)

    with outbox.transaction(conn):  # as session 26 stored them: the 302 under the 301's key, checked on its route
        heen = outbox.accept(conn, message("default", "iwmo21-wmo301", heen_key, "c301", b"<a/>", ()), [])
        old = outbox.accept(conn, message("retour", "iwmo21-wmo302", heen_key, "c302a", b"<b/>", ()), [])
    marked = outbox.source_key("0384", "t00000007501", "2016-02-20", retour=True)
    assert marked == outbox.RETOUR_KEY + heen_key
    with outbox.transaction(conn):
        again = outbox.accept(conn, message("retour-b", "iwmo21-wmo302", marked, "c302a", b"<c/>"), [])
    assert again.repeat and again.message_id == old.message_id != heen.message_id
    with pytest.raises(outbox.ReferenceConflict), outbox.transaction(conn):  # a second 302 to that 301
        outbox.accept(conn, message("retour-b", "iwmo21-wmo302", marked, "c302b", b"<d/>"), [])
    conn.execute("DELETE FROM message WHERE id = ?", (old.message_id,))  # no retour yet: the 301 is not one
    with outbox.transaction(conn):
        fresh = outbox.accept(conn, message("default", "iwmo21-wmo302", marked, "c302b", b"<d/>"), [])
    assert not fresh.repeat and fresh.message_id != heen.message_id


def test_a_retour_on_a_route_outside_the_ledger_is_not_met(tmp_path: Path) -> None:
    """An operator's command names every route the outbox holds (``ledger_routes``, no configuration needed); a
    passthrough route's 302 went to the legacy system, not to the chain, so it is no first retour there."""
    conn = outbox.connect(outbox.open_db(tmp_path))
    key = outbox.source_key("0384", "t00000007601", "2016-02-20", retour=True)

    def message(route: str, mode: str, content: str, body: bytes, shared: tuple[str, ...],
                heen: bool = False) -> outbox.NewMessage:
        return outbox.NewMessage(route, mode, body, source_ref="t00000007601", afzender="0384",
                                 mapping="iwmo21-wmo301" if heen else "iwmo21-wmo302",
                                 source_key=key.removeprefix(outbox.RETOUR_KEY) if heen else key,
                                 content_sha256=content, shared_routes=shared)

    with outbox.transaction(conn):
        outbox.accept(conn, message("legacy", "passthrough", "c302a", b"<a/>", ()), [])
        outbox.accept(conn, message("default", "translate", "c301", b"<h/>", (), heen=True), [])
    assert outbox.ledger_routes(conn) == ("default", "legacy")
    with outbox.transaction(conn):
        taken = outbox.accept(conn, message("retour", "translate", "c302b", b"<b/>", outbox.ledger_routes(conn)), [])
    assert not taken.repeat
    assert outbox.ledger_routes(conn) == ("default", "legacy", "retour")
    with pytest.raises(outbox.ReferenceConflict), outbox.transaction(conn):  # a second 302 on the ledger's routes
        outbox.accept(conn, message("retour-b", "shadow", "c302c", b"<c/>", outbox.ledger_routes(conn)), [])
