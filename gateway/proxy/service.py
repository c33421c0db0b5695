"""The sidecar's work, apart from HTTP: check, convert, store durably, acknowledge; run the forwarder.

:class:`Gateway` is what the FastAPI app calls for every inbound message. It answers only after the
outbox commit (``ack: durable``) or after the downstream's verdict (``ack: delivered``); anything it
refuses is kept in quarantine with the reason and answered with a StUF Fo03 that names field and
cause. Conversion is CPU work and runs in worker processes (or threads) so the event loop keeps accepting.
What a stored message is answered (a Bv03, or the downstream's verdict) is :mod:`.answering`'s job.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Mapping, Sequence

from gateway.deliver import outbox
from gateway.deliver.claiming import ClaimingForwarder
from gateway.deliver.committer import GroupCommitter
from gateway.deliver.forwarder import Forwarder
from gateway.deliver.plan import plan
from gateway.deliver.replay import Replayed, apply, chunks, prepare
from gateway.deliver.serving import Serving
from gateway.deliver.store import SqliteStore, failure_name, open_store
from gateway.ingest import xml as ingest_xml
from gateway.mapping import ConversionError, DialectDebt, MappingError, Registry, walkgen
from gateway.mapping.registry import fingerprint
from gateway.pipeline import Conversion, FailureInfo
from gateway.render import stuf, writers

from .answering import Answer, acknowledge, waited_on
from .chain_fault import receive_fo01, takes_fo01
from .config import DEFAULT_ROUTE, ConfigError, RouteConfig, ServeConfig
from .converting import (
    ConversionPool,
    Converted,
    Facts,
    auto_processes,
    build_converters,
    mapping_files,
    reply_parties,
    stored_message,
)
from .ledgered import LedgerStage
from .mapped import Mapped
from .metrics import Metrics
from .quarantine_bound import QuarantineBound
from .quarantining import QuarantineDoor, QuarantineFull
from .reachability import Reachability
from .replaying import picked_up, renew_stale, replay_deliveries
from .shared_stage import SharedLedgerStage
from .soap import refuse_not_understood, soap_version
from .unmapped_report import report_unmapped

log = logging.getLogger("overstap.gateway")


class Gateway(QuarantineDoor):
    """Routes, converters, outbox, forwarder and metrics of one running sidecar."""

    def __init__(self, config: ServeConfig, registry: Registry | None = None) -> None:
        config.check()
        self.config = config
        self.metrics = Metrics()
        self.debt = DialectDebt()
        """Deviations accepted under ``strictness: lenient`` since start, per mapping and rule, whichever process
        converted (``overstap_dialect_debt_total`` on /metrics, the console's health page)."""
        self.registry = registry if registry is not None else Registry(files=mapping_files(config))
        for err in self.registry.errors:
            log.error("mapping not loaded: %s", err)
        self.converters = build_converters(config, self.registry)
        processes = auto_processes() if config.convert_processes is None else config.convert_processes
        self.conversion = ConversionPool(config, self.registry, self.converters, processes)
        self.store = open_store(config.data_dir, config.store)
        self.db_path = self.store.path if isinstance(self.store, SqliteStore) else None
        """The SQLite outbox file (None on a shared store): what the console reads."""
        self.committer = GroupCommitter(self.store.connect, on_commit=self.metrics.on_commit)
        forwarder = ClaimingForwarder if self.store.shared else Forwarder  # replicas split the zaken between them
        self.forwarder = forwarder(self.store, self.committer, config.targets(), observer=self.metrics,
                                   poll_interval=config.poll_interval, renew_grace=config.renew_grace)
        self.forwarder.renew = lambda delivery_id: renew_stale(self, delivery_id)  # StUF019: docs/ggk-profile.md 5.2
        if isinstance(self.forwarder, ClaimingForwarder):  # its settled writes NOTIFY only where a sender may wait
            self.forwarder.watchable = lambda route, target: waited_on(self.config.routes, route, target)
        self.stage: LedgerStage | None = None
        if config.ledger:
            self.stage = LedgerStage(self.db_path, self.committer) if self.db_path is not None \
                else SharedLedgerStage(self.committer)
        """The zaak ledger (tables in the outbox database) and the ordered, stateful render step."""
        if self.stage is not None:
            self.stage.attach(self.converters, config.routes)
        self.metrics.watch_depth(self.forwarder.depth)
        self.metrics.watch_writes(self.committer.waiting)
        self.metrics.watch_debt(self.debt.counts)
        self.metrics.watch_workers(self.forwarder.workers, self.validating)
        self._reload_lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self._fingerprint: dict[str, tuple[int, int]] = {}
        self._reachable = Reachability()
        """Each downstream's connect check for /readyz: the last that worked, and the one under way."""
        self.last_reload_errors: list[str] = []
        self.quarantine = QuarantineBound(config.quarantine_max_messages, config.quarantine_max_bytes)
        """What the quarantine holds, kept in memory: the bound a refused message is checked against."""
        self._counting: set[asyncio.Future[None]] = set()
        """Counts of the quarantine the console's health page stopped waiting for (:meth:`quarantine_state`)."""
        self.started = False
        self.serving: Serving | None = None  # the hold on a SQLite outbox while started (deliver/serving.py)

    # -- life cycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Workers, outbox writer, forwarder and mapping watcher; not "gateway ready": :meth:`announce` says that once
        a connection can be taken, which a server binds its sockets for only after this returns."""
        if self.db_path is not None:  # `outbox replay --quarantined` beside it would render the same zaken
            self.serving = await asyncio.to_thread(Serving, self.db_path)
        await self.conversion.start()
        try:
            self.committer.start()
            await self.forwarder.start()
            if self.config.watch_mappings:
                self._fingerprint = await asyncio.to_thread(self._mapping_fingerprint)
                self._watcher = asyncio.create_task(self._watch(), name="mapping-watcher")
        except BaseException:
            await self._undo_start()
            raise
        self.started = True
        for route, on in self.validating().items():
            if on:
                log.info("route %s: canonical output is checked against the official schema: %s", route,
                         self.converters[route].checking)
            else:
                log.warning("route %s: canonical output is NOT validated (no schemas found under the reference "
                            "folder, or validate: false); set validate: true to make missing schemas a startup "
                            "error", route)
        if not ingest_xml.LINEAR_ATTRIBUTES:
            log.warning("libxml2 %s is older than 2.12: an element with more than %d '=' after its '<' is refused "
                        "before the parse; install lxml's own wheel (libxml2 2.12+) to check the parsed tree instead",
                        ".".join(map(str, ingest_xml.etree.LIBXML_VERSION)), ingest_xml.MAX_ATTRIBUTES)

    def announce(self, listening: Sequence[str] = ()) -> None:
        """Log "gateway ready": called once the sidecar can take a connection and a message, which is after
        :meth:`start` (``overstap serve``: once uvicorn's sockets listen, gateway/proxy/listening.py)."""
        at = f" on {', '.join(listening)}" if listening else ""
        log.info("gateway ready%s: %d route(s), %d mapping(s), outbox %s, mapping walk %s, zkn writer %s", at,
                 len(self.config.routes), len(self.registry.all()), self.store.describe(),
                 "native" if walkgen.NATIVE else f"generated Python ({walkgen.NATIVE_MISSING or 'chosen'})",
                 "native" if writers.native is not None else f"Python ({writers.MISSING})",
                 extra={"listening": list(listening)})

    async def _undo_start(self) -> None:
        """A start that failed after the conversion workers came up: end what it started, so the process exits.

        Why: the lifespan stops only a started gateway, and the workers leave SIGTERM to us; left running, they
        would hold multiprocessing's exit handler, which waits for its children, for ever. Each step is tried
        on its own: the failure may have left any of them half-started."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(BaseException):
                await self._watcher
        with contextlib.suppress(Exception):
            await self.forwarder.stop(0)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.committer.stop)
        await self.conversion.shutdown()
        if self.serving is not None:
            self.serving.release()

    async def stop(self) -> None:
        """Finish in-flight deliveries (bounded by shutdown_grace), flush the outbox, stop the threads."""
        self.started = False
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self.forwarder.stop(self.config.shutdown_grace)
        await asyncio.to_thread(self.committer.stop)
        await self.conversion.shutdown()
        if self.stage is not None:
            await asyncio.to_thread(self.stage.close)
        if self.serving is not None:
            self.serving.release()
        log.info("gateway stopped")

    # -- inbound ---------------------------------------------------------------------------------

    def route(self, name: str | None) -> RouteConfig | None:
        return self.config.routes.get(name or DEFAULT_ROUTE)

    @staticmethod
    def authorised(keys: list[str], headers: Mapping[str, str]) -> bool:
        """API key in ``X-API-Key`` or ``Authorization: Bearer``; compared in constant time."""
        offered = headers.get("x-api-key") or ""
        auth = headers.get("authorization") or ""
        if not offered and auth.lower().startswith("bearer "):
            offered = auth[7:].strip()
        if not offered:
            return False
        return any(hmac.compare_digest(offered.encode(), key.encode()) for key in keys)

    def fault(self, status: int, fout: stuf.Fout, version: stuf.SoapVersion, facts: Facts | None = None,
              headers: dict[str, str] | None = None) -> Answer:
        facts = facts or Facts()
        fo = stuf.fo03(*reply_parties(facts, self.config.reply), facts.source_ref or stuf.UNKNOWN_REF, fout)
        if self.config.fault_status == "soap":
            status = stuf.http_status(fout, version)
        return Answer(status, stuf.fault(fo, fout, version), stuf.CONTENT_TYPE[version], headers or {})

    def refuse(self, route: str, reason: str, status: int, fout: stuf.Fout, version: stuf.SoapVersion,
               headers: dict[str, str] | None = None) -> Answer:
        """A refusal before the message is looked at (route, credentials, size): counted, logged, answered."""
        self.metrics.rejected.labels(route, reason).inc()
        log.warning("refused on route %s: %s", route, reason, extra={"route": route, "reason": reason})
        return self.fault(status, fout, version, headers=headers)

    async def receive(self, route_name: str | None, body: bytes, headers: Mapping[str, str]) -> Answer:
        """Handle one inbound message end to end and say what to answer."""
        started = time.perf_counter()
        content_type = headers.get("content-type")
        version = soap_version(body, content_type)
        route = self.route(route_name)
        if route is None:
            return self.refuse("unknown", "unknown_route", 404, stuf.Fout.of(
                "StUF010", f"unknown route {route_name!r}: post to /soap or /soap/<route> with one of "
                f"{', '.join(sorted(self.config.routes))}"), version)
        if route.api_keys and not self.authorised(route.api_keys, headers):
            return self.refuse(route.name, "auth", 401, stuf.Fout.of(
                "StUF052", "not authorised: a valid API key (X-API-Key or Authorization: Bearer) is "
                "required on this route"), version, {"WWW-Authenticate": 'Bearer realm="overstap"'})
        self.metrics.received.labels(route.name).inc()
        soap_action = headers.get("soapaction")
        refused = await refuse_not_understood(self, route, body, content_type, soap_action, version)
        if refused is not None:
            return refused
        if takes_fo01(route, body):  # the chain refusing an envelope it took earlier (GGk spec 2.3)
            return await receive_fo01(self, route, body, content_type, soap_action, version)
        if self.stage is not None and self.stage.applies(route):
            answer = await self.stage.receive(self, route, body, content_type, soap_action, version)
            self.metrics.ack_seconds.labels(route.name).observe(time.perf_counter() - started)
            return answer
        attempt = await self.conversion.convert(route.name, route.match_route or route.name, body)
        self.metrics.conversion_seconds.labels(route.name).observe(attempt.seconds)
        if attempt.warnings and attempt.mapping:
            self.debt.record(attempt.mapping, attempt.warnings)
        if attempt.outputs is not None:
            self.metrics.converted.labels(route.name).inc()
        if attempt.failure is not None:
            return await self.refused_or_unconverted(route, body, content_type, soap_action, attempt, version)
        answer = await self._accept(route, body, content_type, soap_action, attempt, version)
        self.metrics.ack_seconds.labels(route.name).observe(time.perf_counter() - started)
        return answer

    async def refused_or_unconverted(self, route: RouteConfig, body: bytes, content_type: str | None,
                                     soap_action: str | None, attempt: Converted, version: stuf.SoapVersion) -> Answer:
        """A message that did not convert: quarantined and refused in translate mode, else forwarded as it is."""
        if route.mode == "translate":
            return await self._quarantine(route, body, content_type, soap_action, attempt, version)
        self.metrics.unconverted.labels(route.name, attempt.reason or "invalid").inc()
        return await self._accept(route, body, content_type, soap_action, attempt, version)

    def quarantine_full(self, version: stuf.SoapVersion, facts: Facts | None = None) -> Answer:
        """The answer to a refused message the full quarantine cannot keep: not stored, so "offer it again"."""
        fout = stuf.Fout.of("StUF046", "the message is refused and the quarantine that keeps refused messages is "
                            "full: not stored; offer it again later")
        return self.fault(503, fout, version, facts, {"Retry-After": "60"})

    async def _quarantine(self, route: RouteConfig, body: bytes, content_type: str | None, soap_action: str | None,
                          attempt: Converted, version: stuf.SoapVersion) -> Answer:
        info = attempt.failure
        assert info is not None
        message = stored_message(route.name, route.mode, body, content_type, soap_action, attempt.facts, None, info,
                                 info.fitted(stuf.MAX_DETAILS) if info.also else None)
        try:
            qid = await self.keep_refused(route.name, message)
        except QuarantineFull:
            return self.quarantine_full(version, attempt.facts)
        reason = attempt.reason or "invalid"
        self.metrics.rejected.labels(route.name, reason).inc()
        headers = {} if qid is None else {"X-Overstap-Quarantine": str(qid)}
        log.warning("message refused on route %s: %s %s", route.name, info.code, info.field or "",
                    extra={"route": route.name, "code": info.code, "field": info.field, "line": info.line,
                           "reason": reason, "quarantine": headers.get("X-Overstap-Quarantine"),
                           "source_ref": attempt.facts.source_ref})
        status = {"internal": 500, "malformed": 400, "entity": 400, "conflict": 409, "oversize": 413}.get(reason, 422)
        what = f"{info.field}: {info.message}" if info.field else info.message
        if info.also:  # several independent errors: the omschrijving names the first, the details all of them
            what = f"{len(info.also) + 1 + info.left_out} problems; first: {what}"
        details = info.fitted(stuf.MAX_DETAILS) if info.line or info.field or info.also else None
        # a message too large never passes as it is: SOAP must not call it the server's (see stuf.Fout.soap_side)
        fout = stuf.Fout.of(info.code, what, details, "client" if reason == "oversize" else None)
        return self.fault(status, fout, version, attempt.facts, headers)

    async def _accept(self, route: RouteConfig, body: bytes, content_type: str | None, soap_action: str | None,
                      attempt: Converted, version: stuf.SoapVersion) -> Answer:
        facts = attempt.facts
        message = stored_message(route.name, route.mode, body, content_type, soap_action, facts, attempt.mapping,
                                 attempt.failure, attempt.no_output, unmapped=attempt.unmapped)
        deliveries = plan(route.mode, attempt.outputs, body, content_type, soap_action, route.in_order)
        try:
            accepted = await self.committer.write(lambda c: outbox.accept(c, message, deliveries))
        except outbox.ReferenceConflict as exc:  # not a re-send: refuse it (and keep it for the operator)
            return await self.refuse_conflict(route, body, content_type, soap_action, attempt, exc, version)
        except Exception as exc:  # not stored means not acknowledged
            return self.store_failed(route, exc, facts, version)
        report_unmapped(self.metrics, route.name, route.mode, attempt.mapping, accepted, facts.source_ref,
                        attempt.unmapped)
        return await acknowledge(self, route, accepted, facts, version)

    async def refuse_conflict(self, route: RouteConfig, body: bytes, content_type: str | None,
                              soap_action: str | None, attempt: Converted | Mapped, exc: outbox.ReferenceConflict,
                              version: stuf.SoapVersion) -> Answer:
        """Another message under an identificatie the sender already used: refused (409) and quarantined.

        Acknowledging it as a re-send would lose it; delivering it would let one reference name two messages.
        """
        info = FailureInfo("StUF016", "referentienummer", None, str(exc), route.name)  # Tabel 4.1, soort 2,3
        refused = Converted(None, attempt.mapping, attempt.facts, info, "conflict")
        return await self._quarantine(route, body, content_type, soap_action, refused, version)

    def store_failed(self, route: RouteConfig, exc: BaseException, facts: Facts, version: stuf.SoapVersion) -> Answer:
        """The outbox write failed: nothing is acknowledged, the sender offers the message again later."""
        self.metrics.rejected.labels(route.name, "store_failed").inc()
        log.error("outbox write failed on route %s: %s", route.name, failure_name(exc))
        return self.fault(503, stuf.Fout.of("StUF046", "the message could not be stored; offer it again later"),
                          version, facts, {"Retry-After": "5"})

    # -- operations ------------------------------------------------------------------------------

    def convert_for_replay(self, route: str, original: bytes) -> Conversion:
        converter = self.converters.get(route)
        if converter is None:
            raise ConversionError(f"route {route!r} is not configured any more", field="route")
        found = self.config.routes[route]
        return converter.convert(original, route, route=found.match_route or route)

    @property
    def in_order(self) -> dict[str, frozenset[str]]:
        """Route -> its targets taking one order, for a replayed message planned outside a route's own path."""
        return {name: route.in_order for name, route in self.config.routes.items()}

    async def replay(self, ids: list[int], quarantined: bool = False, force: bool = False) -> list[Replayed]:
        """Dead deliveries go again as stored (same referentienummer, never rendered anew against a ledger that has
        moved on; delivered ones only with ``force``; a GGk envelope the chain holds in a new envelope), in chunks
        through the outbox writer; a quarantined message goes
        through the ordered ledger step, or (no ledger) is converted in a thread with its own connection and then
        written in one short write per chunk. The outbox writer never converts, so acknowledgements keep flowing;
        between chunks the request can be cancelled (a shutdown), and what was written stays written.
        """
        if not quarantined:
            results: list[Replayed] = []
            for chunk in chunks(ids):
                results += await replay_deliveries(self, chunk, force)
            picked_up(self, results)
            return results
        try:
            return await self._replay_quarantined(ids)
        finally:  # what left the quarantine shows in /readyz and the console at their next look (as after a purge),
            self.quarantine_changed()  # not within RECOUNT_SECONDS; also after a cancelled or failed replay

    async def _replay_quarantined(self, ids: list[int]) -> list[Replayed]:
        """Quarantined messages converted again: through the ledger's ordered step, or in a thread, chunk by chunk."""
        if self.stage is not None:
            return await self.stage.replay_quarantined(self, ids)
        results: list[Replayed] = []
        conn = await asyncio.to_thread(self.store.connect)
        try:
            for chunk in chunks(ids):
                steps = await asyncio.to_thread(prepare, conn, chunk, self.convert_for_replay, True)
                results += await self.committer.write(lambda c, steps=steps: apply(c, steps, self.in_order))
        finally:
            conn.close()
        picked_up(self, results)  # its deliveries are in the outbox only: the forwarder's next poll is far off
        return results

    async def reload(self, why: str = "request") -> list[str]:
        """Recompile the mappings; on any error keep serving the old ones and return the errors."""
        async with self._reload_lock:
            errors = await asyncio.to_thread(self.registry.reload)
            problems = [str(p) for e in errors for p in (e.problems if isinstance(e, MappingError) else [e])]
            if not problems:
                try:
                    converters = build_converters(self.config, self.registry)
                    await asyncio.to_thread(self.conversion.warm_server, converters)  # taken on warm, as workers
                    self.converters = converters
                    if self.stage is not None:
                        self.stage.attach(self.converters, self.config.routes)
                    await self.conversion.replace(self.converters)
                except (ConfigError, MappingError) as exc:
                    problems = [str(exc)]
                except OSError as exc:  # new workers could not be started (no memory, no file descriptors): the
                    problems = [f"new conversion workers could not start: {exc}"]  # old ones go on converting
            self.last_reload_errors = problems
            if problems:
                self.metrics.reloads.labels("failed").inc()
                log.error("mapping reload (%s) failed; the previous mappings stay in use: %s", why,
                          "; ".join(problems[:5]))
            else:
                self.metrics.reloads.labels("ok").inc()
                log.info("mappings reloaded (%s): %d mapping(s)", why, len(self.registry.all()))
            return problems

    def _mapping_fingerprint(self) -> dict[str, tuple[int, int]]:
        return fingerprint(self.registry.dirs, self.registry.extra_files)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.config.watch_interval)
            try:
                current = await asyncio.to_thread(self._mapping_fingerprint)
            except Exception as exc:  # keep watching
                log.warning("mapping watch failed: %s", exc)
                continue
            if current != self._fingerprint:
                self._fingerprint = current
                try:
                    await self.reload("file change")
                except Exception:  # a bug must not end the watch: later edits would never be picked up
                    log.exception("mapping reload (file change) failed unexpectedly; watching on")

    def validating(self) -> dict[str, bool]:
        """Per route: is canonical output checked against the official schema before it is acknowledged?"""
        return {name: bool(c.validate) for name, c in self.converters.items()}

    async def readiness(self) -> tuple[bool, dict[str, object]]:
        """Mappings loaded, outbox writable, downstreams reachable (each downstream checked at most every 5s)."""
        checks: dict[str, object] = {"mappings": len(self.registry.all())}
        ok = bool(checks["mappings"]) and bool(self.converters) and self.started
        try:
            await asyncio.wait_for(self.committer.write(
                lambda c: c.execute("UPDATE meta SET value = value WHERE key = 'generation'")), 5.0)
            checks["outbox"] = "writable"
        except Exception as exc:  # reported, not raised
            checks["outbox"] = f"not writable: {type(exc).__name__}"
            ok = False
        downstreams: dict[str, bool] = {}
        for name, downstream in self.config.downstreams.items():
            lane = self.forwarder.lanes.get(name)
            if lane is not None and lane.last_ok is not None and time.time() - lane.last_ok < 5.0:
                downstreams[name] = True  # it answered a delivery just now
            else:  # a recent connect that worked, or one connect shared by every request asking now
                downstreams[name] = await self._reachable.check(name, downstream.url)
        checks["downstreams"] = downstreams
        if self.config.require_downstream_ready and not all(downstreams.values()):
            ok = False
        if self.last_reload_errors:
            checks["last_reload_errors"] = self.last_reload_errors[:5]
        checks["queue_depth"] = sum(self.forwarder.depth().values())
        checks["quarantine"] = await self.quarantine_state()  # full is shown, not unready: good messages pass
        checks["validation"] = self.validating()
        workers = checks["delivery_workers"] = self.forwarder.workers()
        if self.started and workers["running"] < workers["expected"]:
            ok = False
        return ok, checks

