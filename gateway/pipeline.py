"""One conversion, end to end: bytes in -> detected dialect -> canonical model -> rendered profile.

The proxy, the batch job and the CLI all convert through :class:`Converter`, so they agree on
what a message becomes and on how a failure is described.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.ingest import DEFAULT_MAX_BYTES, InputError, Source, read
from gateway.ingest.ei import TRIMMED, trimmed_away
from gateway.ledger import Ledger, LedgerTransaction, MemoryLedger
from gateway.mapping import (
    Compiled,
    ConversionError,
    DialectDebt,
    MappingError,
    Registry,
    Unmapped,
    Warning_,
    map_source,
)
from gateway.mapping.privacy import cap, unquoted
from gateway.mapping.reverse import unmap_text
from gateway.model import Bericht
from gateway.model.codes import BERICHTNUMMERS
from gateway.model.versions import Normalised
from gateway.profiles import PROFILES as PROFILES  # the names a route may render (re-exported here)
from gateway.render import RenderError, RenderSettings, ggk, ggk_guard
from gateway.render import zkn as zkn_profile
from gateway.render.ggk_chain import Received, envelope_fits, ggk_stamp, received_di01
from gateway.render.guard import guarding
from gateway.render.guard import schema as guard_schema
from gateway.render.schemas import OutputInvalid, check, iwmo_kind, schema
from gateway.render.settings import NEWEST
from gateway.reversal import Reversal, for_version_named, reverse

VALIDATE_MODES = (False, True, "full")
"""Output validation: off; on (zkn: the value guard, the writer's structure proven by tests; ggk: the payload
parsed back and validated against its XSD, the envelope's values guarded the same way); full (every output of
either profile parsed back and validated)."""
FAILURES = (InputError, ConversionError, RenderError, OutputInvalid)
"""What a bad message raises. Anything else is a bug and is reported as such."""


@dataclass(frozen=True, slots=True)
class Output:
    name: str
    xml: bytes
    referentienummer: str
    zaak: str | None = None
    profile: str = "zkn"
    dropped: tuple[str, ...] = ()  # ggk: canonical fields the payload's iWmo/iJw version cannot hold
    operation: str = ""  # zkn: the ZDS operation (creeerZaak, updateZaak, actualiseerZaakstatus)
    soap_action: str = ""  # the SOAPAction the operation is sent with; "" = derive from the root element


Deliver = Callable[[list[Output]], None]
"""Makes one message's outputs durable inside its ledger transaction (:meth:`Converter.render`)."""


@dataclass(slots=True)
class Conversion:
    source: Source
    mapping: Compiled
    bericht: Bericht
    outputs: list[Output]
    unmapped: list[Unmapped] = field(default_factory=list)
    warnings: list[Warning_] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Decisions about the zaak (a retour's no-op, "no change", an unknown zaak created); with no outputs,
    the reason there are none."""

    @property
    def outcome(self) -> str:
        """``converted`` or, for a message with no outputs, the first note (``no-op: retour, ...``)."""
        if self.outputs or not self.notes:
            return "converted"
        return self.notes[0]


@dataclass(frozen=True, slots=True)
class Sender:
    """Who sent a converted message under which reference: what the sender itself knows of the message."""

    referentienummer: str
    afzender: str | None
    ontvanger: str | None
    applicatie: str | None
    dagtekening: str


def sender_of(bericht: Bericht, envelope_info: dict[str, str]) -> Sender:
    """A StUF envelope's stuurgegevens (GGk Di01) where the message came in one, else its own header."""
    day = bericht.dagtekening.isoformat()
    if envelope_info.get("referentienummer"):
        return Sender(envelope_info["referentienummer"], envelope_info.get("zender.organisatie") or bericht.afzender,
                      envelope_info.get("ontvanger.organisatie") or bericht.ontvanger,
                      envelope_info.get("zender.applicatie"), day)
    return Sender(bericht.identificatie, bericht.afzender, bericht.ontvanger, None, day)


@dataclass(frozen=True, slots=True)
class FailureInfo:
    """A failure described for people and for StUF faults: code, field, line, reason.

    A message with several independent errors is described by its first; ``also`` holds the next ones
    (bounded, :data:`gateway.mapping.errors.MAX_ERRORS` in all) and ``left_out`` counts the rest.
    """

    code: str
    field: str | None
    line: int | None
    message: str
    source: str
    also: tuple[FailureInfo, ...] = ()
    left_out: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", cap(self.message))  # stored in reports and Fo03: bounded

    def __str__(self) -> str:
        where = self.source + (f":{self.line}" if self.line else "")
        return f"{where}: {self.field + ': ' if self.field else ''}{self.message}"

    @property
    def problems(self) -> list[FailureInfo]:
        """Every error named: this one and those in ``also``."""
        return [self, *self.also]

    @property
    def more(self) -> str:
        """``and N more problems`` for those beyond the bound, or ""."""
        return f"and {self.left_out} more problem{'s' if self.left_out > 1 else ''}" if self.left_out else ""

    def fitted(self, limit: int) -> str:
        """Every error, one a line, in at most ``limit`` characters: whole lines while they fit (the first
        always, cut if it must be), then ``and N more problems`` for the rest (a Fo03's details hold 1000)."""
        problems = [str(p) for p in self.problems]
        room = limit - 30  # kept free for the closing "and N more problems"
        kept = [problems[0][:room]]
        used = len(kept[0])
        for text in problems[1:]:
            if used + 1 + len(text) > room:
                break
            kept.append(text)
            used += 1 + len(text)
        rest = len(problems) - len(kept) + self.left_out
        if rest:
            kept.append(f"and {rest} more problem{'s' if rest > 1 else ''}")
        return "\n".join(kept)


def describe(exc: BaseException, source: str = "<input>") -> FailureInfo:
    """A bad-input exception as code, field, line and reason; the exception's own source name wins
    unless it is the placeholder, then the caller's."""
    if isinstance(exc, InputError):
        return FailureInfo(exc.code, exc.field, exc.line, exc.message, _named(exc.source, source))
    if isinstance(exc, ConversionError):
        also = tuple(describe(other, source) for other in exc.others)
        field_ = exc.field + (f" <- {exc.path}" if exc.path and exc.field else "") if exc.field else exc.path
        return FailureInfo(exc.code, field_, exc.line, exc.message, _named(exc.source, source), also, exc.left_out)
    if isinstance(exc, RenderError):
        return FailureInfo(getattr(exc, "code", "StUF055"), exc.field, None, str(exc), source)
    if isinstance(exc, OutputInvalid):
        return FailureInfo("StUF055", exc.kind, None, str(exc), source)
    if isinstance(exc, MappingError):
        return FailureInfo("StUF058", "mapping", None, str(exc), source)
    return FailureInfo("StUF058", None, None, f"internal error: {type(exc).__name__}", source)


def bug(exc: BaseException, source: str) -> FailureInfo:
    """An unexpected exception (a bug, not bad input) as a batch reports it: :func:`describe`'s words and the
    exception's own text, whatever it quotes told by its shape (:func:`gateway.mapping.privacy.unquoted`)."""
    info = describe(exc, source)
    text = unquoted(str(exc))[:300]
    return FailureInfo(info.code, info.field, info.line, f"{info.message}: {text}" if text else info.message, source)


def _named(own: str | None, given: str) -> str:
    return own if own and own != "<input>" else given


class Converter:
    """Converts messages with a registry of mappings into one profile, optionally validating output."""

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        profile: str = "zkn",
        mappings: Iterable[str | Path] = (),
        settings: RenderSettings | None = None,
        validate: bool | str = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
        track_unmapped: bool = True,
        debt: DialectDebt | None = None,
        ledger: Ledger | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
        self.registry = registry if registry is not None else Registry()
        self.profile = profile
        self.only = [self.registry.get(m) for m in mappings]
        self.settings = settings or RenderSettings()
        if validate not in VALIDATE_MODES:
            raise ValueError(f"unknown validation {validate!r}: choose one of off, on, full")
        self.validate = validate
        self.guarded = bool(validate) and validate != "full" and profile == "zkn"
        """zkn with validation on: the writer checks each value against its XSD type instead of a re-parse."""
        self.envelope_guarded = bool(validate) and validate != "full" and profile == "ggk"
        """ggk with validation on: the same for the values of the envelope (its payload is still parsed back)."""
        self.max_bytes = max_bytes
        self.track_unmapped = track_unmapped
        self.debt = debt if debt is not None else DialectDebt()
        """Deviations accepted under ``strictness: lenient``, per mapping and rule (dialect debt)."""
        self.ledger: Ledger = ledger if ledger is not None else MemoryLedger()
        """What the receivers already hold (zaak states, chain keys, tijdstipBericht per zender)."""
        """Creation time of outputs (StUF tijdstipBericht); tests give a fixed clock."""
        if validate:  # load it now: a missing reference dir is a configuration error (SchemaUnavailable)
            guard_schema() if self.guarded else schema(profile)
            if self.envelope_guarded:
                ggk_guard.schema()
        self._settings_cache: dict[str, RenderSettings] = {}
        self._newest: dict[tuple[str, str, str], str] = {}
        self.ledger = ledger or MemoryLedger()
        """What earlier messages left for later ones (GGk: the Di01 UUIDs a Du01 points at; tijdstipBericht)."""
        self.clock = clock or (lambda: datetime.now())

    @property
    def checking(self) -> str:
        """How outputs are checked, in words for logs and reports ("" when they are not)."""
        if not self.validate:
            return ""
        if self.guarded:
            return ("every value checked against its type in the official XSD (value guard; the writer's "
                    "structure proven by tests/test_render_guard.py)")
        if self.envelope_guarded:
            return ("every payload parsed back and validated against the official XSD; the envelope's values "
                    "checked against their types in the GGk XSD (value guard; its structure proven by "
                    "tests/test_ggk_guard.py)")
        return "every output parsed back and validated against the official XSD"

    def settings_for(self, mapping: Compiled) -> RenderSettings:
        cached = self._settings_cache.get(mapping.name)
        if cached is None:
            cached = self._settings_cache[mapping.name] = self.settings.merged(mapping.render)
        return cached

    def detect(self, source: Source) -> Compiled:
        if len(self.only) == 1:
            return self.only[0]
        return self.registry.match(source.root, source.format, source.route, among=self.only or None,
                                   source=source.name)

    def to_model(self, data: bytes, name: str = "<input>", route: str | None = None,
                 trace: bool = False) -> tuple[Source, Compiled, Any]:
        source = self.parse(data, name, route)
        mapping, result = self.map_parsed(source, name, trace)
        return source, mapping, result

    def parse(self, data: bytes, name: str = "<input>", route: str | None = None) -> Source:
        """The safe parse that starts :meth:`to_model`, alone: a batch worker parses a run of members before it
        maps them (:meth:`gateway.batch.work.Worker.map_chunk`), so each step's code stays in the caches."""
        blanks = any(m.blanks_matter for m in self.only) if self.only else self.registry.blanks_matter()
        return read(data, name, max_bytes=self.max_bytes, route=route, blanks=blanks)

    def map_parsed(self, source: Source, name: str = "<input>", trace: bool = False) -> tuple[Compiled, Any]:
        """The rest of :meth:`to_model`: the dialect detected and ``source`` mapped to the canonical model."""
        mapping = self.detect(source)
        result = map_source(mapping, source.root, source=name, trace=trace, track_unmapped=self.track_unmapped)
        if source.envelope_info.get("functie") and result.bericht is not None:
            envelope_fits(result.bericht, source.envelope_info, name)
        if source.envelope_unread and self.track_unmapped:  # a GGk envelope's elements that go nowhere
            result.unmapped += [Unmapped(path, line) for path, line in source.envelope_unread]
        if source.format == "ei":  # an EI value's own leading spaces or U+00A0: trimmed, so reported
            result.warnings += [Warning_("ei:blanks", path, line, TRIMMED) for path, line in trimmed_away(source.root)]
        return mapping, result

    def convert(self, data: bytes, name: str = "<input>", route: str | None = None,
                deliver: Deliver | None = None) -> Conversion:
        """Convert one message; raise one of :data:`FAILURES` with field and line on bad input. ``deliver``: see
        :meth:`render` (what it raises comes through as it is)."""
        source, mapping, result = self.to_model(data, name, route)
        if result.warnings:
            self.debt.record(mapping.name, result.warnings)
        notes: list[str] = []
        try:
            outputs = self.render(result.bericht, mapping, notes, received_di01(result.bericht, source.envelope_info),
                                  deliver=deliver)
        except RenderError as exc:
            if exc.code == "StUF064":  # no zaak to apply it to: the message's own fault, named as StUF does
                raise ConversionError(str(exc), field=exc.field, source=name, code=exc.code) from None
            raise
        warnings = list(result.warnings)
        if notes:  # none for a GGk envelope, and for most zkn messages: nothing to sift
            warnings += [Warning_("zaak", "clients", None, n.removeprefix("warning: ")) for n in notes
                         if n.startswith("warning: ")]
            notes = [n for n in notes if not n.startswith("warning: ")]
        return Conversion(source, mapping, result.bericht, outputs, result.unmapped, warnings, notes)

    def prepare(self, bericht: Bericht, mapping: Compiled) -> zkn_profile.Prepared | None:
        """What rendering ``bericht`` needs from the message alone, for :meth:`render` elsewhere (a batch worker
        hands it to the parent instead of the model), or None: profile ggk, or a message whose render needs the
        model itself. Never raises: what fails here fails again, in its place, when the model is rendered."""
        if self.profile != "zkn":
            return None
        try:
            return zkn_profile.prepare(bericht, self.settings_for(mapping))
        except Exception:
            return None

    def render(self, bericht: Bericht | None, mapping: Compiled, notes: list[str] | None = None,
               received: Received | None = None, prepared: zkn_profile.Prepared | None = None,
               deliver: Deliver | None = None) -> list[Output]:
        """The outputs of one message, rendered and checked inside one ledger transaction: a failure (bad
        input, invalid output) rolls back every zaak state, chain key and envelope id the message would have
        written. ``notes`` collects the zaak decisions (no-op, no change, warnings); ``received``: the GGk Di01
        the message came in (:func:`received_di01` of its ``Source.envelope_info``), remembered for its
        retour's Du01 in every shell; ``prepared``: the message's :meth:`prepare`, rendered instead of
        ``bericht`` (None then).

        ``deliver``: called with the checked outputs (also none) before the transaction commits, to make them
        durable (``convert`` writes and fsyncs its files): what it raises rolls the message back too, so the
        ledger never holds a state whose outputs were lost, and converting the message again writes them."""
        settings = self.settings_for(mapping)
        notes = notes if notes is not None else []
        with self.ledger.transaction() as tx:
            now = self._opened(tx, received)
            if self.profile == "ggk":
                assert bericht is not None
                outputs = [self._ggk_output(bericht, settings, tx, now)]
            else:
                with guarding(self.guarded):
                    if prepared is not None:
                        rendering = zkn_profile.render_prepared(prepared, settings, tx, now)
                    else:
                        assert bericht is not None
                        rendering = zkn_profile.render(bericht, settings, tx, now)
                outputs = zkn_outputs(rendering)
                notes += rendering.notes
                if rendering.warnings:
                    notes += [f"warning: {w}" for w in rendering.warnings]
            if self.validate and not self.guarded and not self.envelope_guarded:
                for out in outputs:
                    check(out.xml, self.profile)
            if deliver is not None:
                deliver(outputs)
        return outputs

    def _opened(self, tx: LedgerTransaction, received: Received | None) -> datetime:
        """A message's transaction begun (:meth:`render`, :meth:`plan`): the GGk Di01 it came in remembered for its
        retour's Du01; its moment."""
        now = self.clock()
        if received is not None:
            tx.remember("di01", *received)
        return now

    def plan(self, bericht: Bericht | None, mapping: Compiled, received: Received | None = None,
             prepared: zkn_profile.Prepared | None = None) -> Planned:
        """:meth:`render`'s first half, profile zkn: the message planned against the ledger in its own transaction,
        which ends (its writes kept) before any zakLk01 is written; :meth:`Planned.write` writes them. Why: a batch
        parent plans a chunk's members, then writes all their zakLk01s back to back while the writer's code and data
        are in the caches. A write failing afterwards leaves the message's ledger writes in place: the caller rolls
        them back (``ChunkOverlay.rewind``). What a failing plan raises is what :meth:`render` raised: the zakLk01s
        planned before it are written first, and a write failing among them is the error."""
        assert self.profile == "zkn"
        settings = self.settings_for(mapping)
        rendering = zkn_profile.Rendering(pending=[])
        with self.ledger.transaction() as tx:
            now = self._opened(tx, received)
            try:
                if prepared is not None:
                    zkn_profile.render_prepared(prepared, settings, tx, now, rendering)
                else:
                    assert bericht is not None
                    zkn_profile.render(bericht, settings, tx, now, rendering)
            except BaseException:
                with guarding(self.guarded):  # render wrote these before the plan failed: a write failing first
                    zkn_profile.write_pending(rendering)  # is the message's error
                raise
        return Planned(rendering, self.guarded, bool(self.validate) and not self.guarded)

    def payload_dialect(self, bericht: Bericht, settings: RenderSettings) -> Compiled:
        """The built-in dialect a GGk payload of ``bericht`` is written in: its wet and message family, in the
        version ``settings.ggk_versie`` asks for. ConversionError when there is no such dialect."""
        nummer = BERICHTNUMMERS[bericht.soort]
        versie = settings.ggk_target(bericht.wet, bericht.versie)
        if versie == NEWEST:
            major = bericht.versie.split(".", 1)[0]
            found = self._newest.get((bericht.wet, nummer, major))
            if found is None:  # ~80 us to work out; a converter's registry does not change under it
                found = self._newest[bericht.wet, nummer, major] = newest_version(self.registry, bericht.wet,
                                                                                  nummer, bericht.versie)
            versie = found
        return self.registry.dialect(bericht.wet, nummer, versie)

    def render_ggk(self, bericht: Bericht, settings: RenderSettings, tx: LedgerTransaction,
                   now: datetime) -> list[ggk.GgkRendered]:
        """Profile ggk: normalise to the target version, write it with the built-in dialect's mapping file run
        backwards, validate it when an XSD is known, and wrap it in a Di01 (heenbericht, its UUID remembered
        in the ledger) or a Du01 (retour, pointing at the Di01 of its heenbericht)."""
        normal, payload, target, stamp, dropped, reasons, unplaced = self._ggk_payload(bericht, settings, tx, now)
        normalised = normal.normalised + [f"{path}: written back through a one-way rule ({reason}"
                                          for path, reason in reasons.items() if path not in unplaced]
        return ggk.render(normal.bericht, payload, target.bericht, target.versie, settings, stamp,  # type: ignore[arg-type]
                          dropped=dropped, normalised=tuple(normalised), guard=self.envelope_guarded)

    def _ggk_output(self, bericht: Bericht, settings: RenderSettings, tx: LedgerTransaction, now: datetime) -> Output:
        """:meth:`render_ggk`'s envelope as the Output :meth:`render` returns, without the account of what was
        normalised (an Output does not carry it) or a GgkRendered in between."""
        normal, payload, target, stamp, dropped, _, _ = self._ggk_payload(bericht, settings, tx, now)
        name, xml = ggk.written(normal.bericht, payload, target.bericht, target.versie, settings,  # type: ignore[arg-type]
                                stamp, self.envelope_guarded)
        return Output(name, xml, stamp.referentienummer, "", "ggk", dropped)

    def _ggk_payload(self, bericht: Bericht, settings: RenderSettings, tx: LedgerTransaction, now: datetime) \
            -> tuple[Normalised, bytes, Compiled, ggk.Stamp, tuple[str, ...], dict[str, str], list[str]]:
        """The stamp, the payload in its target dialect, and what the target could not hold: (normalised message,
        payload, target dialect, stamp, dropped, one-way reasons by path, unplaced paths)."""
        stamp = ggk_stamp(bericht, settings, tx, now)
        target = self.payload_dialect(bericht, settings)
        assert target.wet is not None and target.bericht is not None and target.versie is not None
        normal = for_version_named(bericht, target.wet, target.versie)
        payload, one_way, unplaced = unmap_text(target, normal.bericht)
        if self.validate:
            kind = iwmo_kind(target.wet, target.versie, target.bericht)
            if kind is not None:
                check(payload, kind)
        reasons = dict(item.split(" (", 1) for item in one_way) if one_way else {}
        dropped = normal.dropped + [
            f"{path}: " + (f"one-way rule in {target.name} ({reasons[path]}" if path in reasons
                           else f"not representable in {target.name}")
            for path in unplaced]
        return normal, payload, target, stamp, tuple(dropped), reasons, unplaced

    def reverse(self, data: bytes, target: str | Path, name: str = "<input>") -> list[Reversal]:
        """The way back: a canonical message (zakLk01, a GGk envelope, or any known dialect) written in
        the dialect of mapping ``target``. One dialect message per zaak/client (:mod:`gateway.reversal`)."""
        return reverse(data, target, name, registry=self.registry, detect=self.detect,
                       zaaktypen=self.settings.zaaktypen, max_bytes=self.max_bytes, validate=self.validate)


@dataclass(slots=True)
class Planned:
    """A zkn message planned by :meth:`Converter.plan`, its zakLk01s not yet written."""

    rendering: zkn_profile.Rendering
    guarded: bool
    checked: bool
    """Validation ``full``: each output parsed back and validated against the XSD once written."""

    def write(self) -> list[Output]:
        """The message's outputs, written and checked as :meth:`Converter.render` does; raises as it would."""
        with guarding(self.guarded):
            zkn_profile.write_pending(self.rendering)
        outputs = zkn_outputs(self.rendering)
        if self.checked:
            for out in outputs:
                check(out.xml, "zkn")
        return outputs


def zkn_outputs(rendering: zkn_profile.Rendering) -> list[Output]:
    """A zkn rendering's zakLk01s as the :class:`Output` list :meth:`Converter.render` returns."""
    return [Output(r.name, r.xml, r.referentienummer, r.zaak, "zkn", (), r.operation, r.soap_action)
            for r in rendering.outputs]


def newest_version(registry: Registry, wet: str, nummer: str, source: str) -> str:
    """The newest built-in dialect version of ``wet`` message family ``nummer`` with the major version of
    ``source`` (a 2.x message cannot fill the XsdVersie a 3.x header requires), else the newest of all."""
    def order(version: str) -> tuple[int, ...]:
        return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))

    versions = sorted((v for w, b, v in registry.dialects() if (w, b) == (wet, nummer)), key=order)
    same = [v for v in versions if order(v)[:1] == order(source)[:1]]
    return (same or versions or [source])[-1]
