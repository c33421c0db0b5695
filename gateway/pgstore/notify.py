"""A prompt word to the replicas that the outbox changed behind them: PostgreSQL's NOTIFY on one channel.

Why: a replica finds work another process stored (``overstap outbox reconvert`` or ``replay`` on the store, another
replica's replay) only at its next poll, up to ``poll_interval`` later (default 1 s: 0.01-0.77 s measured after a CLI
reconvert, session 26). ``outbox.bump_generation`` marks every such change; on PostgreSQL it NOTIFYs as well, which
the server delivers at COMMIT (nothing on a rollback), and each replica LISTENs on a connection of its own and
rescans at once. The poll stays: a notification sent while a listener was reconnecting is caught by it.

A second channel says that a replica committed a delivered/dead status a sender on another replica may be waiting
for (``ack: delivered``, a delivery another replica holds: "watched"): that replica answered it only at its next poll,
and with ``poll_interval`` above ``ack_timeout`` its sender got a 504 although the verdict was stored long before
(session 29). Sent once per COMMIT of the group committer, with the COMMIT (:func:`notify_settled`).

A lost listening connection is opened again after :data:`FIRST_RETRY`, not after ``poll_interval`` (session 30): it
also holds the routes this replica configures (gateway/deliver/claims.py), which another replica asks about before it
answers a re-send "not delivered". The pause doubles while the store stays unreachable, up to ``poll_interval``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from .conn import PgConnection

CHANNEL = "overstap_outbox"
SETTLED = "overstap_settled"
"""Delivered/dead statuses someone may watch were committed: each replica reads the rows its senders watch."""
WAKE = 0.5
"""Seconds a listener waits for a notification before it looks whether it should stop."""
FIRST_RETRY = 0.1
"""Seconds before a lost listener's first reconnect: short, so that the routes its connection says this replica
configures are said again at once (a pg_terminate_backend, an idle-session cut); doubled at each failure after."""

log = logging.getLogger("overstap.forwarder")


def notify(conn: Any) -> None:
    """Tell the listening replicas, at COMMIT of ``conn``'s transaction, that pending rows changed (PostgreSQL
    only: a SQLite outbox has one sidecar, which polls its generation)."""
    if isinstance(conn, PgConnection):
        conn.execute(f"NOTIFY {CHANNEL}")


def notify_settled(conn: Any) -> None:
    """Tell the listening replicas, at COMMIT of ``conn``'s transaction (once however many writes ask), that a
    delivered/dead status was stored that a sender may watch (PostgreSQL only: a SQLite outbox has one sidecar)."""
    if isinstance(conn, PgConnection):
        conn.notify_at_commit(SETTLED)


def retry_pause(failures: int, most: float) -> float:
    """The pause after the ``failures``-th failed (re)connect in a row: :data:`FIRST_RETRY`, doubling, at most
    ``most`` (a store that is down is not asked ten times a second for as long as it is down)."""
    return min(FIRST_RETRY * 2 ** min(failures - 1, 32), most)


class Listener:
    """A thread holding a LISTEN connection on :data:`CHANNEL` and :data:`SETTLED`; ``heard`` is called (on that
    thread) with the channel of each notification, and with each channel once after each (re)connect, for what was
    notified while it was not listening."""

    def __init__(self, url: str, heard: Callable[[str], None], retry: float,
                 connected: Callable[[Any], None] | None = None) -> None:
        self.url, self.heard, self.retry, self.connected = url, heard, retry, connected
        """``retry``: the longest pause between reconnects (the first is :data:`FIRST_RETRY`); ``connected``: run
        with each new connection before it listens (the session locks this replica holds while it lives: the routes
        it configures, gateway/deliver/claims.py)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End the thread (within :data:`WAKE` seconds) and its connection."""
        self._stop.set()
        self._thread.join(WAKE * 4)

    def _run(self) -> None:
        failures = 0  # failed (re)connects in a row: the pause before the next, and whether the loss is logged yet
        while not self._stop.is_set():
            conn = None
            try:
                conn = PgConnection(self.url, application_name="overstap-sidecar")
                if self.connected is not None:
                    self.connected(conn)
                conn.raw.execute(f"LISTEN {CHANNEL}; LISTEN {SETTLED}")
                if failures:
                    log.info("listening for outbox changes again")
                failures = 0  # the next loss is logged, and retried promptly, again
                self.heard(CHANNEL)
                self.heard(SETTLED)
                while not self._stop.is_set():
                    for notice in conn.raw.notifies(timeout=WAKE, stop_after=1):
                        self.heard(notice.channel)
            except Exception as exc:  # a lost store: the polls go on; listen again after a pause
                if not failures:
                    log.warning("listening for outbox changes failed (%s): found at the next poll until it listens "
                                "again", type(exc).__name__)
                failures += 1
                self._stop.wait(retry_pause(failures, self.retry))
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):  # closing a connection that is gone already
                        conn.close()
