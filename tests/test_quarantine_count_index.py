"""The quarantine's count reads only the quarantined messages (schema 0006's partial index), not every message kept.

Why: the bound on the quarantine (gateway/proxy/quarantine_bound.py) counts it from the store at the first refusal,
every 30 s and each second while full; the outbox keeps every delivered message too, so without the index each
count read them all (their bodies' pages with them) to find a few thousand quarantined ones.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from gateway.deliver import outbox
from gateway.proxy.quarantine_bound import TOTALS_SQL, totals

BODY = 4000


def _outbox_with(tmp_path: Path, accepted: int, quarantined: int) -> Path:
    path = outbox.open_db(tmp_path)
    conn = outbox.connect(path)
    rows = [(1.0, 1.0, "default", "translate", outbox.ACCEPTED if i < accepted else outbox.QUARANTINED,
             hashlib.sha256(str(i).encode()).hexdigest(), bytes([65 + i % 26]) * BODY)
            for i in range(accepted + quarantined)]
    with outbox.transaction(conn):
        conn.executemany("INSERT INTO message (received_at, last_received_at, route, mode, status, body_sha256,"
                         " original) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.close()
    return path


def test_the_quarantine_is_counted_through_its_index_not_by_reading_every_message(tmp_path: Path) -> None:
    path = _outbox_with(tmp_path, accepted=5000, quarantined=7)
    conn = outbox.connect(path)
    try:
        plan = " ".join(str(row[3]) for row in conn.execute("EXPLAIN QUERY PLAN " + TOTALS_SQL))
        assert "USING INDEX message_quarantined" in plan, plan
        assert totals(conn) == (7, 7 * BODY)
    finally:
        conn.close()
