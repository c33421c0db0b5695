"""Conversion throughput against the lxml parse+serialise floor of the same messages, in one run.

    .venv/bin/python benchmarks/convert_bench.py [--seconds 2] [--files FILE ...]

Prints messages/s for: the floor (lxml parse + serialise), conversion without output validation,
conversion with validation against the official StUF-ZKN schema (the value guard, and the full re-parse +
XSD check of ``validate: full``), and GGk conversion; each as a ratio
of the floor, and the targets of issue 13 beside the measurements (MET / NOT MET). Every conversion
runs against a throwaway ledger: each message is rendered as the creeerZaak it is for a receiver that
holds nothing. (Against one growing ledger the second round of the same messages would be "no change"
with no output to render or validate, and the benchmark would flatter itself.)
Then the cost of each stage, and the *design floor*: the steps no implementation of this design can
skip (safe parse of the input, validation of the canonical pydantic model, and with ``validate: full``
re-parse and XSD validation of the output) and the best ratio to the floor they leave even if mapping, rendering
and bookkeeping cost nothing. One core, one process. Not a test: numbers vary by machine, ratios much less.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

from gateway.ingest import read
from gateway.ledger.staged import ThrowawayLedger
from gateway.mapping import map_source
from gateway.model import Bericht
from gateway.pipeline import Converter
from gateway.reference import reference_dir
from gateway.render import RenderSettings, zkn
from gateway.render.schemas import schema

sys.path.insert(0, str(Path(__file__).resolve().parent))
from targets import (  # a sibling module, not a package
    CONVERT_FLOOR_SHARE,
    CONVERT_STRETCH,
    GGK_US,
    header,
    share_line,
    target_line,
)

ROUND = 0.05
"""Seconds of one timed round. On a shared machine a neighbour's burst slows some rounds; the best of many
short rounds is the rate of the code rather than of the neighbours (three long rounds averaged them in)."""


def rate(fn: Callable[[bytes], object], messages: list[bytes], seconds: float) -> float:
    """Messages per second: the best of the timed rounds of ~``ROUND`` s (each every message at least once)
    that fit in ``seconds`` (at least three)."""
    return rates([fn], messages, seconds)[0]


def rates(fns: list[Callable[[bytes], object]], messages: list[bytes], seconds: float) -> list[float]:
    """:func:`rate` of each of ``fns``, their rounds taken in turn (``seconds`` each in all): a slow stretch of
    the host falls on every one of them alike, so the ratios between them hold even where the rates drift."""
    best = [0.0] * len(fns)
    stop = time.perf_counter() + seconds * len(fns)
    rounds = 0
    while rounds < 3 or time.perf_counter() < stop:
        for i, fn in enumerate(fns):
            n = 0
            start = time.perf_counter()
            while True:
                for message in messages:
                    fn(message)
                n += len(messages)
                now = time.perf_counter()
                if now - start >= ROUND:
                    break
            best[i] = max(best[i], n / (now - start))
        rounds += 1
    return best


def arguments(doc: str, seconds: float) -> argparse.Namespace:
    """``--seconds`` and ``--files``, the options this benchmark and ggk_bench.py share."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=seconds, help="time per measurement")
    parser.add_argument("--files", nargs="*", help="messages to convert (default: the public 2.0 301/315 samples)")
    return parser.parse_args()


def load(files: list[str] | None) -> list[bytes]:
    """The messages of ``--files``, by default the public iWmo 2.0 301/315 samples; none: a message said why."""
    if files:
        paths = [Path(f) for f in files]
    else:
        samples = reference_dir() / "samples" / "iwmo20-xml"
        paths = sorted(p for p in samples.glob("*.xml") if "WMO301" in p.name or "WMO315" in p.name)
    if not paths:
        print(f"no input messages found (reference dir {reference_dir()})", file=sys.stderr)
    return [p.read_bytes() for p in paths]


def main() -> int:
    args = arguments(__doc__, 3.0)
    messages = load(args.files)
    if not messages:
        return 2
    size = statistics.mean(len(m) for m in messages)

    parser_ = etree.XMLParser(resolve_entities=False, no_network=True)

    def floor(message: bytes) -> object:
        return etree.tostring(etree.fromstring(message, parser_))

    plain = Converter(validate=False, ledger=ThrowawayLedger())
    checked = Converter(validate=True, ledger=ThrowawayLedger())  # zkn: the value guard
    full = Converter(validate="full", ledger=ThrowawayLedger())  # every output parsed back and validated
    lean = Converter(validate=False, track_unmapped=False, ledger=ThrowawayLedger())
    ggk = Converter(profile="ggk", validate=False, ledger=ThrowawayLedger())
    ggk_checked = Converter(profile="ggk", validate=True, ledger=ThrowawayLedger())

    def convert_plain(message: bytes) -> object:
        return plain.convert(message)

    def convert_checked(message: bytes) -> object:
        return checked.convert(message)

    def convert_full(message: bytes) -> object:
        return full.convert(message)

    def convert_lean(message: bytes) -> object:
        return lean.convert(message)

    def convert_ggk(message: bytes) -> object:
        return ggk.convert(message)

    def convert_ggk_checked(message: bytes) -> object:
        return ggk_checked.convert(message)

    warm = (floor, convert_plain, convert_checked, convert_full, convert_ggk, convert_ggk_checked)
    for fn in warm:  # warm caches and schemas
        for message in messages:
            fn(message)
    labels = ["lxml parse+serialise (floor)", "convert, no validation", "convert, no validation, no unmapped scan",
              "convert + schema validation", "GGk convert, no validation", "GGk convert + schema validation",
              "convert + full check (re-parse + XSD)"]
    measured = rates([floor, convert_plain, convert_lean, convert_checked, convert_ggk, convert_ggk_checked,
                      convert_full], messages, args.seconds)  # rounds in turn: one host moment for every row
    rows = list(zip(labels, measured, strict=True))
    floor_rate = measured[0]
    print(f"{len(messages)} messages, mean {size / 1024:.1f} KB, one core")
    print(f"{'':44} {'msg/s':>9} {'µs/msg':>8} {'of floor':>9}")
    for label, value in rows:
        print(f"{label:44} {value:9.0f} {1e6 / value:8.1f} {value / floor_rate:9.1%}")
    print(header(floor_rate))
    print(share_line("convert + validation (zkn), one core", rows[3][1], floor_rate, CONVERT_FLOOR_SHARE,
                     CONVERT_STRETCH))
    ggk_us = 1e6 / rows[4][1]
    print(target_line("GGk conversion, no validation", f"{ggk_us:,.0f} µs/msg", f"< {GGK_US:.0f} µs",
                      ggk_us < GGK_US))
    stages(plain, messages, args.seconds, floor_rate)
    return 0


NOW = dt.datetime(2026, 1, 1, 12, 0)


def zkn_xml(bericht: Bericht, settings: RenderSettings) -> bytes:
    """The first zakLk01 of a message rendered as if the receiver held nothing (profile zkn v2 renders against
    a ledger; a throwaway one keeps every run of the same message a creeerZaak)."""
    with ThrowawayLedger().transaction() as tx:
        return zkn.render(bericht, settings, tx, NOW).outputs[0].xml


def renderable(messages: list[bytes]) -> list[bytes]:
    """The messages that make a zaak on their own (a 305/307 needs its 301 in the ledger first; retours none)."""
    converter = Converter(validate=False)
    out = []
    for data in messages:
        _, mapping, result = converter.to_model(data)
        try:
            zkn_xml(result.bericht, converter.settings_for(mapping))
        except (zkn.RenderError, IndexError):
            continue
        out.append(data)
    return out


def stages(converter: Converter, messages: list[bytes], seconds: float, floor_rate: float) -> None:
    """µs per stage of one conversion, alone and in the pipeline, and the design floor: what validated
    canonical output costs at least whatever the mapping and rendering code does."""
    messages = renderable(messages)
    blanks = converter.registry.blanks_matter()  # as Converter.to_model reads: without blank text where it may
    sources = [read(m, blanks=blanks) for m in messages]
    mappings = [converter.detect(s) for s in sources]
    results = [map_source(m, s.root) for m, s in zip(mappings, sources, strict=True)]
    outputs = [zkn_xml(r.bericht, converter.settings_for(m))
               for m, r in zip(mappings, results, strict=True)]
    xsd = schema("zkn")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    trees = [etree.fromstring(o, parser) for o in outputs]
    size = statistics.mean(len(o) for o in outputs)

    def alone(fn: Callable[[int], object]) -> float:
        """µs per message of ``fn(i)`` over every message i, in a tight loop (warm caches)."""
        return 1e6 / rate(fn, list(range(len(messages))), seconds / 3)  # type: ignore[arg-type]

    labels = ["safe parse of the input (ingest.read)", "detect the dialect",
              "map, incl. model validation (map_source)", "  of which: pydantic validation of the model",
              "render the zakLk01 (string writer)", f"re-parse the output ({size / 1024:.1f} KB)",
              "XSD validation of the parsed output (libxml2)"]
    unavoidable = (True, False, False, True, False, True, True)
    warm = [alone(lambda i: read(messages[i], blanks=blanks)), alone(lambda i: converter.detect(sources[i])),
            alone(lambda i: map_source(mappings[i], sources[i].root)),
            alone(lambda i: Bericht.model_validate(results[i].data)),
            alone(lambda i: zkn_xml(results[i].bericht, converter.settings_for(mappings[i]))),
            alone(lambda i: etree.fromstring(outputs[i], parser)), alone(lambda i: xsd.validate(trees[i]))]
    inline = in_pipeline(converter, messages, seconds, parser, xsd)
    floor_us = 1e6 / floor_rate
    print(f"\nstages, µs/msg (the floor is {floor_us:.1f} µs): each alone in a tight loop, and in the pipeline "
          "(one message\nthrough every stage, as a conversion runs: colder caches; the model's validation "
          "is part of map there)")
    print(f"  {'':52} {'alone':>7} {'in pipeline':>12}")
    for label, us, pipe in zip(labels, warm, inline, strict=True):
        print(f"  {label:52} {us:7.1f} {'' if pipe is None else f'{pipe:12.1f}'}")
    least = sum(us for us, must in zip(warm, unavoidable, strict=True) if must)
    least_inline = sum(pipe if pipe is not None else us
                       for us, pipe, must in zip(warm, inline, unavoidable, strict=True) if must)
    guard_least = warm[0] + warm[3]  # zkn with the value guard: no output re-parse, no XSD pass
    guard_inline = (inline[0] if inline[0] is not None else warm[0]) + warm[3]
    print(f"design floor: the unavoidable stages (safe parse, model validation, output re-parse + XSD) cost "
          f"{least:.1f} µs alone,\n{least_inline:.1f} µs in the pipeline (model validation counted alone); so "
          f"validated output can reach at most {floor_us / least:.1%} / {floor_us / least_inline:.1%}\nof the "
          "floor even if mapping, rendering and all bookkeeping cost nothing (validate: full)")
    print(f"with the value guard (zkn, validate on: no output re-parse or XSD pass) the unavoidable stages are the "
          f"safe parse and\nmodel validation: {guard_least:.1f} µs alone, {guard_inline:.1f} in the pipeline, at "
          f"most {floor_us / guard_least:.1%} / {floor_us / guard_inline:.1%} of the floor")
    lean = [_without_extra(o) for o in outputs]  # for comparison only: what a profile without them would cost
    lean_us = alone(lambda i: xsd.validate(etree.fromstring(lean[i], parser)))
    print(f"for comparison: re-parse + XSD of the same zakLk01 without its extraElementen "
          f"({statistics.mean(len(o) for o in lean) / 1024:.1f} KB) costs {lean_us:.1f} µs alone, against "
          f"{warm[5] + warm[6]:.1f} µs with them")


def _without_extra(xml: bytes) -> bytes:
    start = xml.index(b"<StUF:extraElementen>")
    end = xml.index(b"</StUF:extraElementen>") + len(b"</StUF:extraElementen>")
    return xml[:start] + xml[end:]


def design_floor(messages: list[bytes], seconds: float) -> float:
    """µs per message the unavoidable stages cost in the pipeline (model validation timed alone)."""
    converter = Converter(validate=False)
    messages = renderable(messages)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    inline = in_pipeline(converter, messages, seconds / 2, parser, schema("zkn"))
    blanks = converter.registry.blanks_matter()
    datas = [map_source(converter.detect(s), s.root).data for s in (read(m, blanks=blanks) for m in messages)]
    model = 1e6 / rate(lambda i: Bericht.model_validate(datas[i]), list(range(len(datas))), seconds / 2)  # type: ignore[arg-type]
    return inline[0] + model + inline[5] + inline[6]  # type: ignore[operator]


def in_pipeline(converter: Converter, messages: list[bytes], seconds: float, parser: etree.XMLParser,
                xsd: etree.XMLSchema) -> list[float | None]:
    """µs per stage with every message going through all stages in turn (None: not separable here)."""
    clock = time.perf_counter
    blanks = converter.registry.blanks_matter()
    spent = [0.0] * 6
    count = 0
    deadline = clock() + seconds
    while clock() < deadline or not count:
        for data in messages:
            t0 = clock()
            source = read(data, blanks=blanks)
            t1 = clock()
            mapping = converter.detect(source)
            t2 = clock()
            result = map_source(mapping, source.root)
            t3 = clock()
            xml = zkn_xml(result.bericht, converter.settings_for(mapping))
            t4 = clock()
            tree = etree.fromstring(xml, parser)
            t5 = clock()
            xsd.validate(tree)
            t6 = clock()
            for i, took in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)):
                spent[i] += took
        count += len(messages)
    us = [1e6 * s / count for s in spent]
    return [us[0], us[1], us[2], None, us[3], us[4], us[5]]


if __name__ == "__main__":
    sys.exit(main())
