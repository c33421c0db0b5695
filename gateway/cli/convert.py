"""``overstap convert`` and ``overstap validate``: files in, canonical files out, one line per input."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click
from lxml import etree

from gateway.deliver.store import failure_name, store_failure
from gateway.ledger import Ledger, MemoryLedger, SqliteLedger, render_record
from gateway.ledger.sqlite import DEFAULT_STATE, open_failure
from gateway.mapping import MappingError, Refused, Registry
from gateway.pgstore import PostgresLedger, is_url
from gateway.pgstore.chunked import masked
from gateway.pipeline import FAILURES, PROFILES, Conversion, Converter, Output
from gateway.reference import reference_dir
from gateway.render import RenderSettings, fingerprint, stuf
from gateway.render.schemas import STUF_NS, SchemaUnavailable, errors_of, kind_of
from gateway.render.zkn_dropped import zkn_dropped
from gateway.zaken.catalogue import Zaaktype

from . import main
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    NotRead,
    echo_failure,
    echo_not_read,
    fail_usage,
    input_files,
    keep_apart,
    load_registry,
    prepare_out,
    read_input,
    refuse_empty_state,
    resolve_mappings,
    sync_folder,
    write_output,
)
from .render_options import config_option, config_settings


@main.command()
@click.argument("inputs", nargs=-1, required=True)
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for the output.")
@click.option("--profile", type=click.Choice(PROFILES), default="zkn", show_default=True)
@click.option("--mapping", "mappings", multiple=True, help="Mapping name or file (repeatable); default: detect.")
@click.option("--validate/--no-validate", default=True, show_default=True,
              help="Validate every output against the official schema.")
@click.option("--full-check", is_flag=True,
              help="Parse every output back and validate it with the XSD (zkn otherwise checks each value "
                   "against its XSD type; the writer's structure is proven by the tests).")
@click.option("--route", default=None, help="Route name for mappings that match on a route.")
@click.option("--reverse", is_flag=True,
              help="The way back: canonical messages (zakLk01, GGk) into the dialect of --mapping.")
@click.option("--ggk-versie", "ggk_versie", default=None, metavar="VERSIE",
              help="Profile ggk: payload version (2.0, 2.1, 3.2, source; default: newest).")
@click.option("--state", "state_dir", default=DEFAULT_STATE, show_default=True, envvar="OVERSTAP_STATE",
              help="Folder of the zaak ledger (what the receiver already holds), so a later run continues the "
                   "same chains; 'none' keeps it in memory for this run only.")
@config_option
def convert(inputs: tuple[str, ...], out_dir: str, profile: str, mappings: tuple[str, ...], validate: bool,
            full_check: bool, route: str | None, reverse: bool, ggk_versie: str | None, state_dir: str,
            config_file: str | None) -> None:
    """Convert dialect messages (files or folders, in the order given) into canonical messages: one .xml per
    ZDS operation (zkn) or envelope (ggk). Messages of one chain must come in chain order.

    Two outputs of one run never share a file: a second output with a name already written in this
    run gets ``-2``, ``-3``, ... before ``.xml`` (the ok line names the file). A file left in OUT by an
    earlier run is replaced and named on a ``replaced:`` line; a symbolic link there is replaced, never
    written through. Inputs (also ``/dev/stdin`` or a FIFO) are read up to the 10 MB limit, a GGk envelope
    up to 25 MB. Inside a folder, links, FIFOs and devices are not read (a ``skip`` line names each).

    Each message's files are written (fsynced, renamed into OUT) before the zaak ledger commits its state.
    An output that cannot be written stops the run: the message's state is rolled back and files it wrote
    are removed again, so converting the same inputs again, once OUT can take them, writes them in order.

    Under each ok line, by path and never by value: ``not mapped:`` (a source value no rule read),
    ``warning:``, and ``dropped:`` (a canonical field the profile does not carry, zkn: docs/canonical-spec.md 5;
    or a value a zaaktype's ``drop`` leaves out, ``left out:``).

    OUT and the --state folder may not be an input or lie inside an input folder (the run would read what it
    writes; ``convert --out x .`` with the default ./overstap-state is refused so, as batch refuses it).

    Exit status: 0 all converted; 1 an input or a folder could not be read, converted or written (a FAIL
    line names file, line, field and reason); 2 usage or configuration error; 3 nothing failed, but a
    mapping refused an input on purpose (a REFUSED line). Folders with no file to read are said on stderr
    (``no messages found in ...``) and exit 0, as ``batch`` and ``validate`` end on "0 ..." then.
    """
    if not reverse:
        refuse_empty_state(state_dir)
    stateful = not reverse and state_dir.strip().lower() != "none" and not is_url(state_dir)
    keep_apart(inputs, Path(out_dir), Path(state_dir) if stateful else None)
    registry = load_registry(mappings)
    names = resolve_mappings(registry, mappings)
    if reverse:
        if len(names) != 1:
            fail_usage("--reverse needs exactly one --mapping: the dialect to write")
        sys.exit(_reverse(registry, names[0], inputs, Path(out_dir), validate))
    if ggk_versie is not None and profile != "ggk":
        fail_usage("--ggk-versie chooses the payload version of --profile ggk")
    settings = config_settings(config_file, route, ggk_versie)  # a mistake in it refused before OUT or the ledger
    out = Path(out_dir)
    prepare_out(out)
    try:
        ledger = open_ledger(state_dir)
    except RuntimeError as exc:  # a database that cannot be reached, or psycopg missing
        fail_usage(f"--state {mask_url(state_dir)}: {exc}")
        return
    except (OSError, sqlite3.Error) as exc:  # a file where the folder should be, a ledger.sqlite that is no database
        fail_usage(f"--state {mask_url(state_dir)}: cannot open the zaak ledger: {open_failure(state_dir, exc)}")
        return
    _claim_render_settings(ledger, settings, state_dir)
    try:
        converter = Converter(registry, profile=profile, mappings=names, settings=settings, ledger=ledger,
                              validate="full" if validate and full_check else validate)
    except SchemaUnavailable as exc:
        fail_usage(f"{exc} (or pass --no-validate)")
        return
    not_read: list[NotRead] = []
    files = input_files(inputs, not_read)
    failed, refused = echo_not_read(not_read), 0
    say_if_none_found(files, inputs, not_read)
    writer = OutWriter(out)
    for at, path in enumerate(files):
        data = b""
        try:
            data = read_input(path)
            result = converter.convert(data, str(path), route=route, deliver=writer)
        except Refused as exc:  # recognised and refused on purpose by its mapping (refuse:)
            refused += 1
            click.echo(f"REFUSED {path}: {exc.reason} (mapping {exc.mapping})")
            continue
        except NotWritten as exc:  # its ledger transaction rolled back: the next run converts it again
            failed += 1
            click.echo(f"FAIL {path}: {exc}")
            if len(files) > at + 1:  # as batch does: a later message of its zaak must not overtake it
                click.echo(f"stopped: {len(files) - at - 1} input(s) after it not converted, so each zaak's "
                           f"messages keep their order; convert again once {out} can take the output")
            break
        except FAILURES as exc:
            failed += 1
            echo_failure(exc, str(path), _picked(converter, data, str(path), route))
            continue
        except Exception as exc:  # the zaak ledger failing (disk full, locked, connection lost): not the message's
            if not store_failure(exc):
                raise
            failed += 1
            click.echo(f"FAIL {path}: the zaak ledger could not store its state ({failure_name(exc)}): it is not "
                       "entered; convert it again once the ledger can be written")
            if len(files) > at + 1:
                click.echo(f"stopped: {len(files) - at - 1} input(s) after it not converted, so each zaak's "
                           "messages keep their order; convert again once the ledger can be written")
            break
        _report(path, result, out, writer, converter.settings_for(result.mapping).zaaktypen)
    ledger.close()
    for line in converter.debt.report():  # dialect debt: deviations accepted per mapping and rule
        click.echo(line)
    if refused:
        click.echo(f"{refused} message(s) refused on purpose by their mapping")
    sys.exit(EXIT_FAILED if failed else EXIT_REFUSED if refused else EXIT_OK)


def _claim_render_settings(ledger: Ledger, settings: RenderSettings | None, state_dir: str) -> None:
    """Record the render settings in the ledger as ``batch`` does, or refuse one whose zaken were rendered with
    others (gateway/ledger/render_record.py): ``convert`` and ``batch`` share ``--state``, and a zaak continued
    under another zaaktype catalogue reaches the receiver as a second kind of zaak."""
    try:
        differ = render_record.claim_in(ledger, fingerprint.parts(settings))
    except Exception as exc:
        ledger.close()
        if not store_failure(exc):
            raise
        click.echo(f"FAIL --state {mask_url(state_dir)}: the zaak ledger could not record the render settings "
                   f"({failure_name(exc)}): nothing was converted; convert again once the ledger can be written")
        sys.exit(EXIT_FAILED)
    if differ:
        ledger.close()
        fail_usage(f"--state {mask_url(state_dir)}: its ledger holds zaken rendered with other render settings "
                   f"({', '.join(differ)} differ from this run's --config/--route/--ggk-versie): run with the config "
                   "the ledger was begun with, or use another --state; nothing was converted")


def say_if_none_found(files: list[Path], inputs: tuple[str, ...], not_read: list[NotRead]) -> None:
    """Folders with nothing to convert: said on stderr, as batch and validate say "0 ...", not a silent exit 0.

    Nothing found is no failure (exit 0, as batch and validate): a folder that cannot be listed is, by its FAIL line."""
    if files:
        return
    unread = f" ({len(not_read)} entr{'y' if len(not_read) == 1 else 'ies'} not read, named above)" if not_read else ""
    click.echo(f"no messages found in {', '.join(inputs)}{unread}", err=True)


def _picked(converter: Converter, data: bytes, name: str, route: str | None) -> str:
    """`` [mapping NAME]`` when a mapping was picked for a failed message: which one matters to fix it."""
    from gateway.ingest import read

    try:
        return f" [mapping {converter.detect(read(data, name, max_bytes=converter.max_bytes, route=route)).name}]"
    except (*FAILURES, MappingError):
        return ""


class NotWritten(Exception):
    """An output ``convert`` could not write into OUT (a folder at its name, a full disk): raised inside the
    message's ledger transaction, so its zaak state is not committed and converting it again writes it."""

    def __init__(self, name: str, out: Path, reason: str, removed: list[str], left: list[str]) -> None:
        back = f"removed again: {', '.join(removed)}" if removed else ""
        if left:
            back += ("; " if back else "") + f"could not remove: {', '.join(left)}"
        super().__init__(f"cannot write output {name} in {out}: {reason}{f' ({back})' if back else ''}; not entered "
                         "in the zaak ledger: converting it again writes it")


class OutWriter:
    """The ``deliver`` of :meth:`Converter.convert`: writes one message's outputs into OUT, durably (fsynced
    files, then the folder), before the ledger commits the message's state, as ``batch`` packs a chunk's
    outputs before its ledger commit. Two outputs of one run never share a name (:func:`unique_name`)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.written: set[str] = set()
        self.names: list[str] = []
        """The last message's files, in output order."""
        self.replaced: list[str] = []
        """Those of them that replaced a file already in OUT."""

    def __call__(self, outputs: list[Output]) -> None:
        self.names, self.replaced = [], []
        for output in outputs:
            name = unique_name(f"{output.name}.xml", self.written)
            try:
                if write_output(self.out, name, output.xml):
                    self.replaced.append(name)
            except OSError as exc:
                self.written.discard(name)
                self._take_back(name, exc)
            self.names.append(name)
        if self.names:
            try:
                sync_folder(self.out)
            except OSError as exc:
                self._take_back(self.names[-1], exc)

    def _take_back(self, name: str, exc: OSError) -> None:
        """Remove what this message wrote before ``name`` failed, then raise :class:`NotWritten`: the receiver is
        not handed part of a message whose state the ledger does not hold (the next run writes it all again)."""
        removed, left = [], []
        for done in self.names:
            if done == name:
                continue
            try:
                (self.out / done).unlink()
            except OSError:
                left.append(done)
            else:
                removed.append(done)
                self.written.discard(done)
        self.names, self.replaced = [], []
        raise NotWritten(name, self.out, str(exc.strerror or exc), removed, left) from exc


def _report(path: Path, result: Conversion, out: Path, writer: OutWriter, zaaktypen: dict[str, Zaaktype]) -> None:
    """A converted message's ok line (naming the files ``writer`` wrote for it) and notes."""
    names, replaced = writer.names, writer.replaced
    if not result.outputs:  # a retour, or a message whose state the ledger already holds
        click.echo(f"ok   {path}: {result.mapping.name} -> no output: {result.outcome}")
        return
    note = f" ({len(result.unmapped)} source element(s) not mapped)" if result.unmapped else ""
    warn = f" ({len(result.warnings)} warning(s))" if result.warnings else ""
    click.echo(f"ok   {path}: {result.mapping.name} -> {', '.join(names)}{note}{warn}")
    for name in replaced:
        click.echo(f"     replaced: {name} (a file of that name was in {out} already)")
    for item in result.unmapped:
        click.echo(f"     not mapped: {item.path}" + (f" (line {item.line})" if item.line else ""))
    for warning in result.warnings:
        click.echo(f"     warning: {f'line {warning.line}: ' if warning.line else ''}{warning.field}: "
                   f"{warning.message}")
    for output in result.outputs:
        for dropped in output.dropped:
            click.echo(f"     dropped: {dropped}")
    if result.outputs[0].profile == "zkn":  # named here, from the model: batch and the sidecar pay nothing for it
        for line in zkn_dropped(result.bericht, zaaktypen):
            click.echo(f"     dropped: {line}")
    for text in result.notes:
        click.echo(f"     note: {text}")


def unique_name(name: str, written: set[str]) -> str:
    """``name``, or ``stem-2.ext``, ``stem-3.ext``... when this run already wrote a file by that name."""
    stem, dot, ext = name.rpartition(".")
    candidate, n = name, 1
    while candidate in written:
        n += 1
        candidate = f"{stem}-{n}{dot}{ext}"
    written.add(candidate)
    return candidate


def _reverse(registry: Registry, target: str, inputs: tuple[str, ...], out: Path, validate: bool) -> int:
    """``convert --reverse``: canonical messages back into ``target``'s dialect; the exit status."""
    converter = Converter(registry, validate=validate)
    prepare_out(out)
    not_read: list[NotRead] = []
    files = input_files(inputs, not_read)
    failed = echo_not_read(not_read)
    say_if_none_found(files, inputs, not_read)
    used: set[str] = set()
    for path in files:
        try:
            written = converter.reverse(read_input(path), target, str(path))
        except FAILURES as exc:
            failed += 1
            echo_failure(exc, str(path))
            continue
        for item in written:
            name = unique_name(f"{item.name}{item.suffix}", used)
            try:
                replaced = write_output(out, name, item.xml)
            except OSError as exc:
                failed += 1
                click.echo(f"FAIL {path}: cannot write output {name} in {out}: {exc.strerror or exc}")
                break
            click.echo(f"ok   {path}: -> {name} ({target})")
            if replaced:
                click.echo(f"     replaced: {name} (a file of that name was in {out} already)")
            for note in item.normalised:
                click.echo(f"     normalised for {target}: {note}")
            for rule in item.one_way:
                click.echo(f"     one-way rule: {rule}")
            for field in item.unplaced:
                click.echo(f"     not representable in {target}: {field}")
    return EXIT_FAILED if failed else EXIT_OK


@main.command()
@click.argument("files", nargs=-1, required=True)
@click.option("--require-schemas", is_flag=True,
              help="Count a message or payload with no official schema here (not checked) as a failure (exit 1).")
def validate(files: tuple[str, ...], require_schemas: bool) -> None:
    """Validate messages (bare or SOAP-wrapped) against the official schemas of $OVERSTAP_REFERENCE_DIR.

    A StUF-GGk envelope is checked against the GGk schema and its payload against the payload's own; a ZKN
    question or answer (zakLv01, zakLa01, …) against the ZKN vraag/antwoord schema, a kennisgeving (zakLk01,
    …) against the mutatie schema, a Bv03/Fo03 against StUF's, an iWmo 2.1 message against its XSD. A message or
    payload with no official schema in the reference folder (iJw, iWmo 3.2) is not checked: a "skip" line says so,
    counted apart, neither valid nor invalid. Exit status: 0 nothing invalid; 1 one or more invalid or unreadable
    (each FAIL line says why), or with --require-schemas one not checked; 2 the schemas are not where
    $OVERSTAP_REFERENCE_DIR says.
    """
    from gateway.ingest import InputError

    not_read: list[NotRead] = []
    paths = input_files(files, not_read)
    passed, failed, unchecked = 0, echo_not_read(not_read), 0
    for path in paths:
        try:
            errors, skipped, what = schema_errors(read_input(path), str(path))
        except InputError as exc:
            errors, skipped, what = [str(exc)], [], ""
        except SchemaUnavailable as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        if errors:
            failed += 1
            click.echo(f"FAIL {path}: " + "; ".join(errors[:3] + skipped))
        elif skipped:
            unchecked += 1
            checked = "GGk envelope valid; " if " in a GGk " in what else ""  # what was checked, and passed
            click.echo(f"skip {path}: {checked}" + "; ".join(skipped) + f" ({what})")
        else:
            passed += 1
            click.echo(f"ok   {path}: valid ({what})")
    click.echo(f"{passed} passed, {failed} failed, {unchecked} not checked")
    sys.exit(EXIT_FAILED if failed or (require_schemas and unchecked) else EXIT_OK)


def schema_errors(data: bytes, name: str) -> tuple[list[str], list[str], str]:
    """Why a message does not validate ([] when it does), what could not be checked, and what was validated.

    Why the envelope too: ingest reads a GGk envelope only as far as converting needs, so an envelope the GGk
    schema refuses (a functie or applicatie too long, an attribute it does not know) was called valid when
    its payload was. Why "not checked" apart: a payload with no official XSD here (iJw, iWmo 3.2) is neither
    invalid nor valid; validate called Overstap's own correct iJw GGk output invalid (session 29)."""
    from gateway.ingest import parse_xml, read
    from gateway.ingest.envelopes import unwrap_soap

    source = read(data, name)
    root = _fault_detail(source.root)
    what = etree.QName(root).localname + (" in a SOAP Fault" if root is not source.root else "")
    ggk = next((kind for kind in source.envelopes if kind.startswith("ggk-")), None)
    if ggk is None:
        return *_payload_errors(root, "not checked"), what
    envelope, _ = unwrap_soap(parse_xml(data, name, len(data), huge=True), name)
    errors, skipped = _payload_errors(source.root, "payload not checked")
    return ([f"GGk envelope {e}" for e in errors_of(envelope, "ggk")] + [f"payload {e}" for e in errors],
            skipped, f"{what} in a GGk {ggk[4:]} envelope")


def _payload_errors(root: etree._Element, part: str) -> tuple[list[str], list[str]]:
    """The errors of ``root`` against its official schema, or (none) the note that no such schema is here."""
    if kind_of(root) is None:
        return [], [f"{part}: no official schema for {root.tag} in {reference_dir()}"]
    return errors_of(root), []


def _fault_detail(root: etree._Element) -> etree._Element:
    """The StUF Fo bericht a SOAP Fault carries in its detail (how a Fo03 is answered), else ``root`` itself: a
    Fo03 sent as the standard has it was called invalid, "no official schema known for root element Fault"."""
    name = etree.QName(root)
    if name.localname != "Fault" or name.namespace not in stuf.SOAP_NS.values():
        return root
    return next((el for el in root.iter(f"{{{STUF_NS}}}*") if etree.QName(el).localname in ("Fo01Bericht",
                 "Fo02Bericht", "Fo03Bericht")), root)


def open_ledger(state: str) -> Ledger:
    """``--state``: ``none`` (memory), a PostgreSQL URL, or a folder holding ledger.sqlite."""
    if state.strip().lower() == "none":
        return MemoryLedger()
    if is_url(state):
        return PostgresLedger(state)
    return SqliteLedger(state)


def mask_url(state: str) -> str:
    """A state URL as it may be shown: without its password."""
    return masked(state)
