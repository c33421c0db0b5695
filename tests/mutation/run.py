"""Named-mutation testing: flip one behaviour the product promises, run the tests that guard it, expect red.

Each mutant in ``mutants.yaml`` names a file, an exact snippet, its replacement, the tests that must catch
it, and why it matters. Every mutant runs in a scratch copy of the checkout (the working tree is never
touched) with ``PYTHONPATH`` pointing at the copy, so subprocesses (``overstap`` CLI, sidecar servers) run
the mutated code too. A mutant is *killed* when its tests fail, *survived* when they pass, and an *error*
when its snippet is no longer in the file (the list must follow the code). Exit 0 only when every mutant
was killed: a survivor is a missing test.

    python tests/mutation/run.py                  # all mutants
    python tests/mutation/run.py --subset quick   # the ones tagged quick (CI schedule)
    python tests/mutation/run.py --only rescan    # one by id
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COPIED = ("gateway", "tests", "dialects", "mappings", "docs", "benchmarks", "native", "pyproject.toml", "README.md",
          "Dockerfile", "Makefile")


@dataclass
class Mutant:
    id: str
    file: str
    find: str
    replace: str
    tests: list[str]
    why: str
    tags: list[str] = field(default_factory=list)


def load(path: Path) -> list[Mutant]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    return [Mutant(id=m["id"], file=m["file"], find=m["find"], replace=m["replace"], tests=list(m["tests"]),
                   why=m["why"], tags=list(m.get("tags", []))) for m in raw]


def scratch_copy() -> Path:
    target = Path(tempfile.mkdtemp(prefix="overstap-mutate-"))
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.is_file():
            shutil.copy2(src, target / name)
    return target


def _pytest(tests: list[str], copy: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    env.setdefault("OVERSTAP_REFERENCE_DIR", str((ROOT / ".." / "shared" / "reference").resolve()))
    return subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
                          cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)


_baselines: dict[tuple[str, ...], str | None] = {}


def baseline_problem(tests: list[str], copy: Path, timeout: float) -> str | None:
    """Why the unmutated tests are not green (checked once per test selection), or None: a red run proves nothing.
    A timeout is named as such, so a loaded machine is not mistaken for a red test."""
    key = tuple(tests)
    if key not in _baselines:
        try:
            done = _pytest(tests, copy, timeout)
            last = (done.stdout.strip().splitlines() or [""])[-1]
            _baselines[key] = None if done.returncode == 0 else f"the unmutated tests are not green: {last}"
        except subprocess.TimeoutExpired:
            _baselines[key] = f"the unmutated tests did not finish within {timeout:.0f} s (busy machine? --timeout)"
    return _baselines[key]


def run_one(mutant: Mutant, copy: Path, timeout: float) -> tuple[str, float, str]:
    """('killed' | 'survived' | 'error', seconds, detail)."""
    path = copy / mutant.file
    original = path.read_text(encoding="utf-8")
    count = original.count(mutant.find)
    if count != 1:
        return "error", 0.0, f"snippet found {count} times in {mutant.file} (must be exactly once)"
    problem = baseline_problem(mutant.tests, copy, timeout)
    if problem is not None:
        return "error", 0.0, f"{problem} ({' '.join(mutant.tests)})"
    path.write_text(original.replace(mutant.find, mutant.replace), encoding="utf-8")
    started = time.monotonic()
    try:
        if mutant.file.endswith(".pyx") and (built := _build_native(copy)) is not None:
            return "error", 0.0, f"the mutated native walk does not build: {built}"
        done = _pytest(mutant.tests, copy, timeout)
        seconds = time.monotonic() - started
        last = (done.stdout.strip().splitlines() or [""])[-1]
        if done.returncode == 0:
            return "survived", seconds, last
        if done.returncode in (1, 2, 3):  # failures, interruption or internal error of the test run: caught
            return "killed", seconds, last
        if done.returncode < 0:  # the unmutated tests pass: a test process the mutant crashed caught it, loudly
            return "killed", seconds, f"the test process died of signal {-done.returncode} (a crash counts)"
        return "error", seconds, f"pytest exit {done.returncode}: {last}"
    except subprocess.TimeoutExpired:
        return "killed", time.monotonic() - started, f"tests did not finish within {timeout:.0f} s (a hang counts)"
    finally:
        path.write_text(original, encoding="utf-8")
        if mutant.file.endswith(".pyx"):
            _build_native(copy)


def _build_native(copy: Path) -> str | None:
    """Rebuild the copy's native walk (``native/build.py``) after its source changed; why it failed, or None."""
    done = subprocess.run([sys.executable, "native/build.py", "--require"], cwd=copy, capture_output=True, text=True)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or [""])[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=Path(__file__).with_name("mutants.yaml"))
    parser.add_argument("--subset", help="only mutants with this tag")
    parser.add_argument("--only", action="append", help="only this mutant id (repeatable)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant")
    args = parser.parse_args()
    mutants = load(args.mutants)
    if args.subset:
        mutants = [m for m in mutants if args.subset in m.tags]
    if args.only:
        mutants = [m for m in mutants if m.id in args.only]
    if not mutants:
        print("no mutants selected", file=sys.stderr)
        return 2
    copy = scratch_copy()
    counts = {"killed": 0, "survived": 0, "error": 0}
    try:
        for mutant in mutants:
            outcome, seconds, detail = run_one(mutant, copy, args.timeout)
            counts[outcome] += 1
            print(f"{outcome.upper():9} {mutant.id:32} {seconds:6.1f}s  {detail}", flush=True)
            if outcome != "killed":
                print(f"          why it matters: {mutant.why}", flush=True)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    total = sum(counts.values())
    print(f"mutation score: {counts['killed']}/{total} killed, {counts['survived']} survived, {counts['error']} error")
    return 0 if counts["killed"] == total else 1


if __name__ == "__main__":
    sys.exit(main())
