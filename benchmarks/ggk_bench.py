"""Where a GGk conversion's time goes, part by part, against the lxml floor of the same messages, in one run.

    .venv/bin/python benchmarks/ggk_bench.py [--seconds 1.5] [--files FILE ...]

Profile ggk writes each message back in a built-in dialect (gateway.mapping.reverse) and wraps it in a
Di01/Du01 envelope. This prints µs per message for the whole conversion and for each of its parts alone
(mapping in, version normalisation, the reverse writer in one pass as profile ggk runs it, the tree writer and
its serialiser it falls back on, the ledger stamp, the envelope),
the garbage collections a run of conversions causes (a reference cycle per message shows up there, not in
a profile), and the issue 13 target beside the measurement. Rates are the best of short rounds
(convert_bench.rate). Not a test: numbers vary by machine, ratios much less.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from lxml import etree

from gateway.ledger.staged import ThrowawayLedger
from gateway.mapping.reverse import unmap

try:
    from gateway.mapping.reverse import unmap_text
except ImportError:  # a tree from before the one pass (comparing with an older checkout): the tree writer
    def unmap_text(mapping, bericht):  # type: ignore[no-untyped-def]
        written = unmap(mapping, bericht)
        return written.tostring(), written.one_way, written.unplaced
from gateway.model.versions import for_version
from gateway.pipeline import Converter, ggk_stamp
from gateway.render import ggk

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_bench import arguments, load, rate  # a sibling script, not a package
from targets import GGK_US, header, target_line


def main() -> int:
    args = arguments(__doc__, 1.5)
    messages = load(args.files)
    if not messages:
        return 2
    converter = Converter(profile="ggk", validate=False, ledger=ThrowawayLedger())
    ledger, now = ThrowawayLedger(), datetime(2026, 1, 1, 12)
    mapped = [converter.to_model(m) for m in messages]
    cases = []
    for _source, mapping, result in mapped:
        settings = converter.settings_for(mapping)
        target = converter.payload_dialect(result.bericht, settings)
        assert target.wet is not None and target.versie is not None
        normal = for_version(result.bericht, target.wet, target.versie).bericht
        cases.append((result.bericht, settings, target, normal, unmap(target, normal)))

    def stamp(i: int) -> object:
        with ledger.transaction() as tx:
            return ggk_stamp(cases[i][0], cases[i][1], tx, now)

    payloads = [case[4].tostring() for case in cases]
    stamps = [stamp(i) for i in range(len(cases))]
    parser_ = etree.XMLParser(resolve_entities=False, no_network=True)
    parts: list[tuple[str, Callable[[int], object]]] = [
        ("lxml parse+serialise (floor)", lambda i: etree.tostring(etree.fromstring(messages[i], parser_))),
        ("GGk convert, no validation", lambda i: converter.convert(messages[i])),
        ("  map in (to_model: parse, map, validate)", lambda i: converter.to_model(messages[i])),
        ("  version normalisation (for_version)", lambda i: for_version(
            cases[i][0], cases[i][2].wet, cases[i][2].versie)),  # type: ignore[arg-type]
        ("  reverse writer, one pass (unmap_text)", lambda i: unmap_text(cases[i][2], cases[i][3])),
        ("  tree writer it falls back on (unmap)", lambda i: unmap(cases[i][2], cases[i][3])),
        ("  the tree's serialiser (Reversed.tostring)", lambda i: cases[i][4].tostring()),
        ("  ledger stamp in a transaction", stamp),
        ("  envelope (render.ggk.render)", lambda i: ggk.render(
            cases[i][0], payloads[i], cases[i][2].bericht, cases[i][2].versie, cases[i][1], stamps[i])),  # type: ignore[arg-type]
    ]
    indices = list(range(len(messages)))
    us = [1e6 / rate(fn, indices, args.seconds) for _, fn in parts]  # type: ignore[arg-type]
    print(f"{len(messages)} messages, one core; µs/msg, each part alone (best of short rounds)")
    for (label, _), value in zip(parts, us, strict=True):
        print(f"  {label:44} {value:8.1f}   {value / us[0]:5.1f}x the floor")
    gc.collect()
    before = [s["collections"] for s in gc.get_stats()]
    for _ in range(100):
        for message in messages:
            converter.convert(message)
    after = [s["collections"] for s in gc.get_stats()]
    print(f"garbage collections (gen 0, 1, 2) during {100 * len(messages)} conversions: "
          f"{', '.join(str(a - b) for a, b in zip(after, before, strict=True))}")
    print(header(1e6 / us[0]))
    print(target_line("GGk conversion, no validation", f"{us[1]:,.0f} µs/msg", f"< {GGK_US:.0f} µs",
                      us[1] < GGK_US))
    return 0


if __name__ == "__main__":
    sys.exit(main())
