"""``overstap discover`` throughput and memory on a generated archive, against the lxml parse floor.

    .venv/bin/python benchmarks/discover_bench.py                  # 100,000 messages
    .venv/bin/python benchmarks/discover_bench.py -n 20000         # a quicker run

Generates a ZIP of N XML messages by varying the identifiers (berichtidentificatie, BSN) of the public
iWmo 2.0 samples, every fixture dialect (iWmo 2.1/3.2, iJw 2.1/3.2) and the three example vendor
dialects, so discover has some 40 clusters to keep apart. Then runs ``overstap discover`` per worker
count, polling the whole process tree for its peak resident memory, and measures in the same run the
floor: ``lxml.etree.fromstring`` of the same messages on one core. Prints messages/s (wall), messages per
CPU second over the whole process tree as a share of the floor's (CPU time, so a shared machine does not
skew the ratio) and peak RSS (flat memory: the peak must not grow with N). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree

from gateway.reference import reference_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_bench import generate, messages, watched  # a sibling script, not a package

ROOT_EXAMPLES = Path(__file__).resolve().parents[1] / "mappings" / "examples"
# The archive holds the example vendors' messages: their mappings take part in detection only when asked for.
os.environ.setdefault("OVERSTAP_MAPPING_PATH", str(ROOT_EXAMPLES))

ROOT = Path(__file__).resolve().parents[1]


def templates() -> list[bytes]:
    found = sorted((reference_dir() / "samples" / "iwmo20-xml").glob("*.xml"))
    found += sorted((ROOT / "tests" / "fixtures").rglob("*.xml"))
    found += sorted((ROOT / "mappings" / "examples").glob("*/fixtures/*.xml"))
    return [p.read_bytes() for p in found]


def parse_floor(sample: list[bytes], seconds: float) -> float:
    """lxml parse of the same messages on one core, messages per CPU second (best of three rounds).

    CPU time rather than wall time: the machine may be shared, and both sides are measured the same way."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    best = 0.0
    for _ in range(3):
        n, start, cpu = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds / 3:
            for data in sample:
                etree.fromstring(data, parser)
            n += len(sample)
        best = max(best, n / (time.process_time() - cpu))
    return best


def run_discover(archive: Path, report: Path, workers: int) -> dict[str, object]:
    code, _, stderr, measures = watched(["discover", str(archive), "--workers", str(workers), "--out", str(report)])
    if code != 0:
        raise SystemExit(f"overstap discover failed ({code}):\n{stderr.decode()}")
    found = json.loads(report.read_text(encoding="utf-8"))
    return {"messages": found["messages"], "clusters": len(found["clusters"]), **measures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=100_000, help="messages in the archive")
    parser.add_argument("--workers", default="1,all", help="comma-separated worker counts ('all' = cores)")
    parser.add_argument("--floor-seconds", type=float, default=3.0)
    args = parser.parse_args()
    if not (reference_dir() / "samples" / "iwmo20-xml").is_dir():
        print(f"no sample messages found (reference dir {reference_dir()})", file=sys.stderr)
        return 2
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="discover-bench-") as tmp:
        archive = Path(tmp) / "archive.zip"
        start = time.perf_counter()
        generate(archive, args.count, templates())
        print(f"archive: {args.count:,} messages, {archive.stat().st_size / 1e6:.1f} MB, "
              f"{len(templates())} templates, generated in {time.perf_counter() - start:.1f} s")
        floor = parse_floor([data for _, data in messages(len(templates()), templates())], args.floor_seconds)
        print(f"floor (lxml parse): {floor:,.0f} msg per CPU second")
        print(f"{'workers':>7} {'msg/s wall':>10} {'msg/CPU-s':>9} {'of floor':>8} {'clusters':>8} "
              f"{'RSS tree':>9} {'PSS tree':>9} {'largest':>8}")
        for spec in args.workers.split(","):
            workers = cores if spec == "all" else int(spec)
            got = run_discover(archive, Path(tmp) / f"report-{workers}.json", workers)
            rate = got["messages"] / got["wall"]  # type: ignore[operator]
            per = got["messages"] / got["cpu"]  # type: ignore[operator]
            print(f"{workers:>7} {rate:>10,.0f} {per:>9,.0f} {per / floor:>8.1%} {got['clusters']:>8} "
                  f"{got['peak_tree'] / 1e6:>8.0f}M {got['peak_pss'] / 1e6:>8.0f}M {got['peak_one'] / 1e6:>7.0f}M")
    return 0


if __name__ == "__main__":
    sys.exit(main())
