"""``overstap batch`` throughput and memory on a generated archive, against the lxml floor of the same messages.

    .venv/bin/python benchmarks/batch_bench.py                 # 100,000 messages
    .venv/bin/python benchmarks/batch_bench.py -n 20000        # a quicker run
    .venv/bin/python benchmarks/batch_bench.py --million       # the 1,000,000-message memory bar

Generates a ZIP of N messages from the public iWmo 2.0 samples and the project's iWmo 2.1 fixtures:
each pass over them is a family of chains with its own beschikking- and toewijzingnummers,
ReferentieAanbieders and BSNs (and every message its own berichtidentificatie), so every message
converts (a failed count above 0 is a finding, not part of the mix). Then runs ``overstap batch``
with 1 worker and with all cores, each time polling the whole process tree (parent, fork server,
workers) for its peak resident memory. In the same run it measures the floor: lxml parse +
serialise of the same messages on one core. Prints messages/s, per-worker messages/s as a share of
the floor and peak RSS, then the targets of issue 13 beside them (per worker >= 15% of the floor with
1 and 2 workers, stretch 25%, validation on, zip output; peak RSS < 300 MB at 1,000,000 messages), each
MET / NOT MET. Not a test.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from gateway.reference import reference_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_bench import design_floor  # a sibling script, not a package
from targets import BATCH_RSS_MB, BATCH_STRETCH, BATCH_WORKER_SHARE, header, share_line, target_line

ROOT = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")
IDENT = re.compile(rb"(<(?:\w+:)?Identificatie>)[^<]*(<)")
# The values that tie a message to its chain (a 305 to its 301, a 301 to its 315) or to a person.
CHAIN = re.compile(rb"(<(?:\w+:)?(Bsn|Clientnummer|BeschikkingNummer|Beschikkingnummer|ToewijzingNummer|"
                   rb"ReferentieAanbieder)>)([^<]+)(<)")
KIND = {b"Bsn": b"bsn", b"Clientnummer": b"bsn", b"Beschikkingnummer": b"nummer", b"BeschikkingNummer": b"nummer",
        b"ToewijzingNummer": b"nummer", b"ReferentieAanbieder": b"referentie"}
VERSION = re.compile(rb"istandaarden\.nl/i(?:wmo|jw)/(\d+_\d+)/")
IWMO20 = ["CasusA-01-WMO315_verzoek.xml", "CasusA-02-WMO301_toewijzing.xml", "CasusA-04-WMO301_intrekking.xml",
          "CasusB-01-WMO301_toewijzing.xml", "CasusB-02-WMO305_start.xml", "CasusB-04-WMO307_stop.xml",
          "CasusC-01-WMO301_intrekking.xml", "CasusC-02-WMO301_herindicatie.xml"]
IWMO20_0385 = ["CasusF-01-WMO305_verwijderen.xml", "CasusF-02-WMO305_nieuweaanlevering.xml",
               "CasusE-01-WMO305_correctie.xml"]


def templates() -> list[bytes]:
    """The 2.0 samples in the order they happen, then the 2.1 fixtures: one family of chains.

    Cases E and F are starts on a toewijzing of gemeente 0385 whose 301 is not among the samples; the
    B-01 toewijzing sent by 0385 stands in for it (as in ``tests/test_chains.py``). Without it the
    ledger rightly refuses all three (StUF064: no zaak for this start), and 15% of the archive measured
    refusals instead of conversions.
    """
    samples = reference_dir() / "samples" / "iwmo20-xml"
    if not samples.is_dir():
        return []
    b01 = (samples / "CasusB-01-WMO301_toewijzing.xml").read_bytes()
    found = [(samples / name).read_bytes() for name in IWMO20]
    found += [b01.replace(b">0384<", b">0385<")] + [(samples / name).read_bytes() for name in IWMO20_0385]
    found += [p.read_bytes() for p in sorted((ROOT / "tests" / "fixtures" / "iwmo21").glob("*.xml"))]
    return found


def bsn(n: int) -> bytes:
    """A 9-digit number that passes the BSN 11-proof, distinct for each ``n`` below 10 million."""
    for stem in (10_000_000 + n, 90_000_000 + n):  # the second range is unused by the first for n < 10M
        digits = [int(c) for c in str(stem)]
        check = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        if check < 10:
            return (str(stem) + str(check)).encode()
    return bsn(n + 10_000_000)


def chain_slots(bases: list[bytes]) -> dict[tuple[bytes, bytes, bytes], int]:
    """A slot for each (kind, standard version, value) of a chain value in ``bases``.

    The 2.1 fixtures mirror the 2.0 samples with the same beschikkingnummers and BSNs: keyed on the
    version too, they become chains of their own rather than repeats of the 2.0 ones.
    """
    slots: dict[tuple[bytes, bytes, bytes], int] = {}
    for base in bases:
        version = VERSION.search(base)
        for match in CHAIN.finditer(base):
            key = (KIND[match[2]], version[1] if version else b"", match[3])
            slots.setdefault(key, len(slots))
    return slots


def chain_value(kind: bytes, n: int) -> bytes:
    if kind == b"bsn":
        return bsn(n)
    if kind == b"nummer":  # LDT_Nummer: an integer of at most 9 digits; BSNs here start with 1 or 9
        return str(200_000_000 + n).encode()
    return f"VZ-{n:09d}".encode()


def messages(count: int, bases: list[bytes] | None = None) -> Iterator[tuple[str, bytes]]:
    """``count`` distinct messages cycling over ``bases`` (default: the 2.0 samples and 2.1 fixtures).

    Each pass over ``bases`` is a family of its own: its beschikking- and toewijzingnummers,
    ReferentieAanbieders and BSNs are new, and the same within the pass, so a 305 finds the 301 of its
    own pass and every message converts to zaak messages, as in a real archive of distinct clients. (Only
    varying the berichtidentificatie made each later pass repeat the first: its 301s were "no change",
    its 315s updates of the first pass's zaken.)
    """
    bases = bases or templates()
    slots = chain_slots(bases)
    versions = [VERSION.search(base) for base in bases]
    for i, base in zip(range(count), itertools.cycle(bases), strict=False):
        family, version = i // len(bases), versions[i % len(bases)]

        def chained(match: re.Match[bytes], family: int = family, version: re.Match[bytes] | None = version) -> bytes:
            kind = KIND[match[2]]
            slot = slots[(kind, version[1] if version else b"", match[3])]
            return match[1] + chain_value(kind, family * len(slots) + slot) + match[4]

        text = IDENT.sub(rb"\g<1>" + f"{i:012x}".encode() + rb"\g<2>", base, count=1)
        text = CHAIN.sub(chained, text)
        yield f"{i // 10_000:03d}/msg-{i:07d}.xml", text


def generate(path: Path, count: int, bases: list[bytes] | None = None) -> None:
    """Write the archive under a temporary name first: a run stopped half-way must not leave a truncated
    archive that the next run (``--dir``) would take for a finished one and measure as one broken message."""
    partial = path.with_name(path.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data in messages(count, bases):
            zf.writestr(name, data)
    partial.replace(path)


def floor_rate(sample: list[bytes], seconds: float) -> float:
    """lxml parse + serialise on one core, messages/s (best of three rounds)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    best = 0.0
    for _ in range(3):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 3:
            for data in sample:
                etree.tostring(etree.fromstring(data, parser))
            n += len(sample)
        best = max(best, n / (time.perf_counter() - start))
    return best


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def _pss(pid: int) -> int:
    """Proportional set size: shared pages (forked workers share the parent's) counted once over the tree."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def tree_memory(root: int) -> tuple[int, int, int]:
    """(sum of RSS, sum of PSS, largest single RSS) over the process tree, in bytes."""
    total = pss = largest = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
        total += rss
        pss += _pss(pid)
        largest = max(largest, rss)
        todo += _children(pid)
    return total, pss, largest


CPU_SPLIT = "batch-bench-cpu "
"""The stderr line the wrapped run ends with: the parent's and the workers' CPU seconds (JSON)."""
SPLIT_CPU = f"""
import atexit, json, resource, sys, time
from gateway.batch import runner
at = []
execute = runner.BatchRun.execute
def timed(self):
    at.append(time.process_time())  # the start-up (imports, mappings compiled) before this, apart
    return execute(self)
runner.BatchRun.execute = timed
def report():
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    parent = own.ru_utime + own.ru_stime
    print({CPU_SPLIT!r} + json.dumps({{"parent": parent, "startup": at[0] if at else parent,
          "workers": kids.ru_utime + kids.ru_stime}}), file=sys.stderr)
atexit.register(report)
from gateway.cli import main
main()
"""
"""``overstap`` with the split of its CPU time reported at exit: the parent (less its start-up) and the workers
(forked after the start-up, so theirs is the conversion's): the two sides that run side by side with 1 worker."""


def cpu_split(stderr: bytes) -> dict[str, float]:
    """The parent's and workers' CPU seconds from the wrapped run's last stderr line (empty when missing)."""
    for line in reversed(stderr.decode(errors="replace").splitlines()):
        if line.startswith(CPU_SPLIT):
            return dict(json.loads(line[len(CPU_SPLIT):]))
    return {}


def watched(args: list[str]) -> tuple[int, bytes, bytes, dict[str, float]]:
    """Run ``overstap ARGS`` polling its process tree's memory: (exit code, stdout, stderr, measures)."""
    cmd = [sys.executable, "-c", SPLIT_CPU, *args]
    start, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak_tree = peak_pss = peak_one = 0
    while proc.poll() is None:
        tree, pss, one = tree_memory(proc.pid)
        peak_tree, peak_pss, peak_one = max(peak_tree, tree), max(peak_pss, pss), max(peak_one, one)
        time.sleep(0.1)
    wall = time.perf_counter() - start
    stdout, stderr = proc.communicate()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc.returncode, stdout, stderr, {"wall": wall, "cpu": cpu, "peak_tree": peak_tree, "peak_pss": peak_pss,
                                             "peak_one": peak_one, **cpu_split(stderr)}


def run_batch(archive: Path, out: Path, workers: int, validate: bool, level: int) -> dict[str, object]:
    args = ["batch", str(archive), "--out", str(out), "--workers", str(workers), "--level", str(level), "--quiet",
            "--json", "--state", str(out) + ".state"]  # a fresh zaak ledger per run: each converts the history anew
    code, stdout, stderr, measures = watched(args + ([] if validate else ["--no-validate"]))
    if code not in (0, 1):
        raise SystemExit(f"overstap batch failed ({code}):\n{stderr.decode()}")
    return {"summary": json.loads(stdout), **measures}


def cpu_line(result: dict[str, object], count: int, rate: float) -> str:
    """The parent's CPU a message (start-up left out) and the workers' (all of them together), and how much of a
    core the parent was busy at the run's rate.

    Why the last: the parent renders every message in order, so once it is busy ~0.9 of a core the run is bound
    by it, however many workers (session 35: 0.89-0.93 with one worker and with two)."""
    parent, startup, workers = (result.get(k) for k in ("parent", "startup", "workers"))
    if not isinstance(parent, float) or not isinstance(startup, float) or not isinstance(workers, float):
        return "(not reported)"
    each = (parent - startup) / count
    return (f"{each * 1e6:.0f}, {workers / count * 1e6:.0f} (start-up {startup:.2f} s; "
            f"parent busy {each * rate:.2f} of a core)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=100_000, help="messages in the archive")
    parser.add_argument("--million", action="store_true", help="1,000,000 messages (the memory bar)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts ('all' = cores)")
    parser.add_argument("--no-validate", action="store_true", help="skip output schema validation")
    parser.add_argument("--out-kind", choices=("zip", "tar.gz", "folder"), default="zip")
    parser.add_argument("--level", type=int, default=1, help="compression level of the output archive (0-9)")
    parser.add_argument("--floor-seconds", type=float, default=3.0)
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one, removed afterwards)")
    args = parser.parse_args()
    count = 1_000_000 if args.million else args.count
    if not templates():
        print(f"no sample messages found (reference dir {reference_dir()})", file=sys.stderr)
        return 2
    work = args.dir or Path(tempfile.mkdtemp(prefix="batch-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cores = len(os.sched_getaffinity(0))
    try:
        archive = work / f"messages-{count}.zip"
        if not archive.exists():
            start = time.perf_counter()
            generate(archive, count)
            print(f"generated {count:,} messages in {time.perf_counter() - start:.1f} s: {archive} "
                  f"({archive.stat().st_size / 1e6:.0f} MB)")
        sample = [data for _, data in messages(min(count, 2000))]
        floor = floor_rate(sample, args.floor_seconds)
        print(f"floor (lxml parse+serialise, 1 core): {floor:,.0f} msg/s")
        least = design_floor(sample[:200], args.floor_seconds)
        print(f"design floor: safe parse + model validation + output re-parse + XSD cost {least:.0f} µs/msg in the "
              f"pipeline,\nso a worker can reach at most {1e6 / least / floor:.1%} of the floor "
              "with validate: full;\nthe zkn value guard skips the output re-parse + XSD "
              "(see benchmarks/convert_bench.py)")
        validate = not args.no_validate
        measured: list[tuple[int, float, float]] = []  # (workers, per-worker msg/s, peak RSS of the tree in MB)
        print(f"{'workers':>7} {'msg/s':>9} {'wall msg/s':>10} {'per worker':>10} {'of floor':>8} "
              f"{'RSS tree':>9} {'PSS tree':>9} {'largest':>8}  failed  CPU µs/msg: parent, workers")
        for item in args.workers.split(","):
            workers = cores if item == "all" else int(item)
            suffix = {"zip": ".zip", "tar.gz": ".tar.gz", "folder": ""}[args.out_kind]
            out = work / f"out-{workers}{suffix}"
            shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(missing_ok=True)
            shutil.rmtree(Path(str(out) + ".state"), ignore_errors=True)  # a --dir run again starts a fresh ledger
            result = run_batch(archive, out, workers, validate, args.level)
            summary = result["summary"]
            assert isinstance(summary, dict)
            rate = summary["run"]["messages_per_second"]
            per_worker = rate / max(workers, 1)
            print(f"{workers:7d} {rate:9,.0f} {count / result['wall']:10,.0f} {per_worker:10,.0f} "
                  f"{per_worker / floor:8.1%} {result['peak_tree'] / 2**20:6.0f} MB "
                  f"{result['peak_pss'] / 2**20:6.0f} MB {result['peak_one'] / 2**20:5.0f} MB  "
                  f"{summary['status']['failed']:6d}  {cpu_line(result, count, rate)}")
            if summary["status"]["failed"]:
                print(f"        failures by code: {summary.get('failure_codes')} (every generated message should "
                      f"convert: see {out}'s quarantine/)")
            measured.append((workers, per_worker, result["peak_tree"] / 2**20))  # type: ignore[operator]
        print(f"validation {'on' if validate else 'off'}; output {args.out_kind} (level {args.level}); "
              f"{cores} core(s); "
              "peaks: sum of RSS over parent and workers\n"
              "(shared pages counted in each), sum of PSS (shared pages split), and the largest single process.")
        print(header(floor))
        if not validate or args.out_kind != "zip":
            print("  (the targets are set for validation on and zip output: this run measures something else)")
        for workers, per_worker, _rss in measured:
            print(share_line(f"batch per worker, {workers} worker(s)", per_worker, floor, BATCH_WORKER_SHARE,
                             BATCH_STRETCH))
        peak = max((rss for *_, rss in measured), default=0.0)
        scale = "" if count >= 1_000_000 else f" (at {count:,} messages; the bar is for 1,000,000: --million)"
        print(target_line("batch peak RSS of the process tree", f"{peak:,.0f} MB", f"< {BATCH_RSS_MB:.0f} MB",
                          peak < BATCH_RSS_MB) + scale)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
