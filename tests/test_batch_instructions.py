"""benchmarks/batch_instructions.py counts a program's instructions under cachegrind, every forked process apart, and
takes a figure a message as the difference of two runs: what start-up costs cancels, what a message costs stays.

Why: the counts are how two trees are compared on a busy host (session 33); a harness that lost a forked worker's
file, mixed up parent and worker, or divided the wrong difference would compare trees on a wrong figure.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import batch_instructions  # a script folder, not a package

needs_valgrind = pytest.mark.skipif(
    shutil.which("valgrind") is None,
    reason="valgrind is not installed (.ci/run installs it): the counts are cachegrind's")

_WORK = """
import os, sys
def work(n):
    total = 0
    for _ in range(n):
        total += 1  # the same cost every time: small ints only
    return total
rounds = int(sys.argv[1])
child = os.fork()
if child == 0:
    work(3 * rounds)
    os._exit(0)
work(rounds)
os.waitpid(child, 0)
"""


@needs_valgrind
def test_a_forked_child_is_counted_apart_and_the_difference_of_two_runs_is_what_the_work_costs(tmp_path: Path) -> None:
    program = batch_instructions.script(tmp_path, "work.py", _WORK)
    batch_instructions.warmed([sys.executable, program, "1"], tmp_path)  # the bytecode of start-up written once
    small, large = (batch_instructions._ordered(batch_instructions.counted([sys.executable, program, str(n)],
                                                                           tmp_path, f"r{n}", caches=False))
                    for n in (20_000, 120_000))
    assert len(small) == len(large) == 2  # parent and child, each its own file
    parent = batch_instructions._per(large[0], small[0], 100_000)["Ir"]
    child = batch_instructions._per(large[1], small[1], 100_000)["Ir"]
    assert 100 < parent < 1_000  # a loop iteration of the interpreter (~410), start-up cancelled out
    assert child == pytest.approx(3 * parent, rel=0.02)  # the child loops three times as often
    total = batch_instructions._per(batch_instructions._sum(large), batch_instructions._sum(small), 100_000)["Ir"]
    assert total == pytest.approx(parent + child)


@needs_valgrind
def test_an_output_without_its_summary_line_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "cg.1"
    broken.write_text("events: Ir\nfl=x.c\nfn=f\n1 5\n")
    with pytest.raises(SystemExit, match="no summary line"):
        batch_instructions._totals(broken)


def test_a_comparison_names_each_files_python_and_moves_misses_only_where_counted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The interpreter's build moves the counts ~9% (session 34): a comparison says which Python made each file."""
    def counts(ir: int, i1: int) -> dict[str, object]:
        row = {"Ir": ir, "I1mr": i1, "D1mr": 5}
        return {"tree": "t", "messages": 1000, "floor": {"Ir": 500_000}, "workers=0": {"all": row, "parent": row}}
    older = {**counts(2_000_000, 30_000), "python": "Python 3.11.7 (/pyenv/python3.11)"}
    newer = counts(1_800_000, 24_000)  # a file of before session 34: no interpreter recorded
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for path, result in zip(paths, (older, newer), strict=True):
        path.write_text(json.dumps(result))
    batch_instructions.compare(paths)
    out = capsys.readouterr().out
    assert "a.json: Python 3.11.7 (/pyenv/python3.11)" in out and "b.json: Python unrecorded" in out
    all_row = next(line for line in out.splitlines() if "workers=0" in line and " all " in line)
    assert all_row.split()[-3:] == ["2,000.0", "1,800.0", "-10.00%"]
    misses = [line.split() for line in out.splitlines() if line.strip().startswith(("I1mr", "D1mr"))]
    assert misses[0][-3:] == ["30,000", "24,000", "-20.00%"]  # instruction-cache misses: counted in both
    assert misses[1][-2:] == ["5", "5"]  # a handful: no percentage of it
