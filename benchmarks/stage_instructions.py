"""Instructions of each batch stage (batch_stages.py's map, counted instead of timed): where a message's work is.

    .venv/bin/python benchmarks/stage_instructions.py --dir /tmp/si                 # main, batch_bench's archive
    .venv/bin/python benchmarks/stage_instructions.py --tree /work/wt-x --dir /tmp/si --out x.json
    .venv/bin/python benchmarks/stage_instructions.py --compare a.json b.json

Why: batch_instructions.py counts a whole batch message and cachegrind names C functions only, so the Python
stages (parse, walk, model validation, prepare, plan, write, pack, ...) were known only from timings, which move
10-40% with the host's hour. Here every stage of :data:`STAGES` is called through a C function of its own (a
one-line trampoline in a scratch extension module gcc builds for the running Python) and ``overstap batch
--workers 0`` runs under valgrind's callgrind: a trampoline's inclusive count is its stage's instructions, nested
stages inside. What the marking costs (the trampoline; inside another stage also the Python wrapper) is measured
in the same run by a stage that does nothing, called from another, and taken off each stage per marked call. As
in batch_instructions, a figure is the difference of two runs (``--base`` and ``-n`` messages),
``PYTHONHASHSEED=0``, each program run once natively first; needs gcc, the Python headers and valgrind.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_instructions import counting_arguments, interpreter  # sibling scripts, not a package
from batch_stages import STAGES as TIMED_STAGES

HERE = Path(__file__).resolve().parent

STAGES: list[tuple[int, str, str, str]] = [
    *TIMED_STAGES[:6],
    (3, "walk: native trie, generated steps (walker_of's walker)", "gateway.mapping.engine", "walker_of()"),
    (3, "model validation (Bericht.model_validate)", "gateway.model", "Bericht.model_validate"),
    (3, "unmapped check (left_over)", "gateway.mapping.engine", "left_over"),
    *TIMED_STAGES[6:],
]
"""batch_stages.py's stages and, inside ``map_source``, its three parts. ``name()``: a factory whose result is
the stage (the generated walker)."""
CALIBRATION = 20_000
"""Calls of the empty stage that measure a trampoline's own cost."""

_EXTENSION_HEAD = "#define PY_SSIZE_T_CLEAN\n#include <Python.h>\n"
_TRAMPOLINE = ("__attribute__((noinline)) PyObject *ovs_stage_{i}(PyObject *self, PyObject *f) "
               "{{ PyObject *r = PyObject_CallNoArgs(f); __asm__ volatile(\"\"); return r; }}\n")
"""One C function a stage: calls its argument and returns what it returns (exceptions pass through)."""

_CHILD = r"""
import collections, functools, importlib, json, runpy, shutil, sys
from pathlib import Path
config = json.loads(sys.argv[1])
stages, rounds = config["stages"], config["calibration"]
sys.path[:0] = [config["tree"], config["build"]]
import ovs_stages
calls, nested, stack = collections.Counter(), collections.Counter(), []

def marked(index, original):
    enter = getattr(ovs_stages, f"s{index}")
    def staged(*args, **kwargs):
        calls[index] += 1
        for outer in stack:
            nested[outer] += 1
        stack.append(index)
        try:
            return enter(functools.partial(original, *args, **kwargs))
        finally:
            stack.pop()
    return staged

for index, (module, path) in enumerate(stages):
    owner = importlib.import_module(module)
    *parents, name = path.split(".")
    for part in parents:
        owner = getattr(owner, part)
    if name.endswith("()"):  # a factory: mark what it makes
        factory = getattr(owner, name[:-2])
        def making(*args, _factory=factory, _index=index, **kwargs):
            return marked(_index, _factory(*args, **kwargs))
        setattr(owner, name[:-2], making)
    else:
        setattr(owner, name, marked(index, getattr(owner, name)))
empty = marked(len(stages), lambda: None)
marked(len(stages) + 1, lambda: [empty() for _ in range(rounds)])()
failed = 0
if "program" in config:  # a program of its own (the harness's test)
    sys.argv = [config["program"], *config["args"]]
    runpy.run_path(config["program"], run_name="__main__")
else:
    from gateway.batch import BatchOptions, run
    out = Path(config["out"])
    out.unlink(missing_ok=True)
    shutil.rmtree(f"{out}.state", ignore_errors=True)
    outcome = run(BatchOptions([Path(config["archive"])], out, workers=0, progress="quiet", state=f"{out}.state",
                               commit_seconds=1e9, worker_growth_mb=0))
    failed = (outcome.summary or {}).get("status", {}).get("failed")
print(json.dumps({"calls": calls, "nested": nested, "failed": failed}))
"""


def extension(work: Path, stages: int) -> Path:
    """The trampolines as an extension module of the running Python (callgrind names its functions; a ctypes
    library's it did not)."""
    import sysconfig

    build = work / "stages-ext"
    build.mkdir(exist_ok=True)
    source = build / "ovs_stages.c"
    names = range(stages + 2)  # the stages, the empty one, and the one that calls the empty one
    source.write_text(_EXTENSION_HEAD + "".join(_TRAMPOLINE.format(i=i) for i in names)
                      + "static PyMethodDef methods[] = {\n"
                      + "".join(f'  {{"s{i}", (PyCFunction)ovs_stage_{i}, METH_O, NULL}},\n' for i in names)
                      + "  {NULL, NULL, 0, NULL}};\n"
                      + 'static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "ovs_stages", NULL, -1, methods};\n'
                      + "PyMODINIT_FUNC PyInit_ovs_stages(void) { return PyModule_Create(&module); }\n")
    target = build / f"ovs_stages{sysconfig.get_config_var('EXT_SUFFIX')}"
    subprocess.run(["gcc", "-O1", "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}", "-o", str(target),
                    str(source)], check=True)
    return build


def _inclusive(path: Path) -> dict[int, int]:
    """Each trampoline's inclusive instructions, from callgrind_annotate."""
    done = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(path)],
                          capture_output=True, text=True, check=True)
    found: dict[int, int] = {}
    for line in done.stdout.splitlines():
        if "ovs_stage_" in line:
            count, _, rest = line.strip().partition(" ")
            index = int(rest.rsplit("ovs_stage_", 1)[1].split()[0].split("'")[0])
            found[index] = max(found.get(index, 0), int(count.replace(",", "")))
    return found


def counted(python: str, config: dict[str, Any], work: Path, tag: str) -> dict[str, Any]:
    """One run of the child under callgrind (after one natively, which writes the bytecode): each marked stage's
    inclusive instructions, and how often each was called and held another marked call."""
    child = work / "child.py"
    child.write_text(_CHILD)
    argv = [python, str(child), json.dumps({**config, "calibration": CALIBRATION})]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run(argv, check=True, env=env, capture_output=True)
    profile = work / f"callgrind-{tag}.out"
    done = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}", *argv], check=True,
                          env=env, capture_output=True, text=True)
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    if counts["failed"]:
        raise SystemExit(f"{counts['failed']} messages failed in the {tag} run")
    return {"inclusive": _inclusive(profile), "calls": counts["calls"], "nested": counts["nested"]}


def nets(small: dict[str, Any], large: dict[str, Any], stages: int, units: int) -> tuple[list[dict[str, float]],
                                                                                          float, float]:
    """Per unit (a message) of the difference of two runs: each stage's instructions without its marking, and its
    calls; with what a marked call cost (its trampoline; inside another stage, wrapper and trampoline)."""
    inclusive = large["inclusive"]
    overhead = inclusive.get(stages, 0) / CALIBRATION
    wrapped = inclusive.get(stages + 1, 0) / CALIBRATION
    found = []
    for index in range(stages):
        key = str(index)
        net = [run["inclusive"].get(index, 0) - overhead * run["calls"].get(key, 0)
               - wrapped * run["nested"].get(key, 0) for run in (small, large)]
        found.append({"instructions": (net[1] - net[0]) / units,
                      "calls": (large["calls"].get(key, 0) - small["calls"].get(key, 0)) / units})
    return found, overhead, wrapped


def measure(tree: Path, work: Path, base: int, count: int) -> dict[str, Any]:
    sys.path[:0] = [str(tree / "benchmarks")]
    from batch_bench import generate  # the tree's, so two trees of a comparison read archives made alike

    build = extension(work, len(STAGES))
    stages = [[module, path] for _, _, module, path in STAGES]
    runs = []
    for n in (base, count):
        archive = work / f"messages-{n}.zip"
        if not archive.exists():
            generate(archive, n)
        config = {"tree": str(tree), "build": str(build), "stages": stages, "archive": str(archive),
                  "out": str(work / f"out-{n}.zip")}
        runs.append(counted(sys.executable, config, work, str(n)))
    found, overhead, wrapped = nets(runs[0], runs[1], len(STAGES), count - base)
    for (depth, label, _module, _path), stage in zip(STAGES, found, strict=True):
        stage.update(depth=depth, label=label)
    return {"tree": str(tree), "messages": count - base, "overhead": overhead, "wrapped": wrapped,
            "python": interpreter(), "stages": found}


def report(result: dict[str, Any]) -> None:
    print(f"{result['tree']}: {result['messages']:,} messages (the difference of two runs), one process; "
          f"{result['python']}; taken off each marked call: {result['overhead']:,.0f} instructions (its trampoline), "
          f"{result.get('wrapped', 0):,.0f} inside another stage (wrapper and trampoline)")
    for stage in result["stages"]:
        indent = "  " * stage["depth"]
        print(f"  {indent}{stage['label']:{64 - 2 * stage['depth']}} {stage['instructions'] / 1e3:9,.1f} k"
              f"   {stage['calls']:5.2f} calls a message")


def compare(paths: list[Path]) -> None:
    results = [json.loads(path.read_text()) for path in paths]
    for path, result in zip(paths, results, strict=True):
        print(f"{path.name}: {result['python']}")
    width = max(16, *(len(path.name) + 2 for path in paths))
    print(f"{'k instructions a message':66}" + "".join(f"{path.name:>{width}}" for path in paths) + "   change")
    for index, stage in enumerate(results[0]["stages"]):
        values = [r["stages"][index]["instructions"] for r in results]
        moved = f"   {values[-1] / values[0] - 1:+.1%}" if values[0] > 1_000 else ""
        label = "  " * stage["depth"] + stage["label"]
        print(f"  {label:64}" + "".join(f"{v / 1e3:{width},.1f}" for v in values) + moved)


def main() -> int:
    args = counting_arguments(__doc__.splitlines()[0]).parse_args()
    if args.compare:
        compare(args.compare)
        return 0
    for tool in ("valgrind", "callgrind_annotate", "gcc"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed: the stages are counted by callgrind through trampolines "
                             "gcc compiles")
    work = args.dir or Path(tempfile.mkdtemp(prefix="overstap-stage-instructions-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = measure(args.tree.resolve(), work, args.base, args.count)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    report(result)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
