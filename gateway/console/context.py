"""What every console page needs, built once per app: the backend, reads in a thread, who is looking, rendering.

The page modules receive one :class:`Console` instead of sharing closures, so each can be read (and tested) on
its own; the security rules they all lean on (a live session, a CSRF token bound to it) live here, once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from . import queries
from .auditlog import audit_log, why_unwritten
from .auth import COOKIE, Session, Signer, account_fingerprint
from .display import operation, when
from .logins import LoginChecks
from .privacy import mask, mask_text
from .sessions import LIVE, REVOKED, session_store
from .settings import ConsoleSettings
from .source import source_of

log = logging.getLogger("overstap.console")
HERE = Path(__file__).resolve().parent
Replay = Callable[[list[int]], Awaitable[Sequence[Any]]]
Reconvert = Callable[[list[int], set[int]], Awaitable[Sequence[Any]]]
FORM_BYTES = 16 * 1024
"""A console form is a few fields: anything longer is not read further (and then fails its CSRF check)."""


@dataclass(slots=True)
class Backend:
    """What the console needs from the running sidecar, handed in by the proxy (the console imports no shell)."""

    db_path: Path
    """The SQLite outbox file; with :attr:`store`, the console's own SQLite file for its sessions (in data_dir)."""
    replay: Replay
    """The gateway's replay of delivery ids (``Gateway.replay``): results with ``id``, ``ok``, ``note``."""
    admin_key: str | None = None
    metrics: Callable[[], bytes] | None = None
    """The ``/metrics`` text, for the health page's counters."""
    replay_quarantined: Replay | None = None
    """The gateway's replay of quarantined message ids (converted again with the mappings of now)."""
    explain: Callable[[bytes, str | None, str], Any] | None = None
    """``overstap explain`` over the gateway's registry: (original, mapping, route) -> an Explanation."""
    quarantine: Callable[[], Awaitable[dict[str, object]]] | None = None
    """The quarantine bound's figures (``Gateway.quarantine_state``, as on /readyz): messages, bytes, caps, full."""
    purged: Callable[[], None] | None = None
    """Told after a purge here (``Gateway.quarantine_changed``): the bound counts the store again at its next look."""
    reconvert: Reconvert | None = None
    """The gateway's re-conversion of dead deliveries (``reconvert_through``, as ``/admin/reconvert``): (delivery ids,
    the messages the confirmation showed) -> results with ``old``, ``new``, ``queued``; raises ``ReconvertRefused``.
    None when the sidecar renders without a zaak ledger (nothing to take back): the console then offers no action."""
    store: str | None = None
    """The sidecar's PostgreSQL store (``store: postgresql://…``): the console reads and purges there."""


class FormTooLarge(Exception):
    """A posted form over :data:`FORM_BYTES`: answered 413 by the app (it was a 403 "wrong CSRF token", which sent
    an operator looking for the wrong fault)."""


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form (the only kind these pages send); no multipart parser needed. Read no further than
    :data:`FORM_BYTES`."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_BYTES:
            raise FormTooLarge
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}


def base(request: Request) -> str:
    """Where the console is mounted (``/console``): every link and cookie path starts there."""
    return request.scope.get("root_path", "")


LOCAL_PEERS = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))
"""The peers whose ``X-Forwarded-Proto`` uvicorn trusts by default: a TLS proxy there is believed when it says https."""


def from_this_host(request: Request) -> bool:
    """Whether the peer is this host as uvicorn trusts it: 127.0.0.1 or ::1, or no network address at all (an
    in-process client; a TCP listener always reports one). Any other peer may be a proxy that took TLS off and
    whose ``X-Forwarded-Proto`` was not believed: another machine, or another loopback address (127.0.0.2)."""
    if request.client is None:
        return True
    try:
        peer = ipaddress.ip_address(request.client.host)
    except ValueError:
        return True
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    return peer in LOCAL_PEERS


class Console:
    """The console's shared state and the steps every handler takes (read, check the session, render)."""

    def __init__(self, settings: ConsoleSettings, backend: Backend) -> None:
        self.settings = settings
        self.backend = backend
        self.signer = Signer(settings.secret)
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.filters.update(when=when, mask=mask, mask_text=mask_text, operation=operation)
        self._ready = {"base": False, "ledger": False}
        self.source = source_of(backend.db_path, backend.store)
        self.audit = audit_log(settings.audit_path(backend.db_path.parent), self.source)
        self.audit_failures = 0
        """Actions done whose audit entry could not be written, since the start (``/metrics`` counts them)."""
        started = time.perf_counter()  # indexes now, at start-up: built later they would hold up acknowledgements
        first = self.source.read_conn()
        try:
            self._indexed(first)
        finally:
            self.source.done(first, ok=False)
        if time.perf_counter() - started > 1:
            log.info("console indexes built in %.1f s (once per outbox)", time.perf_counter() - started)
        self.sessions = session_store(backend.db_path, self.source)
        self.logins = LoginChecks()

    def _indexed(self, conn: Any) -> None:
        """Write the console's indexes once (and the ledger's once its table exists), like a migration."""
        ready = self._ready
        if ready["base"] and (ready["ledger"] or not queries.has_table(conn, "zaak_state")):
            return
        rw = self.source.write_conn()
        try:
            ready["ledger"] = queries.ensure_indexes(rw)
            ready["base"] = True
        finally:
            rw.close()

    async def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a query on a read-only connection of its own in a thread (the event loop keeps acknowledging)."""
        def run() -> Any:
            conn = self.source.read_conn()
            ok = False
            try:
                self._indexed(conn)
                found = fn(conn, *args)
                ok = True
                return found
            finally:
                self.source.done(conn, ok)
        return await asyncio.to_thread(run)

    async def record(self, user: str, action: str, **ids: int | str | None) -> None:
        """One entry in the audit log (a file append, or an insert into the store's table), off the event loop."""
        await asyncio.to_thread(self.audit.write, user, action, **ids)

    async def record_done(self, user: str, action: str, **ids: int | str | None) -> str | None:
        """The audit entry of an action that has happened (replay, convert again, re-convert, purge). Its failure
        must not turn the page into a 500, or the operator would think nothing happened and do it again: None when
        written, else why not, for the page to say; logged as an error with the entry's ids and counted
        (``overstap_console_audit_failures_total``)."""
        try:
            await self.record(user, action, **ids)
        except Exception as exc:
            why = why_unwritten(exc)
            self.audit_failures += 1
            log.error("console audit entry not written", extra={
                "action": action, "user": user, "error_type": type(exc).__name__, "reason": why,
                "details": json.dumps(ids, sort_keys=True)})
            return why
        return None

    def close(self) -> None:
        """Close what the console keeps open (its PostgreSQL connections): the sidecar's shutdown calls this."""
        self.source.close()

    def fingerprint(self, session: Session) -> str | None:
        """The fingerprint of the session's account under the settings of now; None when it is gone or changed role."""
        return account_fingerprint(self.signer, self.settings, self.backend.admin_key, session.user, session.role)

    async def session_of(self, request: Request) -> Session | None:
        """The signed cookie's session while the store still has it (a logout ends every copy of the cookie) and
        its account is still as it logged in (a removed, demoted or re-keyed account ends it here)."""
        session = self.signer.load(request.cookies.get(COOKIE))
        if session is None:
            return None
        state = await asyncio.to_thread(self.sessions.check, session, self.fingerprint(session))
        if state == REVOKED:
            await self.record(session.user, "session_revoked")
        return session if state == LIVE else None

    def page(self, request: Request, name: str, session: Session | None, status: int = 200,
             **context: Any) -> Response:
        """A template with what every page shows: who is looking, the session's CSRF token, the mount point."""
        csrf = self.signer.csrf(session.nonce) if session else ""
        return self.templates.TemplateResponse(request, name, {"session": session, "csrf": csrf, "status": status,
                                                               "base": base(request), **context}, status_code=status)

    def secure(self, request: Request) -> bool:
        """Whether cookies set on this answer get ``Secure`` (``console.secure_cookies``): ``always``, ``never``, or
        in ``auto`` unless the request came in plain http from 127.0.0.1 or ::1 (``make run``, say)."""
        mode = self.settings.secure_cookies
        if mode != "auto":
            return mode == "always"
        return request.url.scheme == "https" or not from_this_host(request)

    def to_login(self, request: Request) -> Response:
        return RedirectResponse(base(request) + "/login", status_code=303)

    def forbidden(self, request: Request, session: Session | None, why: str) -> Response:
        return self.page(request, "error.html", session, 403, why=why)

    async def checked_form(self, request: Request, session: Session) -> dict[str, str] | None:
        """The posted form when its CSRF token belongs to this session; None otherwise."""
        data = await form(request)
        return data if self.signer.csrf_ok(session.nonce, data.get("csrf")) else None
