"""``overstap shadow report`` counts what the outbox rows show, and no more (session 21 review).

Why: ``outbox purge`` removes finished deliveries one by one, so a shadow message can keep one side's row and
lose the other's. The report called such a message "both refused" — a legacy Bv03 and a new Fo03 became a
refusal on both sides, and a new Bv03 whose row was purged became "not converted" — so the counts a
municipality reads before cutting over disagreed with what happened.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner

from gateway.cli import main
from gateway.deliver import outbox


def _delivery(target: str, ref: str) -> outbox.NewDelivery:
    return outbox.NewDelivery(target, ref, "zaak-" + ref, b"<x/>", "text/xml", "urn:a", "zaak-" + ref)


def _purged_outbox(data: Path) -> None:
    """Message A: legacy delivered long ago (purged), new refused today. B: new delivered long ago (purged), legacy
    refused today. C: both delivered today."""
    conn = outbox.connect(outbox.open_db(data))
    old, now = time.time() - 10 * 86400, time.time()
    with outbox.transaction(conn):
        for ref, gone, kept in (("A", outbox.LEGACY, outbox.NEW), ("B", outbox.NEW, outbox.LEGACY)):
            accepted = outbox.accept(conn, outbox.NewMessage("default", "shadow", ref.encode(), source_ref=ref,
                                                             mapping="m"),
                                     [_delivery(gone, ref + "1"), _delivery(kept, ref + "2")])
            outbox.mark_delivered(conn, accepted.queued[0].id, 1, 200, "Bv03", now=old)
            outbox.mark_dead(conn, accepted.queued[1].id, 1, 500, "Fo03", "Fo03 StUF055 (client)", now=now)
        both = outbox.accept(conn, outbox.NewMessage("default", "shadow", b"C", source_ref="C", mapping="m"),
                             [_delivery(outbox.NEW, "C1"), _delivery(outbox.LEGACY, "C2")])
        for queued in both.queued:
            outbox.mark_delivered(conn, queued.id, 1, 200, "Bv03", now=now)
        assert outbox.purge(conn, before=now - 86400) == (2, 0)
    conn.close()


def test_a_side_purged_from_the_outbox_is_unknown_not_refused(tmp_path: Path) -> None:
    _purged_outbox(tmp_path / "data")
    result = CliRunner().invoke(main, ["shadow", "report", "--data-dir", str(tmp_path / "data"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["summary"] == {"both accepted": 1, "legacy only": 0, "new only": 0, "both refused": 0,
                                 "no output": 0, "pending": 0, "unknown": 2}
    lines = {m["source_ref"]: m for m in report["messages"]}
    assert (lines["A"]["verdict"], lines["A"]["legacy"]["status"], lines["A"]["differences"]) == (
        "unknown", "not in the outbox", ["legacy side not in the outbox: accepted or refused is no longer known"])
    assert (lines["B"]["verdict"], lines["B"]["new"], lines["B"]["differences"]) == (
        "unknown", [{"status": "not in the outbox",
                     "detail": "no canonical delivery: none was made, or outbox purge removed it"}],
        ["new side not in the outbox: accepted or refused is no longer known"])
    text = CliRunner().invoke(main, ["shadow", "report", "--data-dir", str(tmp_path / "data")]).output
    assert text.splitlines()[-1] == ("3 shadow message(s): 1 both accepted, 0 legacy only, 0 new only, 0 both "
                                     "refused, 0 no output, 0 pending, 2 unknown; 0 with unmapped input (values the "
                                     "new side never got)")
