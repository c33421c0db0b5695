"""Conversion throughput against the lxml parse+serialise floor of the same messages, in one run.

    .venv/bin/python benchmarks/convert_bench.py [--seconds 2] [--files FILE ...]

Prints messages/s for: the floor (lxml parse + serialise), conversion without output validation,
and conversion with validation against the official StUF-ZKN schema; and each as a ratio of the
floor. Then the cost of each stage, and the *design floor*: the steps no implementation of this
design can skip (safe parse of the input, validation of the canonical pydantic model, re-parse and
XSD validation of the output) and the best ratio to the floor they leave even if mapping, rendering
and bookkeeping cost nothing. One core, one process. Not a test: numbers vary by machine, ratios much less.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lxml import etree

from gateway.ingest import read
from gateway.mapping import map_source
from gateway.model import Bericht
from gateway.pipeline import Converter
from gateway.reference import reference_dir
from gateway.render import zkn
from gateway.render.schemas import schema


def rate(fn: Callable[[bytes], object], messages: list[bytes], seconds: float) -> float:
    """Messages per second, best of three timed rounds of at least ``seconds / 3`` each."""
    results = []
    for _ in range(3):
        n = 0
        start = time.perf_counter()
        deadline = start + seconds / 3
        while True:
            for message in messages:
                fn(message)
            n += len(messages)
            now = time.perf_counter()
            if now >= deadline:
                break
        results.append(n / (now - start))
    return max(results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--files", nargs="*", help="messages to convert (default: the public 2.0 301/315 samples)")
    args = parser.parse_args()
    if args.files:
        paths = [Path(f) for f in args.files]
    else:
        samples = reference_dir() / "samples" / "iwmo20-xml"
        paths = sorted(p for p in samples.glob("*.xml") if "WMO301" in p.name or "WMO315" in p.name)
    if not paths:
        print(f"no input messages found (reference dir {reference_dir()})", file=sys.stderr)
        return 2
    messages = [p.read_bytes() for p in paths]
    size = statistics.mean(len(m) for m in messages)

    parser_ = etree.XMLParser(resolve_entities=False, no_network=True)

    def floor(message: bytes) -> object:
        return etree.tostring(etree.fromstring(message, parser_))

    plain = Converter(validate=False)
    checked = Converter(validate=True)
    lean = Converter(validate=False, track_unmapped=False)

    def convert_plain(message: bytes) -> object:
        return plain.convert(message)

    def convert_checked(message: bytes) -> object:
        return checked.convert(message)

    def convert_lean(message: bytes) -> object:
        return lean.convert(message)

    for fn in (floor, convert_plain, convert_checked):  # warm up caches and schemas
        for message in messages:
            fn(message)
    floor_rate = rate(floor, messages, args.seconds)
    rows = [
        ("lxml parse+serialise (floor)", floor_rate),
        ("convert, no validation", rate(convert_plain, messages, args.seconds)),
        ("convert, no validation, no unmapped scan", rate(convert_lean, messages, args.seconds)),
        ("convert + schema validation", rate(convert_checked, messages, args.seconds)),
    ]
    print(f"{len(messages)} messages, mean {size / 1024:.1f} KB, one core")
    print(f"{'':44} {'msg/s':>9} {'µs/msg':>8} {'of floor':>9}")
    for label, value in rows:
        print(f"{label:44} {value:9.0f} {1e6 / value:8.1f} {value / floor_rate:9.1%}")
    stages(plain, messages, args.seconds, floor_rate)
    return 0


def stages(converter: Converter, messages: list[bytes], seconds: float, floor_rate: float) -> None:
    """µs per stage of one conversion, and the design floor: what validated canonical output costs at least."""
    sources = [read(m) for m in messages]
    mappings = [converter.detect(s) for s in sources]
    results = [map_source(m, s.root) for m, s in zip(mappings, sources, strict=True)]
    outputs = [zkn.render(r.bericht, converter.settings_for(m))[0].xml
               for m, r in zip(mappings, results, strict=True)]
    xsd = schema("zkn")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    trees = [etree.fromstring(o, parser) for o in outputs]
    size = statistics.mean(len(o) for o in outputs)

    def each(fn: Callable[[int], object]) -> float:
        """µs per message of ``fn(i)`` over every message i."""
        index = list(range(len(messages)))
        per_round = rate(fn, index, seconds / 3)  # type: ignore[arg-type]
        return 1e6 / per_round

    floor_us = 1e6 / floor_rate
    rows = [
        ("safe parse of the input (ingest.read)", each(lambda i: read(messages[i])), True),
        ("detect the dialect", each(lambda i: converter.detect(sources[i])), False),
        ("map, incl. model validation (map_source)", each(lambda i: map_source(mappings[i], sources[i].root)), False),
        ("  of which: pydantic validation of the model", each(lambda i: Bericht.model_validate(results[i].data)),
         True),
        ("render the zakLk01 (string writer)",
         each(lambda i: zkn.render(results[i].bericht, converter.settings_for(mappings[i]))), False),
        (f"re-parse the output ({size / 1024:.1f} KB)", each(lambda i: etree.fromstring(outputs[i], parser)), True),
        ("XSD validation of the parsed output (libxml2)", each(lambda i: xsd.validate(trees[i])), True),
    ]
    print(f"\nstages (µs/msg, each timed alone; the floor is {floor_us:.1f} µs)")
    for label, us, _ in rows:
        print(f"  {label:52} {us:7.1f}")
    least = sum(us for _, us, unavoidable in rows if unavoidable)
    print(f"design floor: the unavoidable stages (safe parse, model validation, output re-parse + XSD) cost "
          f"{least:.1f} µs,\nso validated output can reach at most {floor_us / least:.1%} of the floor even if "
          "mapping, rendering and bookkeeping cost nothing")


if __name__ == "__main__":
    sys.exit(main())
