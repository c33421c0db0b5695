"""The HTTP face of the sidecar (FastAPI under uvicorn): SOAP endpoints, health, metrics and admin.

Cheap refusals come first and need no body: an unknown route (404), missing or wrong credentials
(401), a body over the limit (413, read no further). Everything else is the :class:`Gateway`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette._utils import get_route_path
from starlette.types import Message, Receive, Scope, Send

from gateway.deliver.reconvert import ReconvertRefused
from gateway.httpguard.bodies import Body, BodyBudget, Holding, read_body
from gateway.httpguard.protocol import SlowBody, UnknownCoding, header
from gateway.render import stuf

from .admin import MAX_REPLAY_BODY, BadReplay, parse_replay
from .answering import Answer
from .config import ServeConfig
from .ledgered import LEDGER_IMPORTING
from .media import unreadable
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from .reconverting import reconvert_through
from .service import Gateway
from .soap import soap_version

log = logging.getLogger("overstap.http")


def _json(status: int, doc: object) -> Response:
    return Response(json.dumps(doc, indent=1, default=str).encode(), status_code=status,
                    media_type="application/json")


def _response(answer: Answer) -> Response:
    return Response(answer.body, status_code=answer.status, headers={"Content-Type": answer.content_type,
                                                                     **answer.headers})


SoapHandler = Callable[[str | None, Request], Awaitable[Response]]
_NOT_SOAP = "/"
"""What ``soap_route`` says of a path that is not a SOAP endpoint (no route name contains a slash)."""


def soap_route(scope: Scope) -> str | None:
    """The route named by a SOAP path (``/soap`` → None, ``/soap/NAME`` → NAME), else ``_NOT_SOAP``.
    The same paths as the Starlette routes ``/soap`` and ``/soap/{route}``."""
    path = get_route_path(scope)
    if path == "/soap":
        return None
    if path.startswith("/soap/") and len(path) > 6 and "/" not in path[6:]:
        return path[6:]
    return _NOT_SOAP


def slow_body(gw: Gateway, min_body_rate: int) -> SlowBody:
    """The guard's answer to a SOAP POST whose body came slower than ``min_body_rate``: the SOAP Fault (StUF058) the
    sidecar gives a body that missed ``body_timeout`` (:func:`_refused`), not text/plain. Not counted here: the app
    counts the cut as ``slow_body`` when its read ends."""

    def answer(scope: dict[str, Any]) -> Response | None:
        if scope.get("method") != "POST" or soap_route(scope) == _NOT_SOAP:
            return None
        fout = stuf.Fout.of("StUF058", f"request body arrived at less than {min_body_rate} bytes a second")
        version = soap_version(b"", header(scope, b"content-type"))
        return _response(gw.fault(408, fout, version, headers={"Connection": "close"}))

    return answer


def unknown_coding(gw: Gateway) -> UnknownCoding:
    """The guard's answer to a SOAP POST whose Transfer-Encoding names a coding besides chunked (``gzip, chunked``):
    501 (``fault_status: http``) with a Fo03 StUF055 saying why, as a Content-Encoding it cannot read is refused;
    counted and logged as ``transfer_coding``. Nothing is read, stored or acknowledged: the sender keeps it."""

    def answer(scope: dict[str, Any], why: str) -> Response | None:
        if scope.get("method") != "POST" or (name := soap_route(scope)) == _NOT_SOAP:
            return None
        route = gw.route(name)
        version = soap_version(b"", header(scope, b"content-type"))
        return _response(gw.refuse(route.name if route is not None else "unknown", "transfer_coding", 501,
                                   stuf.Fout.of("StUF055", why), version, {"Connection": "close"}))

    return answer


class SidecarApp(FastAPI):
    """FastAPI with the SOAP POST answered in front of its middleware, telemetry and router.

    The SOAP POST uses none of them, and at hundreds of messages a second they cost ~8% of the server
    process's CPU (telemetry looks the OpenTelemetry settings up in ``os.environ`` on every request; route
    matching; the exception layers). The answer is the same Starlette ``Response`` sent the same way, and an
    unexpected error is answered as Starlette's error middleware answers it (500, ``Internal Server Error``)
    and raised on to uvicorn. Every other request, and a SOAP path with another method (405), goes through
    FastAPI as before: the SOAP routes stay registered with it.
    """

    soap_front: SoapHandler | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.soap_front is not None and scope["type"] == "http" and scope["method"] == "POST":
            route = soap_route(scope)
            if route != _NOT_SOAP:
                await self._soap(self.soap_front, route, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    @staticmethod
    async def _soap(handler: SoapHandler, route: str | None, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            response = await handler(route, Request(scope, receive, send))
            await response(scope, receive, sending)
        except Exception:
            if not started:
                await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
            raise


def create_app(config: ServeConfig, gateway: Gateway | None = None, *, front: bool = True) -> FastAPI:
    """The ASGI app; its lifespan starts and stops the gateway (outbox writer, forwarder, mapping watcher).
    ``front=False`` leaves the SOAP POST to FastAPI's routes (the tests compare both)."""
    gw = gateway or Gateway(config)
    ready = Ready(gw)
    app = SidecarApp(title="Overstap sidecar", lifespan=_lifespan(gw, ready), docs_url=None, redoc_url=None,
                     openapi_url=None)
    app.state.gateway = gw
    app.state.ready = ready  # said by the server once it listens, or by the lifespan (Ready)
    app.state.slow_body = slow_body(gw, config.http_limits().min_body_rate)  # for the guard (cli/serve.py)
    app.state.unknown_coding = unknown_coding(gw)  # so too
    app.state.body_budget = BodyBudget(config.max_body_buffer_bytes)  # what bodies hold now: tests wait on it
    handler = _soap_endpoint(config, gw, app.state.body_budget)

    async def soap(request: Request) -> Response:
        return await handler(request.path_params.get("route"), request)

    # Plain Starlette routes: the SOAP endpoints need no request validation or dependency injection.
    app.add_route("/soap", soap, methods=["POST"])
    app.add_route("/soap/{route}", soap, methods=["POST"])
    if front:
        app.soap_front = handler
    _add_probes(app, gw)
    _add_admin(app, config, gw)
    if config.console.enabled:  # the operator console (docs/console.md): its own package, mounted here
        _mount_console(app, config, gw)
    return app


class _Hup:
    """SIGHUP reloads the mappings. Installed before the start: a SIGHUP sent on seeing "gateway ready" (a deploy
    script; the reload test did, session 32) found the default action and ended the process when the handler came
    after the line. One that comes before the sidecar is ready (during the start, or before the sockets listen) is
    kept, and reloads once it is (:class:`Ready`)."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.tasks: set[asyncio.Task[list[str]]] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.started = False
        self.pending = False

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
            loop.add_signal_handler(signal.SIGHUP, self)
            self.loop = loop

    def remove(self) -> None:
        if self.loop is not None:
            self.loop.remove_signal_handler(signal.SIGHUP)
            self.loop = None

    def __call__(self) -> None:
        if not self.started:
            if not self.pending:
                log.info("SIGHUP during the start: the mappings are reloaded once it is done")
            self.pending = True
            return
        task = asyncio.get_running_loop().create_task(self.gw.reload("SIGHUP"))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def start(self) -> None:
        """The sidecar is ready: from now on a SIGHUP reloads at once, and one that came before does now."""
        self.started = True
        if self.pending:
            self.pending = False
            self()


class Ready:
    """Says "gateway ready" once the sidecar can take a connection and a message, and from then SIGHUP reloads.

    uvicorn runs the app's start (the lifespan) before it binds its sockets: a line logged at the end of the start
    sent a deploy script or test that connected on reading it to a closed port. Under ``overstap serve`` the server
    says it once its sockets listen (gateway/proxy/listening.py sets :attr:`by_server`); an app hosted otherwise
    (Starlette's TestClient, a plain uvicorn in the tests) has no socket of its own to wait for, and its lifespan
    says it once the start is done."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.by_server = False
        """A server says it, once it listens; else the lifespan does at the end of the start."""
        self.hup: _Hup | None = None
        """The started app's SIGHUP handler (None before the start is done and after the stop)."""

    def say(self, listening: Sequence[str] = ()) -> None:
        """Log the ready line (naming where it listens) and let a SIGHUP kept since the start reload now."""
        if self.hup is None:  # the app's start did not run (or it has stopped): not ready
            return
        self.gw.announce(listening)
        self.hup.start()


def _lifespan(gw: Gateway, ready: Ready) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the gateway with the app and stop it after; SIGHUP reloads the mappings while it runs."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hup = _Hup(gw)
        hup.install(asyncio.get_running_loop())  # before the start: see _Hup
        try:
            await gw.start()
        except BaseException:
            hup.remove()
            raise
        ready.hup = hup
        if not ready.by_server:
            ready.say()
        try:
            yield
        finally:
            ready.hup = None
            hup.remove()
            await gw.stop()
            console = getattr(app.state, "console", None)
            if console is not None:  # its PostgreSQL connections end with the replica, not at the process's exit
                await asyncio.to_thread(console.close)

    return lifespan


def _soap_endpoint(config: ServeConfig, gw: Gateway, budget: BodyBudget) -> SoapHandler:
    """The SOAP POST: route and credentials first, a Content-Type or Content-Encoding that is no XML refused unread
    (gateway/proxy/media.py), then the body read within its limit, its time and the server's
    body budget (gateway/httpguard/bodies.py), then the gateway's answer. A GGk envelope may grow past the general
    limit, up to its own."""
    limit = config.max_body_bytes

    async def receive(route_name: str | None, request: Request) -> Response:
        headers = request.headers
        version = "soap12" if "application/soap+xml" in headers.get("content-type", "") else "soap11"
        route = gw.route(route_name)
        if route is None or (route.api_keys and not gw.authorised(route.api_keys, headers)):
            return _response(await gw.receive(route_name, b"", headers))
        fout = unreadable(headers.get("content-type"), headers.get("content-encoding"))
        if fout is not None:  # gzip or JSON read as XML: refused unread (nothing stored, the sender keeps it)
            return _response(gw.refuse(route.name, "unsupported_media_type", 415, fout, version))
        with Holding(budget) as holding:
            body = await read_body(request, limit, holding, config.body_timeout, ggk_envelopes=True)
            if body.refusal is not None:
                return _refused(gw, route.name, body, version, config.body_timeout)
            if not body.data:
                return _response(gw.refuse(route.name, "empty", 400, stuf.Fout.of(
                    "StUF055", "empty request: expected an XML message"), soap_version(
                    body.data, headers.get("content-type"))))
            return _response(await gw.receive(route.name, body.data, headers))

    return receive


def _refused(gw: Gateway, route: str, body: Body, version: stuf.SoapVersion, body_timeout: float) -> Response:
    """The answer to a body that was not read whole (:class:`Body`'s ``refusal``)."""
    if body.refusal == "disconnected":  # the client left mid-body: nothing to answer, nothing stored
        gw.metrics.rejected.labels(route, "disconnected").inc()
        log.info("client disconnected mid-body on route %s", route)
        return Response(status_code=400)
    if body.refusal == "oversize":  # StUF058 is plek server (Tabel 4.1), but as it is it never passes: soap:Client
        why = f"message larger than the limit of {body.limit} bytes" + (
            f" ({body.envelope_limit} for a StUF-GGk envelope)" if body.envelope_limit else "")
        return _response(gw.refuse(route, "oversize", 413, stuf.Fout.of("StUF058", why, soap_side="client"), version))
    if body.refusal == "busy":  # no room to hold it now: "Opslaan bericht niet mogelijk" (the Fo03 code to retry)
        return _response(gw.refuse(route, "busy", 503, stuf.Fout.of(
            "StUF046", "the server is receiving as many large messages as it can hold; offer it again "
            "later"), version, {"Retry-After": "5", "Connection": "close"}))
    return _response(gw.refuse(route, "slow_body", 408, stuf.Fout.of(  # the rest may still come: not a next request
        "StUF058", f"request body not complete within {body_timeout:g}s"), version,
        {"Connection": "close"}))


def _add_probes(app: FastAPI, gw: Gateway) -> None:
    """Liveness, readiness and the Prometheus metrics: open, as an orchestrator and a scraper expect."""

    @app.get("/healthz")
    async def healthz() -> Response:
        return _json(200 if gw.started else 503, {"status": "ok" if gw.started else "starting"})

    @app.get("/readyz")
    async def readyz() -> Response:
        ok, checks = await gw.readiness()
        return _json(200 if ok else 503, {"ready": ok, **checks})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(gw.metrics.render(), media_type=METRICS_CONTENT_TYPE)


def _add_admin(app: FastAPI, config: ServeConfig, gw: Gateway) -> None:
    """Reload, outbox counts and replay: behind the admin key, and absent (404) when none is set."""

    def admin_refusal(request: Request) -> Response | None:
        if not config.admin_key:
            return _json(404, {"error": "admin endpoints are off: set admin_key (or --admin-key)"})
        offered = request.headers.get("x-admin-key") or ""
        if not Gateway.authorised([config.admin_key], {"x-api-key": offered,
                                                       "authorization": request.headers.get("authorization", "")}):
            gw.metrics.rejected.labels("admin", "auth").inc()
            return _json(401, {"error": "admin key required (X-Admin-Key or Authorization: Bearer)"})
        return None

    @app.post("/admin/reload")
    async def admin_reload(request: Request) -> Response:
        refused = admin_refusal(request)
        if refused is not None:
            return refused
        problems = await gw.reload("admin request")
        return _json(200 if not problems else 409, {"reloaded": not problems, "errors": problems,
                                                    "mappings": gw.registry.names()})

    @app.get("/admin/outbox")
    async def admin_outbox(request: Request) -> Response:
        refused = admin_refusal(request)
        if refused is not None:
            return refused
        from gateway.deliver import outbox

        counts = await gw.committer.write(outbox.counts)
        quarantined = await gw.committer.write(outbox.quarantine_counts)
        return _json(200, {"deliveries": [{"route": r, "target": t, "status": s, "count": n}
                                          for (r, t, s), n in sorted(counts.items())],
                           "quarantined": quarantined, "in_memory_queue": {f"{r}/{t}": n for (r, t), n in
                                                                           gw.forwarder.depth().items()}})

    @app.post("/admin/replay")
    async def admin_replay(request: Request) -> Response:
        refused = admin_refusal(request)
        if refused is not None:
            return refused
        raw = await _admin_body(request)
        if isinstance(raw, Response):
            return raw
        try:
            asked = parse_replay(raw)
        except BadReplay as exc:
            return _json(400, {"error": str(exc)})
        results = await gw.replay(asked.ids, asked.quarantined, asked.force)
        _log_replay(request, asked.ids, asked.quarantined, asked.force, sum(r.ok for r in results))
        listed = [{"id": r.id, "ok": r.ok, "note": r.note} for r in results]
        if any(r.note == LEDGER_IMPORTING for r in results):  # those not done stay quarantined: retry them
            return Response(json.dumps({"error": LEDGER_IMPORTING, "results": listed}, indent=1).encode(), 503,
                            {"Retry-After": "5"}, media_type="application/json")
        return _json(200, {"results": listed})

    @app.post("/admin/reconvert")
    async def admin_reconvert(request: Request) -> Response:
        refused = admin_refusal(request)
        if refused is not None:
            return refused
        raw = await _admin_body(request)
        return raw if isinstance(raw, Response) else await _reconvert(gw, request, raw)


async def _admin_body(request: Request) -> bytes | Response:
    """An admin request's body, or the 413 when it passes :data:`MAX_REPLAY_BODY` (read no further)."""
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_REPLAY_BODY:
            return _json(413, {"error": f"more than {MAX_REPLAY_BODY} bytes: replay in several requests"})
    return bytes(raw)


async def _reconvert(gw: Gateway, request: Request, raw: bytes) -> Response:
    """``POST /admin/reconvert {"ids": [..]}``: 200 with what each message became, 409 with the refusal (nothing
    changed), 400 for a body that is not a list of ids."""
    try:
        asked = parse_replay(raw)
    except BadReplay as exc:
        return _json(400, {"error": str(exc)})
    if asked.quarantined or asked.force or not asked.ids:
        return _json(400, {"error": 'expected JSON {"ids": [17]}: the dead deliveries whose messages to convert anew'})
    client = request.client.host if request.client is not None else "unknown"
    try:
        done = await reconvert_through(gw, asked.ids)
    except ReconvertRefused as exc:
        log.info("admin reconvert from %s: deliveries %s refused", client, asked.ids[:20])
        return _json(409, {"error": f"refused: {exc}. Nothing was converted."})
    log.info("admin reconvert from %s: deliveries %s, %d message(s) converted anew", client, asked.ids[:20], len(done))
    return _json(200, {"results": [{"message": r.old, "now": r.new, "queued": [q.id for q in r.queued]} for r in done]})


def _log_replay(request: Request, ids: list[int], quarantined: bool, force: bool, done: int) -> None:
    """Who replayed what, for the operators' record: the client's address, the ids (the first 20) and how many went,
    never a payload. A replay sends a message again to a zaaksysteem, so it should not happen unrecorded."""
    shown = ", ".join(("Q" if quarantined else "") + str(i) for i in ids[:20]) + (" …" if len(ids) > 20 else "")
    client = request.client.host if request.client is not None else "unknown"
    log.info("admin replay from %s: %d %s asked (%s)%s, %d queued again", client, len(ids),
             "quarantined message(s)" if quarantined else "delivery(ies)", shown, " with force" if force else "", done)


def _mount_console(app: FastAPI, config: ServeConfig, gw: Gateway) -> None:
    """The operator console at /console, reading the outbox (the SQLite file or the PostgreSQL store) and replaying
    through the gateway. On PostgreSQL its sessions and audit live in the store, shared by the replicas (schema 0010,
    docs/console.md); the lifespan closes its connections at shutdown (``app.state.console``)."""
    from gateway.console.app import Backend, create_console
    from gateway.console.sessions import OWN_FILE
    from gateway.tooling.explain import explain

    own = gw.db_path
    if own is None:  # a shared store: no file of the console's is opened (the path names data_dir, nothing more)
        Path(config.data_dir).mkdir(parents=True, exist_ok=True)
        own = Path(config.data_dir) / OWN_FILE
    console = create_console(config.console, Backend(
        own, lambda ids: gw.replay(ids, False), config.admin_key, gw.metrics.render, store=config.store,
        replay_quarantined=lambda ids: gw.replay(ids, True), quarantine=gw.quarantine_state,
        purged=gw.quarantine_changed,
        reconvert=(lambda ids, shown: reconvert_through(gw, ids, shown)) if gw.stage is not None else None,
        explain=lambda data, mapping, route: explain(data, registry=gw.registry, mapping=mapping, route=route)))
    app.state.console = console.state.console
    gw.metrics.watch_console_audit(lambda: console.state.console.audit_failures)
    app.mount("/console", console)
