"""The CI run's own economies (docs/testing.md, "CI run time (session 29)") must not quietly cost what they save.

The nightly's ``OVERSTAP_DEPTH=long`` (tests/depth.py) must bring back the full depth of the `longer_*` properties
and the long soaks, or the depth moved out of `make test` would be run nowhere; and a run in an environment that
forbids writing bytecode shares one bytecode folder among the processes it starts, outside the checkout, and
removes it (tests/conftest.py), so no run leaves it behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
DEPTHS = """
import importlib, json, os, depth
names = ("test_chain_property", "test_fault_soak", "test_ggk_exchange_concurrent", "test_ggk_exchange_property")
modules = [importlib.import_module(name) for name in names]
def examples(test): return test._hypothesis_internal_use_settings.max_examples
found = {}
for level in ("", "long"):
    os.environ["OVERSTAP_DEPTH"] = level
    importlib.reload(depth)
    c, s, f, g = [importlib.reload(module) for module in modules]
    (seeds,) = [m.args[1] for m in s.test_fault_soak_long_on_sqlite.pytestmark if m.name == "parametrize"]
    found[level or "quick"] = {"seeds": list(seeds), "ggk": examples(g.test_longer_ggk_exchanges_keep_the_chain_rules),
                               "flows": examples(f.test_longer_ggk_flows_keep_the_chain_rules),
                               "chains": examples(c.test_longer_chains_end_in_the_state_their_events_describe)}
print(json.dumps(found))
"""


def test_make_test_runs_the_quick_depth_and_the_nightly_the_full_one() -> None:
    """Read in a fresh process, each depth in turn (the modules imported again under each)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    run = subprocess.run([sys.executable, "-c", DEPTHS], cwd=TESTS, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {
        "quick": {"seeds": [1], "ggk": 6, "flows": 10, "chains": 250},
        "long": {"seeds": [1, 2, 3], "ggk": 40, "flows": 40, "chains": 1000}}


PROBE = """import subprocess, sys
from pathlib import Path


def test_a_started_process_reads_and_writes_the_runs_bytecode_folder():
    said = subprocess.run([sys.executable, "-c", "import sys; print(sys.pycache_prefix, sys.dont_write_bytecode)"],
                          capture_output=True, text=True, check=True).stdout
    Path(__file__).with_name("child.txt").write_text(said)
"""


def test_a_run_where_bytecode_is_forbidden_shares_one_folder_and_removes_it(tmp_path: Path) -> None:
    """In one process (an xdist worker inherits the folder with the controller's environment like any child; a
    run with two workers took 21-39 s here, this one 6)."""
    (tmp_path / "test_probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=os.pathsep.join([str(TESTS.parent), str(TESTS)]))
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:xdist", "--rootdir",
                          str(tmp_path), "-p", "no:cacheprovider", str(tmp_path / "test_probe.py")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert "1 passed" in run.stdout, run.stdout + run.stderr
    said = (tmp_path / "child.txt").read_text()
    prefix, forbidden = said.split()
    assert Path(prefix).name.startswith("overstap-pycache-") and forbidden == "False", said
    assert not Path(prefix).is_relative_to(TESTS.parent)  # outside the checkout
    assert not Path(prefix).exists(), "the run's bytecode folder was left behind"
