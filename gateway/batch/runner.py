"""One batch run from start (or resume) to summary: preflight, journal, stream, convert, commit, finish.

The parent process does only cheap, ordered work here: it reads members, groups them into
chunks, lets the pool convert them, appends the results to the sink in input order and commits
progress to the journal every couple of seconds. Ctrl-C and SIGTERM stop it at a chunk boundary
with a final commit; ``kill -9`` loses at most the work since the last commit, which a resume redoes.
"""

from __future__ import annotations

import contextlib
import gc
import signal
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

from gateway.ingest import DEFAULT_MAX_BYTES
from gateway.ledger import render_record
from gateway.ledger.sqlite import open_failure
from gateway.mapping import MappingError, Registry
from gateway.pgstore import is_url
from gateway.pgstore.chunked import masked
from gateway.pipeline import PROFILES, Converter
from gateway.procmemory import DEFAULT_GROWTH_MB
from gateway.render import RenderSettings, fingerprint
from gateway.render.schemas import SchemaUnavailable

from . import journal as journal_mod
from .budget import Limits
from .chunking import chunked, covered
from .inputs import Inputs, InputsChanged, close_readers, identity
from .journal import Journal
from .ledgered import ChunkStore, LedgerStep, open_store
from .outlock import OutInUse, OutLock
from .pool import InProcessOutgrown, OrderedPool, WorkersFailed, usable_cores
from .progress import Progress, make_progress
from .report import Tally, summary
from .shard import Shard
from .sinks import SUMMARY, ArchiveSink, Sink, SinkSpec, open_sink, publish, read_summary
from .work import DEFAULT_TIMEOUT, WorkConfig

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_OUTGROWN, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
"""3: an internal error stopped the run (a bug): never 1, which a Job may treat as "done, some inputs failed".
4: converting in this process (``--workers 0``), it outgrew its memory allowance and stopped at a chunk's end."""
class BatchUsageError(Exception):
    """Bad arguments or configuration: nothing was converted (exit status 2)."""


@dataclass(slots=True)
class BatchOptions:
    inputs: list[Path]
    out: Path
    profile: str = "zkn"
    mappings: tuple[str, ...] = ()
    validate: bool | str = True
    """False, True (zkn: the value guard; ggk: the payload parsed back, the envelope guarded) or "full" (every
    output parsed back and validated)."""
    workers: int | None = None
    resume: bool = False
    shard: Shard = field(default_factory=Shard)
    route: str | None = None
    progress: str = "auto"
    progress_interval: float = 10.0
    chunk_size: int = 64
    commit_seconds: float = 2.0
    max_bytes: int = DEFAULT_MAX_BYTES
    level: int = 1
    timeout: float = DEFAULT_TIMEOUT
    quarantine: Limits = field(default_factory=Limits)
    state: str = "none"
    """Folder of the zaak ledger (``ledger.sqlite``), shared with ``convert --state``; ``none``: in memory for
    this run (the library default; the CLI's is ``DEFAULT_STATE``, as for convert); or a PostgreSQL URL, which
    shards share (they then split by client, see shard.py)."""
    worker_growth_mb: int = DEFAULT_GROWTH_MB
    """Worker processes are replaced once one has grown by this many MB (0: never); see gateway.procmemory."""
    settings: RenderSettings | None = None
    """The render settings (``--config``: zender, ontvanger, the gemeente's zaaktypen); None: the defaults."""


@dataclass(slots=True)
class Outcome:
    summary: dict[str, Any] | None
    exit_code: int
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)


def default_workers() -> int:
    """One worker fewer than the cores this process may use, at least one: the parent renders every output in
    order and is the run's critical path, so a worker on its core only takes turns with it (2 cores: 1 worker
    2,571 msg/s, 2 workers 2,310; docs/performance.md)."""
    return max(1, usable_cores() - 1)


ARGUMENTS = "arguments"
"""The summary's ``run`` key holding the run's journal header: the archive keeps it once the journal is gone."""


def exit_code_of(data: dict[str, Any] | None) -> int:
    return EXIT_FAILED if data and data["status"]["failed"] else EXIT_OK


class _Stop:
    """Turns the first Ctrl-C / SIGTERM into a clean stop at the next chunk; a second one is immediate."""

    def __init__(self) -> None:
        self.requested = False
        self._saved: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            self.restore()
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _Stop:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._saved[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                break
        return self

    def restore(self) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved.clear()

    def __exit__(self, *exc: object) -> None:
        self.restore()


@contextlib.contextmanager
def frozen_startup() -> Iterator[None]:
    """Keep what start-up built (compiled mappings, schemas, the converter) out of the cyclic GC for the run.

    Why: every full collection walked those millions of objects again (~40 ms each, ~30 µs a message in the
    parent), and in a forked worker that walk also writes to each inherited page. Frozen before the pool forks,
    neither process looks at them again; thawed at the end so a caller running batches in one process keeps no
    garbage of one run frozen in the next. A caller that froze objects itself is left alone."""
    if gc.get_freeze_count():
        yield
        return
    gc.collect()  # start-up's garbage freed now, not frozen with the rest
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


RUN_GC_THRESHOLD = 7_000
"""The youngest generation's collection threshold while a batch runs (CPython's default is 700)."""


@contextlib.contextmanager
def run_collector() -> Iterator[None]:
    """The cyclic collector's youngest generation collected every :data:`RUN_GC_THRESHOLD` allocations for the run.

    Why: the parent holds a chunk's results (~80 tracked objects a member, unpickled at once) while it renders
    them, and at 700 every young collection walked them again: 610-630 collections and 30-34 µs of CPU a message
    in a 10,000-message run, 17 collections and 9-10 µs at 7,000 (docs/performance-history.md, session 32). A
    conversion makes no cyclic garbage of its own, so what waits longer is a failure's few cycles. The caller's
    thresholds come back afterwards; forked workers inherit the run's (their runs pause the collector anyway)."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], RUN_GC_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


class BatchRun:
    """A prepared run: arguments checked, journal read, ready to :meth:`execute`."""

    def __init__(self, options: BatchOptions, say: Callable[[str], None] = lambda text: None) -> None:
        self.options = options
        self.say = say
        self.paths = [p.resolve() for p in options.inputs]
        for given, path in zip(options.inputs, self.paths, strict=True):
            if not path.exists():
                raise BatchUsageError(f"no such file or folder: {given}")
        if options.profile not in PROFILES:
            raise BatchUsageError(f"unknown profile {options.profile!r}: choose one of {', '.join(PROFILES)}")
        self.workers = default_workers() if options.workers is None else options.workers
        if self.workers < 0:
            raise BatchUsageError("--workers must be 0 (convert in this process) or more")
        if not 0 <= options.level <= 9:
            raise BatchUsageError(f"--level must be 0 to 9, not {options.level}")
        target = options.out.resolve()
        if target in self.paths or any(p.is_dir() and target.is_relative_to(p) for p in self.paths):
            raise BatchUsageError("--out must not be one of the inputs or inside an input folder")
        self.shared = is_url(options.state)
        """A ledger in PostgreSQL: shards share it and split by client; its resume keys get a run token."""
        self.ledger_run = uuid.uuid4().hex if self.shared else None
        self.config = self._preflight(target)
        self.spec = self.config.sink
        self._keep_apart()
        self.out_lock = OutLock()

    def _keep_apart(self) -> None:
        """Refuse inputs that overlap what the run writes: OUT's work folder (``OUT.partial``, removed when the
        run is published, with any input inside it) and a ``--state`` folder (whose ledger files would be read,
        in use, as messages and copied to the quarantine: the default ``./overstap-state`` under ``batch .``)."""
        own = []
        if self.spec.kind != "folder":
            own.append(("OUT's work folder", self.spec.workdir.resolve()))
        state = self.options.state
        if not self.shared and state.strip().lower() != "none":
            own.append(("--state", Path(state).resolve()))
        for what, place in own:
            for given, path in zip(self.options.inputs, self.paths, strict=True):
                inside = path.is_relative_to(place) if what != "--state" else path.parent == place  # its own files
                if path == place or inside or (path.is_dir() and place.is_relative_to(path)):
                    raise BatchUsageError(f"{what} {place} and the input {given} overlap: the run would read what "
                                          f"it writes{', and remove it when done' if what != '--state' else ''}; "
                                          "choose another place")

    def _preflight(self, target: Path) -> WorkConfig:
        files = tuple(str(Path(m).resolve()) for m in self.options.mappings if Path(m).suffix in (".yaml", ".yml"))
        registry = self.registry = Registry(files=[Path(f) for f in files])
        for err in registry.errors:
            for problem in err.problems:
                self.say(f"warning: mapping not loaded: {problem}")
        try:
            names = tuple(registry.get(ref).name for ref in self.options.mappings)
        except MappingError as exc:
            raise BatchUsageError(str(exc)) from None
        if self.options.profile == "ggk":
            import importlib.util

            if importlib.util.find_spec("gateway.render.ggk") is None:
                raise BatchUsageError("profile ggk is not available in this build")
        try:
            Converter(registry, profile=self.options.profile, mappings=names, validate=self.options.validate,
                      settings=self.options.settings)
        except SchemaUnavailable as exc:
            raise BatchUsageError(f"{exc} (or pass --no-validate)") from None
        spec = SinkSpec.for_target(target, int(time.time()), self.options.level)
        return WorkConfig(spec, self.options.profile, names, files, self.options.validate, self.options.route,
                          self.options.max_bytes, self.options.timeout, self.options.quarantine,
                          stateful=True, by_client=self.options.shard if self.shared else None,
                          worker_growth_mb=self.options.worker_growth_mb, settings=self.options.settings)

    def header(self) -> dict[str, Any]:
        """What makes two runs the same run (a resume must match it)."""
        o = self.options
        return {"inputs": [str(p) for p in self.paths], "identities": [identity(p) for p in self.paths],
                "out": str(self.spec.target), "sink": self.spec.kind,
                "profile": o.profile, "mappings": list(self.config.mappings), "validate": o.validate,
                "route": o.route, "shard": str(o.shard), "max_bytes": o.max_bytes, "state": self.state_name(),
                **({"ledger_run": self.ledger_run} if self.ledger_run else {}),
                **journal_mod.render_entry(o.settings)}

    def state_name(self) -> str:
        state = self.options.state
        if self.shared:
            return masked(state)  # the journal is a file in OUT: no password in it
        return "none" if state.strip().lower() == "none" else str(Path(state).resolve())

    def ledger_key(self) -> str:
        """What this run's remembered outputs are keyed under. A shared database gets a token from the journal:
        two runs into the same OUT path on two machines, started in the same second, must not meet there."""
        return self.ledger_run or f"{self.spec.target}|{self.spec.stamp}"

    def open_store(self) -> ChunkStore:
        try:
            return open_store(self.options.state, (self.options.shard.index, self.options.shard.count))
        except RuntimeError as exc:  # an unreachable database (or no psycopg): nothing was converted
            raise BatchUsageError(f"--state {self.state_name()}: {exc}") from None
        except (OSError, sqlite3.Error) as exc:  # a file where the folder goes, a ledger.sqlite that is no database:
            # the options' mistake, named before OUT or the journal is touched (not exit 3 "please report this")
            raise BatchUsageError(f"--state {self.state_name()}: cannot open the zaak ledger: "
                                  f"{open_failure(self.options.state, exc)}") from None

    # -- resume / fresh -----------------------------------------------------------------------

    def _lock(self) -> None:
        """Take OUT's work folder for this run (outlock.py), creating it if need be; refuse if another run has it."""
        try:
            self.spec.workdir.mkdir(parents=True, exist_ok=True)
            self.out_lock.take(self.spec.workdir)
        except OutInUse as exc:
            raise BatchUsageError(str(exc)) from None

    def _open(self) -> tuple[Sink, Journal, dict[str, Any] | None] | Outcome:
        spec, o = self.spec, self.options
        if (blocker := spec.file_in_the_way()) is not None:
            raise BatchUsageError(f"--out {o.out}: {blocker} is a file, not a folder: expected a new or empty folder "
                                  "(or a .zip, .tar.gz or .tar name to write an archive)")
        if spec.workdir.exists():  # before its journal is read: another run may be writing it
            self._lock()
        found = journal_mod.read(spec.journal)
        if not o.resume:
            if spec.kind == "folder" and spec.target.exists() and any(spec.target.iterdir()):
                raise BatchUsageError(f"{spec.target} is not empty: pass --resume to continue the run there, "
                                      "or choose an empty or new folder")
            if spec.kind != "folder" and spec.target.exists():
                raise BatchUsageError(f"{spec.target} already exists: remove it or choose another name")
            if spec.kind != "folder" and spec.workdir.exists():
                raise BatchUsageError(f"an unfinished run is in {spec.workdir}: pass --resume, or remove it")
            found = None
        elif found is None:
            if spec.kind != "folder" and spec.target.exists():
                return self._published()
            if spec.kind == "folder" and spec.target.exists() and any(spec.target.iterdir()):
                raise BatchUsageError(f"{spec.target} is not empty and holds no batch journal: nothing to resume")
            self.say("no journal found: starting from the beginning")
        else:
            self.ledger_run = found.header.get("ledger_run", self.ledger_run)
            wanted = {**self.header(), "stamp": found.header.get("stamp")}
            if "identities" not in found.header:  # begun before inputs' identities were recorded
                del wanted["identities"]
            diff = journal_mod.differences(journal_mod.header_of(found), wanted)
            if diff:
                raise BatchUsageError("--resume with different arguments than the run in OUT: " + "; ".join(diff))
            self.spec = replace(spec, stamp=int(found.header["stamp"]))  # entry times as in the first run
            self.config = replace(self.config, sink=self.spec)
            if found.finished:
                return self._already_finished(found)
        self._lock()
        state = found.last if found else None
        sink = open_sink(self.spec, state["sink"] if state else None)
        if found is not None:
            journal = Journal(self.spec.journal, valid_length=found.valid_length)
        else:
            journal = Journal(self.spec.journal, header={**self.header(), "stamp": self.spec.stamp})
        return sink, journal, state

    def _published(self) -> Outcome:
        """``--resume`` on an OUT archive with no run under way: only the finished run of these same arguments is
        answered with its summary. Another run's archive, or a file no run wrote, is refused: taken for this run's
        end it would exit 0 with nothing of these inputs converted (the journal that compares is gone by then)."""
        target = self.spec.target
        data = read_summary(target)
        if data is None:
            raise BatchUsageError(f"{target} exists and is not an archive a batch run finished (no readable "
                                  f"{SUMMARY} in it): nothing to resume; remove it or choose another name")
        recorded = data.get("run", {}).get(ARGUMENTS)
        if isinstance(recorded, dict):  # absent in archives of releases before it: answered as before
            wanted = self.header()
            diff = journal_mod.differences({k: v for k, v in recorded.items() if k != "ledger_run"},
                                           {k: v for k, v in wanted.items() if k != "ledger_run"}, "the archive")
            if diff:
                raise BatchUsageError(f"--resume with different arguments than the run that finished {target}: "
                                      + "; ".join(diff))
        self.say(f"{target} is already complete; nothing to resume")
        return Outcome(data, exit_code_of(data))

    def _already_finished(self, found: journal_mod.Progress) -> Outcome:
        data = found.final.get("summary") if found.final else None
        if self.spec.kind != "folder":
            publish(self.spec)  # a kill between "finished" and the rename: complete the rename now
        self.say(f"{self.spec.target} is already complete; nothing to resume")
        return Outcome(data, exit_code_of(data))

    # -- the run ------------------------------------------------------------------------------

    def _start(self) -> tuple[ChunkStore, Sink, Journal, dict[str, Any] | None] | Outcome:
        """The ledger, then OUT: an unreachable database is refused before the journal is written."""
        store = self.open_store()
        try:
            if not self.options.resume:  # before OUT is made; a resume's journal names the fingerprint first
                self._claim_render_settings(store)
            opened = self._open()
            if self.options.resume and not isinstance(opened, Outcome):
                try:
                    self._claim_render_settings(store)
                except BaseException:
                    opened[1].close()
                    opened[0].close()
                    raise
        except BaseException:
            store.close()
            raise
        if isinstance(opened, Outcome):
            store.close()
            return opened
        return (store, *opened)

    def _claim_render_settings(self, store: ChunkStore) -> None:
        """Record the render settings in the ledger, or refuse one whose zaken were rendered with others (another
        run's, another shard's: gateway/ledger/render_record.py), before OUT is touched."""
        store.begin()
        try:
            differ = render_record.claim(store.first, fingerprint.parts(self.options.settings))
        except BaseException:
            store.rollback()
            raise
        if differ:
            store.rollback()
            raise BatchUsageError(f"--state {self.state_name()}: its ledger holds zaken rendered with other render "
                                  f"settings ({', '.join(differ)} differ from this run's --config/--route): run with "
                                  "the config the ledger was begun with (every shard alike), or use another --state")
        store.commit()

    def execute(self) -> Outcome:
        try:
            with frozen_startup(), run_collector():  # before the pool forks its workers
                return self._execute()
        finally:
            self.out_lock.release()

    def _execute(self) -> Outcome:
        opened = self._start()
        if isinstance(opened, Outcome):
            return opened
        store, sink, journal, state = opened
        done = int(state["done"]) if state else 0
        tally = Tally.from_dict(state["tally"]) if state else Tally()
        before = float(state["elapsed"]) if state else 0.0
        start_done = done
        inputs = Inputs(self.paths, self.options.shard, self.options.max_bytes, by_name=not self.shared,
                        defer_zip=True)  # the workers read ZIP members: off the parent's serial path
        pool = OrderedPool(self.config, self.workers, registry=self.registry,
                           quarantined=(tally.quarantined, tally.quarantined_bytes))
        step = LedgerStep(self.config, self.registry, store, self.ledger_key())
        started = time.monotonic()

        last_keys: dict[int, str] = {}
        """Chunk ends handed out and their last member's key (a window's worth): each commit records the newest end
        it covers with that key, so a resume can tell when the members before it are no longer those of the run.
        (The newest end, not ``done``: a chunk retried member by member after a crash commits within itself.)"""
        last = tuple(state["last"]) if state and state.get("last") else None

        def commit() -> None:
            nonlocal last
            last = covered(last_keys, done, last)
            step.sync()  # the ledger never behind what the journal says is done
            journal.commit({"done": done, "sink": sink.sync(), "tally": tally.to_dict(),
                            "elapsed": round(before + time.monotonic() - started, 3), "skipped": inputs.skipped,
                            **({"last": list(last)} if last is not None else {})})
            step.prune(done)

        members = inputs.members(start=done, before=last)  # type: ignore[arg-type]
        try:
            pool.start()
        except WorkersFailed as exc:
            raise BatchUsageError(str(exc)) from None
        progress = make_progress(self.options.progress, inputs.estimate(), done, self.options.progress_interval)
        last_commit = time.monotonic()
        outgrown: int | None = None
        with _Stop() as stop, progress:
            try:
                in_memory = not self.shared and self.options.state.strip().lower() == "none"
                for result in pool.run(chunked(members, self.options.chunk_size, last_keys), lambda: stop.requested,
                                       may_stop_outgrown=not in_memory):
                    sink.append(result.payload, result.report)
                    tally.merge(result.tally)
                    if result.items is not None:  # rendered here, against the ledger, in member order
                        payload, report, rendered = step.process(result)
                        sink.append(payload, report)
                        tally.merge(rendered)
                    done += result.count
                    progress.update(done, tally.failed)
                    if time.monotonic() - last_commit >= self.options.commit_seconds:
                        commit()
                        last_commit = time.monotonic()
                progress.update(done, tally.failed, final=True)
            except WorkersFailed as exc:  # workers that no longer start after a restart: the last commit stands
                raise BatchUsageError(str(exc)) from None
            except InputsChanged as exc:  # found before any member after the resume point was handed out
                raise BatchUsageError(f"--resume: the inputs are not those the run began with: {exc}") from None
            except InProcessOutgrown as exc:  # --workers 0: stopped at a chunk's end, as when interrupted
                outgrown = exc.args[0]
            finally:
                members.close()
                close_readers()  # a member read here (a render failure's quarantine copy): its archive let go
            commit()
            step.close()
            if stop.requested or outgrown is not None:
                return self._stopped(sink, journal, progress, done, outgrown)
        seconds = time.monotonic() - started
        data = summary(tally, inputs.skipped, {
            "out": str(self.spec.target), "shard": str(self.options.shard), "workers": self.workers,
            "seconds": round(seconds, 3), "total_seconds": round(before + seconds, 3),
            "converted_this_run": done - start_done, "resumed_from": start_done,
            "messages_per_second": round((done - start_done) / seconds, 1) if seconds > 0 else 0.0,
            "worker_crashes": pool.crashes, "worker_renewals": pool.renewals,
            ARGUMENTS: self.header(),  # what a --resume on the published archive is compared with
        })
        return self._finish(sink, journal, data, done)

    @staticmethod
    def _stopped(sink: Sink, journal: Journal, progress: Progress, done: int, outgrown: int | None) -> Outcome:
        """An interrupted or outgrown run: OUT stays partial; the journal's last commit is where --resume goes on."""
        sink.close()
        journal.close()
        if outgrown is None:
            progress.note(f"interrupted after {done:,} input(s); run again with --resume to continue")
            return Outcome(None, EXIT_INTERRUPTED, interrupted=True)
        why = (f"stopped after {done:,} input(s): converting in this process (--workers 0), it grew by "
               f"more than --worker-growth-mb ({outgrown} MB) since the run began, and nothing can replace "
               "it (messages full of fresh element names grow libxml2's dictionary for good); run again "
               "with --resume to continue in a fresh process, or convert in worker processes (--workers 1 "
               "or more), which are replaced instead")
        return Outcome(None, EXIT_OUTGROWN, interrupted=True, notes=[why])  # said even with --quiet

    @staticmethod
    def _finish(sink: Sink, journal: Journal, data: dict[str, Any], done: int) -> Outcome:
        """A completed run: the summary into OUT and the journal, then OUT published."""
        sink.finish(data)
        journal.finish({"done": done, "summary": data})
        journal.close()
        if isinstance(sink, ArchiveSink):
            sink.publish()
        else:
            sink.close()
        return Outcome(data, exit_code_of(data))


def run(options: BatchOptions, say: Callable[[str], None] = lambda text: None) -> Outcome:
    """Run (or resume) a batch; raises :class:`BatchUsageError` for bad arguments."""
    return BatchRun(options, say).execute()
