"""Conversion for the sidecar, off the event loop: in worker processes, or in a thread pool.

Conversion is pure-Python CPU work. In threads it holds the GIL and starves the event loop that
accepts, stores and delivers; in worker processes it runs on other cores. Both ways return the
same small, picklable :class:`Converted`. Worker processes compile the mappings themselves (spawned,
never forked from a process with threads) and are replaced, warmed up first, after a reload.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import time
from collections.abc import Callable, Container
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lxml import etree

from gateway.cores import usable_cores
from gateway.deliver import outbox
from gateway.deliver.unmapped import UnmappedInput
from gateway.ingest import DEFAULT_MAX_BYTES, InputError, parse_xml
from gateway.ingest.ei_default import is_flat_file
from gateway.ingest.errors import TOO_LARGE
from gateway.ingest.ggk import limit_for as ggk_limit_for
from gateway.mapping import ConversionError, Refused, Registry
from gateway.mapping.result import Warning_
from gateway.model import Bericht
from gateway.parentwatch import end_with_parent
from gateway.pipeline import FAILURES, Converter, FailureInfo, Output, describe, sender_of
from gateway.procmemory import Allowance, give_back
from gateway.render import stuf
from gateway.render.ggk import is_retour

from .route_settings import STATEFUL_MODES as STATEFUL_MODES  # the names callers import from here, kept
from .route_settings import WorkerSettings, converter_of, rendered_in_server, worker_settings
from .route_settings import build_converters as build_converters
from .route_settings import mapping_files as mapping_files
from .route_settings import schema_available as schema_available
from .warming import warm, warmth
from .workers import STUCK_AFTER, WorkerPool

if TYPE_CHECKING:  # the server's: a worker is handed WorkerSettings and never imports the config module
    from .config import ReplyConfig, ServeConfig

log = logging.getLogger("overstap.convert")
T = TypeVar("T")
_MOVED = object()
"""What a conversion queued on replaced threads answers: run it on the fresh ones."""


@dataclass(slots=True)
class Facts:
    """What a reply needs to know about the inbound message, whether or not it converted."""

    source_ref: str | None = None
    afzender: str | None = None
    ontvanger: str | None = None
    applicatie: str | None = None
    source_key: str | None = None
    """Afzender, identificatie and dagtekening of a converted message (:func:`outbox.source_key`)."""
    content_sha256: str | None = None
    """What a converted message says (:meth:`Bericht.digest`): tells a re-send from a reused identificatie."""
    stuf_zender: stuf.Party | None = None
    """The zender of a message in StUF stuurgegevens (a GGk Di01), whole: the ontvanger of its Bv03/Fo03."""
    stuf_ontvanger: stuf.Party | None = None
    """The ontvanger of a message in StUF stuurgegevens, whole: the zender of its Bv03/Fo03."""
    retour: bool = False
    """A retour (302, 316 …): its identity is its heenbericht's, so it is checked on every route of the ledger."""


SYSTEEM_PARTS = ("organisatie", "applicatie", "administratie", "gebruiker")
"""The parts of a StUF ``Systeem`` (zender, ontvanger), StUF 03.01 4.2."""


def party_of(parts: dict[str, str], who: str) -> stuf.Party | None:
    """``who``'s (``zender``/``ontvanger``) StUF Systeem from ``{"zender.applicatie": ...}``; None without an
    applicatie (the one part the schema requires)."""
    applicatie = parts.get(f"{who}.applicatie")
    if not applicatie:
        return None
    return stuf.Party(applicatie, parts.get(f"{who}.organisatie"), parts.get(f"{who}.administratie"),
                      parts.get(f"{who}.gebruiker"))


def reply_parties(facts: Facts, reply: ReplyConfig) -> tuple[stuf.Party, stuf.Party]:
    """(zender, ontvanger) of the Bv03/Fo03 that answers a message.

    A message in StUF stuurgegevens is answered from its own ontvanger to its own zender, every part kept:
    StUF 03.01 4.4.1 and 4.4.3, "De elementen zender en ontvanger in de stuurgegevens [...] worden gevuld op basis
    van de waarden in het bericht naar aanleiding waarvan het [...] bericht wordt aangemaakt"; the administratie is
    part of which system it is (4.2). An iWmo/iJw message names no StUF systems: the ``reply:`` settings name the
    sidecar, and the message's Afzender and Ontvanger codes the organisations."""
    zender = facts.stuf_ontvanger or stuf.Party(reply.applicatie, reply.organisatie or facts.ontvanger)
    ontvanger = facts.stuf_zender or stuf.Party(facts.applicatie or reply.sender_applicatie, facts.afzender)
    return zender, ontvanger


def facts_from(b: Bericht, envelope_info: dict[str, str]) -> Facts:
    """The facts of a converted message, with the identity the outbox tells re-sends apart by."""
    sender, retour = sender_of(b, envelope_info), is_retour(b)
    return Facts(sender.referentienummer, sender.afzender, sender.ontvanger, sender.applicatie,
                 outbox.source_key(sender.afzender, sender.referentienummer, sender.dagtekening, retour=retour),
                 b.digest(), party_of(envelope_info, "zender"), party_of(envelope_info, "ontvanger"), retour)


def stored_message(route: str, mode: str, body: bytes, content_type: str | None, soap_action: str | None,
                   facts: Facts, mapping: str | None = None, failure: FailureInfo | None = None,
                   reason: str | None = None, unmapped: UnmappedInput | None = None) -> outbox.NewMessage:
    """An inbound message as the outbox keeps it, with what conversion learnt (or why it failed: ``reason``,
    else the failure's message) and where its unmapped input was."""
    return outbox.NewMessage(
        route, mode, body, content_type, soap_action, facts.source_ref, facts.afzender, facts.ontvanger, mapping,
        failure.code if failure else None, failure.field if failure else None, failure.line if failure else None,
        reason or (failure.message if failure else None), source_key=facts.source_key,
        content_sha256=facts.content_sha256, unmapped=unmapped.encode() if unmapped is not None else None)


@dataclass(slots=True)
class Converted:
    """The outcome of converting one inbound message: outputs, or the failure and its metric label."""

    outputs: list[Output] | None
    mapping: str | None = None
    facts: Facts = field(default_factory=Facts)
    failure: FailureInfo | None = None
    reason: str | None = None
    """Metric label of a failure: malformed, entity, unknown_dialect, invalid, output_invalid, internal."""
    seconds: float = 0.0
    warnings: tuple[Warning_, ...] = ()
    """Deviations accepted under ``strictness: lenient``: brought back from a worker process, so the gateway
    counts them as dialect debt whichever process converted."""
    unmapped: UnmappedInput | None = None
    """Source values no rule used (paths and lines only), brought back to be logged, counted and stored."""
    notes: tuple[str, ...] = ()
    """The converter's decisions about the zaak (a retour's no-op, "no change"): with no outputs, why."""

    @property
    def no_output(self) -> str | None:
        """The reason the outbox keeps for a message converted to nothing (:func:`outbox.no_output`), else None:
        without it the shadow report could not tell "nothing to send" from a delivery purged."""
        return outbox.no_output(self.notes) if self.failure is None and self.outputs == [] else None


def _local(el: etree._Element) -> str:
    """An element's local name ("" for a comment or PI); a string split, not ``etree.QName``, which cost a message
    of 100,000 elements ~0.3 s of its failure path when ``facts_of`` walked them all in Python."""
    tag = el.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


_FACT_TAGS = tuple("{*}" + name for name in ("Identificatie", "referentienummer", "Afzender", "Ontvanger",
                                             *SYSTEEM_PARTS))
"""The only elements :func:`facts_of` reads, in any namespace or none, in document order."""


def facts_of(body: bytes) -> Facts:
    """Best effort: the sender's message reference and parties, from iWmo headers or StUF stuurgegevens."""
    limit = ggk_limit_for(body, DEFAULT_MAX_BYTES) if len(body) > DEFAULT_MAX_BYTES else DEFAULT_MAX_BYTES
    try:
        root = parse_xml(body, max_bytes=limit, huge=limit > DEFAULT_MAX_BYTES)  # a GGk envelope may be 25 MB
    except InputError:
        return Facts()
    facts = Facts()
    parties: dict[str, str] = {}
    for el in root.iter(*_FACT_TAGS):  # lxml picks them in C: a hostile message's 100,000 others cost ~nothing
        name = _local(el)
        text = (el.text or "").strip() if name else ""
        up = el.getparent()
        parent = _local(up) if up is not None else ""
        if parent in ("zender", "ontvanger") and name in SYSTEEM_PARTS and text:
            parties.setdefault(f"{parent}.{name}", text)
        is_ref = (name == "Identificatie" and parent.lower() == "berichtidentificatie") or (
            name == "referentienummer" and parent == "stuurgegevens")
        if is_ref and not facts.source_ref:
            facts.source_ref = text
        elif name == "Afzender" and not facts.afzender:
            facts.afzender = text
        elif name == "Ontvanger" and not facts.ontvanger:
            facts.ontvanger = text
        elif name in ("organisatie", "applicatie") and parent == "zender":
            if name == "organisatie" and not facts.afzender:
                facts.afzender = text
            elif name == "applicatie" and not facts.applicatie:
                facts.applicatie = text
    facts.stuf_zender, facts.stuf_ontvanger = party_of(parties, "zender"), party_of(parties, "ontvanger")
    return facts


def unread() -> Facts:
    """The facts of a message a worker died on (or failed on outside the conversion): none. The server does not
    parse it to find them: it may be what killed the worker, and this process is the one all others depend on."""
    return Facts()


def worker_died(route: str) -> FailureInfo:
    """Why a message a conversion worker died on twice is refused."""
    return FailureInfo("StUF058", None, None, "internal error: the conversion worker stopped on this message", route)


def reason_of(exc: BaseException, body: bytes) -> str:
    """The metric label of a bad-input failure."""
    if isinstance(exc, InputError) and exc.code == TOO_LARGE:  # 413, the sender's (not a processing fault)
        return "oversize"
    if isinstance(exc, InputError) and is_flat_file(body):
        return "invalid"  # an EI record or field that is wrong: content, like an XML field error (422)
    if isinstance(exc, InputError):
        head = body[:4096]
        return "entity" if (b"<!DOCTYPE" in head or b"<!ENTITY" in head) else "malformed"
    if isinstance(exc, Refused):  # recognised and refused on purpose by its mapping: counted apart
        return "refused"
    if isinstance(exc, ConversionError) and exc.field == "dialect":
        return "unknown_dialect"
    if type(exc).__name__ == "OutputInvalid":
        return "output_invalid"
    return "invalid"


def convert_message(converter: Converter, route: str, match_route: str, body: bytes) -> Converted:
    """Convert one message; bad input and bugs both come back as a described failure, never raised."""
    started = time.perf_counter()
    try:
        conversion = converter.convert(body, route, route=match_route)
    except FAILURES as exc:
        return Converted(None, None, facts_of(body), describe(exc, route), reason_of(exc, body),
                         time.perf_counter() - started)
    except Exception as exc:  # a bug, not bad input: refuse safely and say so without the payload
        log.error("conversion failed unexpectedly on route %s: %s", route, type(exc).__name__, exc_info=exc)
        info = FailureInfo("StUF058", None, None, f"internal error while converting: {type(exc).__name__}", route)
        return Converted(None, None, facts_of(body), info, "internal", time.perf_counter() - started)
    facts = facts_from(conversion.bericht, conversion.source.envelope_info)
    return Converted(conversion.outputs, conversion.mapping.name, facts, None, None, time.perf_counter() - started,
                     tuple(conversion.warnings), UnmappedInput.of(conversion.unmapped), tuple(conversion.notes))


# -- worker processes -----------------------------------------------------------------------------

def _worker_sides(server: Container[str], converters: dict[str, Converter]) -> tuple[dict[str, Any], ...]:
    """The :func:`warm` calls of a conversion worker: every route mapped, the routes it renders (not ``server``'s)
    rendered."""
    return ({"converters": list(converters.values()), "render": False},
            {"converters": [c for name, c in converters.items() if name not in server], "mapping": False})


def _cold(sides: tuple[dict[str, Any], ...]) -> dict[str, int]:
    """What is still cold of the :func:`warm` calls ``sides``, added up."""
    cold: dict[str, int] = {}
    for side in sides:
        for key, value in warmth(**side).items():
            cold[key] = cold.get(key, 0) + value
    return cold


def worker_warmth() -> dict[str, int]:
    """What is still cold in this worker (all zeros once :func:`_init_worker` warmed it): a task tests send."""
    return _cold(_worker_sides(_worker_settings[0].rendered_in_server, _worker_converters) if _worker_settings
                 else ())


_worker_converters: dict[str, Converter] = {}
_worker_settings: list[WorkerSettings] = []


def _init_worker(settings: WorkerSettings, dirs: list[Path], files: list[Path], parent: int) -> None:
    end_with_parent(parent)  # a kill -9 of the sidecar must not leave workers (and their resource tracker)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sidecar's to handle, not each worker's
    # So is a stop that signals every process at once (systemd's control-group kill, `timeout`): the sidecar ends
    # its workers after its deliveries (it closes their pipes, and kills one that does not go); its death ends
    # them through end_with_parent's SIGKILL.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.getLogger().setLevel(logging.WARNING)
    _worker_converters.clear()
    registry = Registry(dirs=dirs, files=files)
    _worker_converters.update({route.name: converter_of(route, registry, settings.max_body_bytes)
                               for route in settings.routes})
    _worker_settings[:] = [settings]
    for side in _worker_sides(settings.rendered_in_server, _worker_converters):  # before it says ready: warm
        warm(**side)
    from . import mapped  # noqa: F401  the ledger stage's task: imported when its first one is unpickled otherwise
    gc.collect()  # what the set-up freed leaves the process before its memory allowance is measured: left in the
    give_back()  # allocator, it would be room the first messages grow into unseen (tests/test_worker_memory.py)


def _convert_in_worker(route: str, match_route: str, body: bytes) -> Converted:
    return convert_message(_worker_converters[route], route, match_route, body)


def auto_processes() -> int:
    """Worker processes by default: one core stays with the event loop; none on a single core."""
    return max(0, min(4, usable_cores() - 1))


class ConversionPool:
    """Runs conversions in worker processes (``processes`` > 0) or in threads with the route converters."""

    def __init__(self, config: ServeConfig, registry: Registry, converters: dict[str, Converter],
                 processes: int) -> None:
        self.config = config
        self.registry = registry
        self.converters = converters
        self.processes = processes
        self.threads = self._thread_pool()
        self.allowance = Allowance(0)
        """Threads only: how far this process may grow before the threads are replaced (set at :meth:`start`)."""
        self.thread_renewals = 0
        """Times the conversion threads were replaced because the process outgrew its memory allowance."""
        self._old_threads: list[ThreadPoolExecutor] = []
        self._renewing: set[asyncio.Task[None]] = set()
        self.pool: WorkerPool | None = None
        self._swap_lock = asyncio.Lock()
        self.closed = False
        """Set by :meth:`shutdown`: a reload that reaches :meth:`replace` after it starts no workers."""

    def _init_args(self) -> tuple[object, ...]:
        validating = {name: converter.validate for name, converter in self.converters.items()}
        return (worker_settings(self.config, validating), list(self.registry.dirs), list(self.registry.extra_files),
                os.getpid())

    async def start(self) -> None:
        """Start the workers (each warms itself before it says ready) while this process warms what it runs:
        the render of the routes it renders against the ledger, or everything when threads convert."""
        warming = asyncio.get_running_loop().run_in_executor(None, self.warm_server, self.converters)
        try:
            if self.processes > 0:
                await self._start_workers()
        finally:
            await warming
        if self.processes <= 0:  # measured from here: start-up (warming included) is not growth
            self.allowance = Allowance(self.config.convert_worker_growth_mb)

    async def _start_workers(self) -> None:
        pool = WorkerPool(self.processes, _init_worker, self._init_args(), self.config.convert_worker_growth_mb,
                          STUCK_AFTER)
        await pool.start()
        if self.closed:  # shut down while these started: they are not taken on
            await pool.aclose()
            return
        self.pool = pool
        log.info("conversion in %d worker process(es)", self.processes)

    def _server_sides(self, converters: dict[str, Converter]) -> tuple[dict[str, Any], ...]:
        """The :func:`warm` calls of this process: everything with threads; else the routes it renders."""
        if self.processes <= 0:
            return ({"converters": list(converters.values())},)
        server = rendered_in_server(self.config)
        return ({"converters": [c for name, c in converters.items() if name in server], "mapping": False},)

    def warm_server(self, converters: dict[str, Converter]) -> None:
        """Do this process's share of the lazy set-up of ``converters`` now (in a thread: it takes ~0.2-0.5 s)."""
        for side in self._server_sides(converters):
            warm(**side)

    def server_warmth(self) -> dict[str, int]:
        """What is still cold of this process's share (all zeros once started): for tests and diagnosis."""
        return _cold(self._server_sides(self.converters))

    async def run(self, local: Callable[..., T], in_worker: Callable[..., T], route: str, match_route: str,
                  body: bytes) -> T | None:
        """``local(converter, route, match_route, body)`` in a thread, or ``in_worker(route, match_route, body)``
        in a worker process; None when a worker died on it twice (this message may be what kills it: it is
        refused, never run in-process)."""
        loop = asyncio.get_running_loop()
        if self.processes <= 0:
            while True:  # queued on threads replaced meanwhile: goes to the fresh ones, never to the old
                threads = self.threads
                done = await loop.run_in_executor(threads, self._in_thread, threads, local, self.converters[route],
                                                  route, match_route, body)
                if done is not _MOVED:
                    break
            if self.allowance.exceeded():
                self._renew_threads()
            return done  # type: ignore[no-any-return]
        if self.pool is None:
            return None
        return await self.pool.run(in_worker, route, match_route, body)  # type: ignore[no-any-return]

    def _in_thread(self, threads: ThreadPoolExecutor, local: Callable[..., T], *args: Any) -> T | object:
        """``local(*args)``, unless ``threads`` were replaced while this waited in their queue: each conversion
        on them adds to the name dictionary the replacement is meant to free."""
        if threads is not self.threads:
            return _MOVED
        return local(*args)

    def _thread_pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max(1, self.config.convert_threads), thread_name_prefix="convert")

    def _renew_threads(self) -> None:
        """New conversion threads: lxml keeps libxml2's name dictionary per thread and frees it when the thread
        ends, so fresh threads give back what fresh names took (the workers' remedy, without processes). The
        growth is measured again once the old threads have ended and given their memory back."""
        old, self.threads = self.threads, self._thread_pool()
        self._old_threads.append(old)
        self.allowance = Allowance(0)  # no second renewal before the first has given its memory back
        self.thread_renewals += 1
        log.warning("the conversion threads grew the process past its memory allowance (%s MB); replacing them",
                    self.config.convert_worker_growth_mb)
        task = asyncio.get_running_loop().create_task(self._measure_after(old))
        self._renewing.add(task)
        task.add_done_callback(self._renewing.discard)

    async def _measure_after(self, old: ThreadPoolExecutor) -> None:
        await asyncio.to_thread(old.shutdown, wait=True)  # conversions running there finish first
        await asyncio.to_thread(give_back)  # what the ended threads freed leaves the process, not just their arenas
        self._old_threads.remove(old)
        self.allowance = Allowance(self.config.convert_worker_growth_mb)

    async def convert(self, route: str, match_route: str, body: bytes) -> Converted:
        converted = await self.run(convert_message, _convert_in_worker, route, match_route, body)
        return converted if converted is not None else Converted(None, None, unread(), worker_died(route), "internal")

    async def replace(self, converters: dict[str, Converter] | None = None) -> None:
        """After a reload: threads use the new converters at once; new workers take over once warmed up.

        Until then the old workers keep converting with the old mappings, so no request waits.
        """
        if converters is not None:  # warmed by the caller (Gateway.reload), as fresh workers warm themselves
            self.converters = converters
        if self.processes <= 0 or self.closed:
            return
        async with self._swap_lock:
            if self.closed:  # shut down while this reload waited for the lock
                return
            if self.pool is None:
                await self.start()
            else:
                self.pool.init_args = self._init_args()
                await self.pool.replace()  # conversions already running in the old workers finish there
            log.info("conversion workers replaced")

    async def shutdown(self) -> None:
        """End the worker processes (from the event loop that drives them) and the conversion threads."""
        self.closed = True
        if self.pool is not None:
            pool, self.pool = self.pool, None
            await pool.aclose()
        for old in self._old_threads:  # replaced for their memory: what waits there is not run
            old.shutdown(wait=False, cancel_futures=True)
        await asyncio.gather(*self._renewing, return_exceptions=True)
        await asyncio.to_thread(self.threads.shutdown, wait=True, cancel_futures=True)
