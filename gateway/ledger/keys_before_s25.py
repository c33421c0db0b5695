"""The chain keys a ledger written before session 25 lacks, written once when this release opens it.

Why: session 25 bound two more kinds of key, and a ledger of an earlier release holds neither, so the messages that
follow an upgrade were rendered by the rules before it (tests/test_ledger_before_s25.py, with a ledger that release
wrote):

* ``{product key}#{n}``, every toewijzing sharing a 2.x product key (gateway/render/zkn_shared.py). Without them the
  key named only the toewijzing named last: a 305/307 without a ToewijzingNummer went to it though the period of
  another held its Begindatum (a stop closed the wrong zaak), and a 301 without one was applied to it, a guess,
  where StUF058 is due. Written from the zaken's states (each keeps every key its lines named), in the order their
  zaken were registered, after any slot a later release already gave the key.
* ``aanvraag-nieuw:{gemeente}:{ReferentieAanbieder}:-:-``, a 317 line asking for a budget (gateway/zaken/units.py
  ``nieuw_key``). Without it the 301 of the budget answered nothing and the aanvraagzaak stayed lopend for ever.
  Written for an aanvraagzaak of a 317 line for something new (``:nieuw{n}``) that holds no new-product key (only a
  budget line had none); of several under one reference, the one registered last (as a later line binds it last).

Frozen: what the releases before session 25 wrote does not change, so neither do these statements. Run once where
such a ledger is met: the store as schema revision 0008 (both dialects); a ``--state`` folder (``convert``, ``batch``)
when opened, marked by its ``user_version`` 1; a ``--state postgresql://`` ledger when opened, marked by a row
:data:`MARK` in ``remembered`` (it has no schema version); a ledger imported into a store (``outbox import-ledger``)
after the copy. Run again over a ledger that has the keys, they write nothing.
"""

from __future__ import annotations

import sqlite3
from typing import Any

FOLDER_VERSION = 1
"""The ``PRAGMA user_version`` of a folder ledger these keys were written to."""
MARK = ("ledger-keys", "before-s25")
"""(kind, key) of the ``remembered`` row of a PostgreSQL ledger these keys were written to."""

_SLOTS = """
WITH RECURSIVE held AS (
    SELECT DISTINCT k.value AS key, s.zaak AS zaak, {since} AS since
    FROM zaak_state s, {k}
    WHERE substr(k.value, 1, 8) = 'product:' OR substr(k.value, 1, 11) = 'jw-product:'
), shared AS (
    SELECT key, COUNT(*) AS sharers FROM held GROUP BY key HAVING COUNT(*) > 1
), n (i) AS (
    SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < (SELECT MAX(sharers) FROM shared)
), slotted AS (
    SELECT s.key AS key, c.zaak AS zaak FROM shared s JOIN n ON n.i < s.sharers
    JOIN chain_key c ON c.key = s.key || '#' || n.i
), missing AS (
    SELECT h.key AS key, h.zaak AS zaak, h.since AS since FROM held h JOIN shared s ON s.key = h.key
    WHERE NOT EXISTS (SELECT 1 FROM slotted t WHERE t.key = h.key AND t.zaak = h.zaak)
)
INSERT INTO chain_key (key, zaak)
SELECT m.key || '#' || ((SELECT COUNT(*) FROM slotted t WHERE t.key = m.key)
                        + ROW_NUMBER() OVER (PARTITION BY m.key ORDER BY m.since, m.zaak) - 1), m.zaak
FROM missing m WHERE true
ON CONFLICT (key) DO NOTHING
"""

# ``':' || '0'``: Alembic runs a revision's text as SQLAlchemy text(), where ``:name`` is a bound parameter
_BUDGET = """
WITH asked AS (
    SELECT s.zaak AS zaak, s.state AS state, {since} AS since,
           CASE WHEN substr(v.value, 1, 3) = 'jw-' THEN 'jw-' ELSE '' END AS wet,
           substr(v.value, {verzoek} + 8, length(v.value) - {verzoek} - 9) AS base
    FROM zaak_state s, {v}
    WHERE {kind} = 'aanvraag' AND (substr(v.value, 1, 8) = 'verzoek:' OR substr(v.value, 1, 11) = 'jw-verzoek:')
      AND substr(v.value, length(v.value) - 1) = ':' || '0'
), budget AS (
    SELECT a.wet || 'aanvraag-nieuw:' || a.base || ':-:-' AS key, a.zaak AS zaak,
           ROW_NUMBER() OVER (PARTITION BY a.wet, a.base ORDER BY a.since DESC, a.zaak DESC) AS latest
    FROM asked a
    WHERE EXISTS (SELECT 1 FROM {o}
                  WHERE substr(o.value, 1, length(a.wet || 'aanvraag:' || a.base || ':' || 'nieuw'))
                        = a.wet || 'aanvraag:' || a.base || ':' || 'nieuw')
      AND NOT EXISTS (SELECT 1 FROM {o}
                      WHERE substr(o.value, 1, length(a.wet || 'aanvraag-nieuw:')) = a.wet || 'aanvraag-nieuw:')
)
INSERT INTO chain_key (key, zaak)
SELECT key, zaak FROM budget WHERE latest = 1
ON CONFLICT (key) DO NOTHING
"""

_SQLITE_PARTS = {"since": "json_extract(s.state, '$.registratiedatum')", "kind": "json_extract(s.state, '$.kind')",
                 "verzoek": "instr(v.value, 'verzoek:')", "k": "json_each(s.state, '$.keys') k",
                 "v": "json_each(s.state, '$.keys') v", "o": "json_each(a.state, '$.keys') o"}
_POSTGRESQL_PARTS = {"since": "s.state ->> 'registratiedatum'", "kind": "s.state ->> 'kind'",
                     "verzoek": "strpos(v.value, 'verzoek:')",
                     "k": "jsonb_array_elements_text(s.state -> 'keys') AS k(value)",
                     "v": "jsonb_array_elements_text(s.state -> 'keys') AS v(value)",
                     "o": "jsonb_array_elements_text(a.state -> 'keys') AS o(value)"}

SQLITE = (_SLOTS.format(**_SQLITE_PARTS), _BUDGET.format(**_SQLITE_PARTS))
POSTGRESQL = (_SLOTS.format(**_POSTGRESQL_PARTS), _BUDGET.format(**_POSTGRESQL_PARTS))


def write_folder_keys(conn: sqlite3.Connection) -> None:
    """Write the keys into the folder ledger of ``conn`` (autocommit) unless its ``user_version`` says they were:
    ``BEGIN IMMEDIATE``, so two processes opening one folder take turns and the second finds it done."""
    if conn.execute("PRAGMA user_version").fetchone()[0] >= FOLDER_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if conn.execute("PRAGMA user_version").fetchone()[0] < FOLDER_VERSION:
            for statement in SQLITE:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {FOLDER_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def write_pg_keys(cur: Any) -> None:
    """Write the keys into the PostgreSQL ledger of cursor ``cur`` (inside the caller's transaction, under the
    ledger's lock) unless its :data:`MARK` says they were. An empty ledger gets no mark: a row would make the
    database one that ``store copy`` refuses as holding rows, and it has nothing to write the keys from."""
    cur.execute("SELECT 1 FROM remembered WHERE kind = %s AND key = %s", MARK)
    if cur.fetchone() is not None:
        return
    cur.execute("SELECT 1 FROM zaak_state LIMIT 1")
    if cur.fetchone() is None:
        return
    for statement in POSTGRESQL:
        cur.execute(statement)
    cur.execute("INSERT INTO remembered (kind, key, value) VALUES (%s, %s, '1') ON CONFLICT DO NOTHING", MARK)


def write_keys(conn: Any) -> None:
    """Write the keys through ``conn`` (a sqlite3 connection or a PgConnection, inside the caller's transaction):
    after an import, whose rows an earlier release may have written."""
    for statement in SQLITE if isinstance(conn, sqlite3.Connection) else POSTGRESQL:
        conn.execute(statement)
