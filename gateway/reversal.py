"""The way back: a canonical message (zakLk01, a GGk envelope, or any known dialect) written in a chain dialect.

Apart from :mod:`gateway.pipeline`'s forward conversion because it runs the other way round: it brings each
message to the target dialect's version, writes it with that dialect's mapping run backwards, and names in the
:class:`Reversal` what the target could not hold. :meth:`gateway.pipeline.Converter.reverse` is its entry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.ingest import Source, read
from gateway.ingest.ei import TRIMMED, trimmed_away
from gateway.mapping import Compiled, ConversionError, Registry, map_source
from gateway.mapping.reverse import unmap
from gateway.model import Bericht
from gateway.model.bericht import ANSWERS
from gateway.model.versions import VERSIONS, Normalised, TooLong, for_version
from gateway.render.names import file_name
from gateway.render.schemas import OutputInvalid, check, iwmo_kind


def reverse(data: bytes, target: str | Path, name: str, *, registry: Registry, detect: Callable[[Source], Compiled],
            zaaktypen: Mapping[str, Any], max_bytes: int, validate: bool | str) -> list[Reversal]:
    """``data`` written in the dialect of mapping ``target``, one dialect message per zaak/client: see
    :meth:`gateway.pipeline.Converter.reverse`, which hands over its registry, detection, the configured
    ``zaaktypen`` (profile v2 names wet and kind by them), its input bound and its output validation."""
    from gateway.ingest.zkn import read_zkn

    mapping = registry.get(target)
    if mapping.reverse_refused:
        raise ConversionError(f"mapping {mapping.name!r} does not write messages back: {mapping.reverse_refused}",
                              field="reverse", source=name)
    source = read(data, name, max_bytes=max_bytes)
    read_as: list[str] = []  # what the reader chose where the input does not say (a zaak's contact soorten)
    if source.root.tag == "{http://www.egem.nl/StUF/sector/zkn/0310}zakLk01":
        from gateway.ingest.zkn_v2 import assumed_soorten, is_v2, read_zkn_v2

        if is_v2(source.root):  # profile v2: one creeerZaak per toewijzing; the zaaktype names wet and kind
            kinds = {z.code: tuple(key.rsplit(":", 1)[-1].split(".", 1))
                     for key, z in zaaktypen.items()}
            berichten = [read_zkn_v2(source.root, name, kinds)]  # type: ignore[arg-type]
            read_as = assumed_soorten(berichten[0])
        else:
            berichten = [read_zkn(source.root, name)]
    else:
        result = map_source(detect(source), source.root, source=name, track_unmapped=False)
        if result.bericht.soort in ANSWERS:  # a 319 names no client: it is one message, not none
            berichten = [result.bericht]
        else:
            berichten = [result.bericht.model_copy(update={"clients": [c]}) for c in result.bericht.clients]
    trimmed = [f"{path} (line {line}): {TRIMMED}" for path, line in trimmed_away(source.root)] \
        if source.format == "ei" else []
    out: list[Reversal] = []
    for i, bericht in enumerate(berichten):
        bericht, normalised, dropped = _to_version(bericht, mapping)
        normalised = trimmed + read_as + normalised
        written = unmap(mapping, bericht)
        written.unplaced[:0] = dropped
        stem = file_name(f"{mapping.name}-{bericht.identificatie}") + (f"-{i + 1}" if len(berichten) > 1 else "")
        if mapping.format == "ei":  # the EI tree as the fixed-width flat file its layout describes
            flat = _flat_file(written.root, mapping.name)
            if validate:
                _reads_back(flat, mapping.name)
            out.append(Reversal(stem, flat, mapping.name, written.one_way, written.unplaced, ".ei", normalised))
            continue
        xml = written.tostring()
        kind = iwmo_kind(mapping.wet, mapping.versie, mapping.bericht)
        if validate and kind is not None:
            check(xml, kind)
        out.append(Reversal(stem, xml, mapping.name, written.one_way, written.unplaced, normalised=normalised))
    return out


def for_version_named(bericht: Bericht, wet: str, versie: str) -> Normalised:
    """:func:`for_version`, its refusal of a required text too long for the version as the ConversionError that
    names the field (StUF055, as a value no XSD type allows); the GGk payload's writer uses it too."""
    try:
        return for_version(bericht, wet, versie)
    except TooLong as exc:
        raise ConversionError(str(exc), field=exc.path, code="StUF055") from None


def _to_version(bericht: Bericht, mapping: Compiled) -> tuple[Bericht, list[str], list[str]]:
    """The message as ``mapping``'s version can hold it, through the same cross-version rules as the GGk
    payload (2.0 RedenIntrekking -> RedenWijziging, ...): (bericht, normalised, dropped). Also in the same version:
    a message read back from a zaak may lack what the version requires (a relative's NaamGebruik, which a zaak no
    longer carries: docs/canonical-spec.md 5), and the rules drop and name such a part instead of writing an invalid
    message."""
    if not mapping.wet or not mapping.versie:
        return bericht, [], []
    if (mapping.wet, mapping.versie) not in VERSIONS or bericht.wet != mapping.wet:
        return bericht, [], []
    normal = for_version_named(bericht, mapping.wet, mapping.versie)
    return normal.bericht, normal.normalised, normal.dropped


def _flat_file(root: Any, mapping: str) -> bytes:
    from gateway.ingest.ei import EiError, default_layouts
    from gateway.ingest.ei_write import write_ei

    try:
        return write_ei(root, default_layouts())
    except EiError as exc:
        raise ConversionError(f"cannot write {mapping} as an EI flat file: {exc.message}", path=exc.field,
                              code="StUF055") from None


def _reads_back(flat: bytes, mapping: str) -> None:
    """An EI file has no XSD to validate against: with validation on it is read back by the EI parser, which checks
    what a receiver's would (record lengths, links, counters, dates, empty forms), so a file written wrong is an
    error, never an output."""
    from gateway.ingest.ei import EiError, default_layouts, parse_ei

    try:
        parse_ei(flat, default_layouts(), mapping)
    except EiError as exc:
        raise OutputInvalid(f"{mapping} EI layout", [str(exc)]) from None


@dataclass(frozen=True, slots=True)
class Reversal:
    """One dialect message written back, with what the target dialect could not hold. ``xml`` holds the
    message's bytes: XML, or for an EI dialect (``suffix`` ``.ei``) the fixed-width flat file."""

    name: str
    xml: bytes
    mapping: str
    one_way: list[str]
    unplaced: list[str]
    suffix: str = ".xml"
    normalised: list[str] = field(default_factory=list)
    """``path: what`` for values rewritten for the target version (gateway/model/versions.py)."""
