"""benchmarks/stage_instructions.py counts each marked stage's instructions through a C trampoline under callgrind,
less what the marking costs, as the difference of two runs.

Why: the stage map is what a lever is chosen by (sessions 30-34); a harness that kept the marking's own cost in
a stage that holds many marked calls, lost a return value or an exception on the way through the trampoline, or
divided the wrong difference would send the next lever to the wrong stage.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import stage_instructions  # a script folder, not a package

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("valgrind", "callgrind_annotate", "gcc")),
    reason="valgrind or gcc is not installed (.ci/run installs valgrind): the stages are counted by callgrind")

_WORK = """
def inner(n):
    total = 0
    for _ in range(n):
        total += 1  # the same cost every time: small ints only
    return total


def outer(n, k):
    return sum(inner(n) for _ in range(k))  # inner looked up here at each call: the marked one


def refused():
    raise KeyError("through the trampoline")
"""

_PROGRAM = """
import sys
import stagework
for _ in range(int(sys.argv[1])):
    assert stagework.outer(300, 5) == 1500  # a value comes back through both trampolines
    try:
        stagework.refused()
    except KeyError as exc:
        assert exc.args == ("through the trampoline",)
    else:
        raise AssertionError("the exception was lost in the trampoline")
"""


def test_stages_are_counted_apart_without_the_cost_of_marking_them(tmp_path: Path) -> None:
    (tmp_path / "stagework.py").write_text(_WORK)
    program = tmp_path / "program.py"
    program.write_text(_PROGRAM)
    stages = [["stagework", "outer"], ["stagework", "inner"], ["stagework", "refused"]]
    build = stage_instructions.extension(tmp_path, len(stages))
    runs = [stage_instructions.counted(sys.executable, {"tree": str(tmp_path), "build": str(build), "stages": stages,
                                                        "program": str(program), "args": [str(rounds)]},
                                       tmp_path, str(rounds)) for rounds in (10, 30)]
    found, overhead, wrapped = stage_instructions.nets(runs[0], runs[1], len(stages), 20)
    outer, inner, refused = found
    assert (outer["calls"], inner["calls"], refused["calls"]) == (1, 5, 1)  # per round of the difference
    assert 0 < overhead < wrapped  # inside another stage the Python wrapper comes on top of the trampoline
    per_iteration = inner["instructions"] / 5 / 300  # a unit (a round) holds five calls of inner
    assert 20 < per_iteration < 1_000  # the interpreter's loop: hundreds of instructions an iteration, no more
    # outer holds its five inner calls and a little of its own (the generator, sum; ~8 k): the marking of those
    # five calls (5 x `wrapped`, ~35 k) is taken off, not counted as outer's
    assert 0 < outer["instructions"] - inner["instructions"] < 2.5 * wrapped
    assert 0 < refused["instructions"] < inner["instructions"] / 5
