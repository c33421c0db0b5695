"""A prompt word to the replicas that the outbox changed behind them: PostgreSQL's NOTIFY on one channel.

Why: a replica finds work another process stored (``overstap outbox reconvert`` or ``replay`` on the store, another
replica's replay) only at its next poll, up to ``poll_interval`` later (default 1 s: 0.01-0.77 s measured after a CLI
reconvert, session 26). ``outbox.bump_generation`` marks every such change; on PostgreSQL it NOTIFYs as well, which
the server delivers at COMMIT (nothing on a rollback), and each replica LISTENs on a connection of its own and
rescans at once. The poll stays: a notification sent while a listener was reconnecting is caught by it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from .conn import PgConnection

CHANNEL = "overstap_outbox"
WAKE = 0.5
"""Seconds a listener waits for a notification before it looks whether it should stop."""

log = logging.getLogger("overstap.forwarder")


def notify(conn: Any) -> None:
    """Tell the listening replicas, at COMMIT of ``conn``'s transaction, that pending rows changed (PostgreSQL
    only: a SQLite outbox has one sidecar, which polls its generation)."""
    if isinstance(conn, PgConnection):
        conn.execute(f"NOTIFY {CHANNEL}")


class Listener:
    """A thread holding a LISTEN connection; ``heard`` is called (on that thread) for each notification, and once
    after each (re)connect, for what was notified while it was not listening."""

    def __init__(self, url: str, heard: Callable[[], None], retry: float) -> None:
        self.url, self.heard, self.retry = url, heard, retry
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-listen", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """End the thread (within :data:`WAKE` seconds) and its connection."""
        self._stop.set()
        self._thread.join(WAKE * 4)

    def _run(self) -> None:
        failed = False
        while not self._stop.is_set():
            conn = None
            try:
                conn = PgConnection(self.url, application_name="overstap-sidecar")
                conn.raw.execute(f"LISTEN {CHANNEL}")
                if failed:
                    log.info("listening for outbox changes again")
                failed = False
                self.heard()
                while not self._stop.is_set():
                    for _notice in conn.raw.notifies(timeout=WAKE, stop_after=1):
                        self.heard()
            except Exception as exc:  # a lost store: the polls go on; listen again after a pause
                if not failed:
                    log.warning("listening for outbox changes failed (%s): found at the next poll until it listens "
                                "again", type(exc).__name__)
                failed = True
                self._stop.wait(self.retry)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):  # closing a connection that is gone already
                        conn.close()
