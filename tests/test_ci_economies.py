"""The CI run's own economies (docs/testing.md, "CI run time (session 29)") must not quietly cost what they save.

The nightly's ``OVERSTAP_DEPTH=long`` (tests/depth.py) must bring back the full depth of the `longer_*` properties
and the long soaks, or the depth moved out of `make test` would be run nowhere; and a run in an environment that
forbids writing bytecode shares one bytecode folder among the processes it starts, outside the checkout, and
removes it (tests/conftest.py), so no run leaves it behind. The ``overstap`` command imports only the command a
run names (gateway/cli/__init__.py, session 30): every command must still be there when named, and a sidecar's
start must not import the others again. Tests share one compiled registry per set of mapping folders
(tests/shared_registry.py, session 31), never one that lacks the examples or files a test asked for.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

TESTS = Path(__file__).resolve().parent
DEPTHS = """
import importlib, json, os, depth
names = ("test_chain_property", "test_fault_soak", "test_ggk_exchange_concurrent", "test_ggk_exchange_property",
         "test_replicas", "test_proxy_process")
modules = [importlib.import_module(name) for name in names]
def examples(test): return test._hypothesis_internal_use_settings.max_examples
found = {}
for level in ("", "long"):
    os.environ["OVERSTAP_DEPTH"] = level
    importlib.reload(depth)
    c, s, f, g, r, p = [importlib.reload(module) for module in modules]
    (seeds,) = [m.args[1] for m in s.test_fault_soak_long_on_sqlite.pytestmark if m.name == "parametrize"]
    found[level or "quick"] = {"seeds": list(seeds), "ggk": examples(g.test_longer_ggk_exchanges_keep_the_chain_rules),
                               "flows": examples(f.test_longer_ggk_flows_keep_the_chain_rules),
                               "chains": examples(c.test_longer_chains_end_in_the_state_their_events_describe),
                               "replicas": [r.ZAKEN, r.PER_ZAAK], "soak": list(s.LONG_SQLITE),
                               "crash": [p.TOTAL, p.KILL_AFTER]}
print(json.dumps(found))
"""


def test_make_test_runs_the_quick_depth_and_the_nightly_the_full_one() -> None:
    """Read in a fresh process, each depth in turn (the modules imported again under each)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    run = subprocess.run([sys.executable, "-c", DEPTHS], cwd=TESTS, env=env, capture_output=True, text=True,
                         timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == {
        "quick": {"seeds": [1], "ggk": 6, "flows": 10, "chains": 250, "replicas": [60, 20],
                  "soak": [32, 12, 28.0, 9], "crash": [600, 200]},
        "long": {"seeds": [1, 2, 3], "ggk": 40, "flows": 40, "chains": 1000, "replicas": [200, 25],
                 "soak": [60, 15, 45.0, 14], "crash": [1200, 400]}}


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


def _made_by(command: click.Command) -> set[str]:
    """The modules whose code makes ``command`` and, for a group, each command under it."""
    own = {command.callback.__module__.rsplit(".", 1)[-1]} if command.callback else set()
    return own.union(*(_made_by(sub) for sub in getattr(command, "commands", {}).values()))


def test_each_command_is_imported_with_every_module_that_makes_it() -> None:
    """Every module of gateway/cli imported, as the old eager import did: each top-level command is in
    ``COMMANDS`` with all the modules that add to it (a subcommand from a module not named would vanish from
    ``overstap <command>`` when it alone is imported)."""
    import gateway.cli as cli

    for found in pkgutil.iter_modules(cli.__path__):
        importlib.import_module(f"gateway.cli.{found.name}")
    made = {name: _made_by(command) for name, command in cli.main.commands.items()}
    assert made == {name: set(modules) for name, modules in cli.COMMANDS.items()}
    assert made["outbox"] == {"outbox", "outbox_import", "outbox_reconvert"}  # the one spread over three files


NAMED = """
import sys
from gateway.cli import COMMANDS, main
try:
    main([sys.argv[1], "--help"])
except SystemExit:
    pass
print(" ".join(sorted({m for modules in COMMANDS.values() for m in modules} & {n.rsplit(".", 1)[-1]
                     for n in sys.modules if n.startswith("gateway.cli.")})), "gateway.batch" in sys.modules)
"""


def test_a_command_imports_its_own_modules_and_no_others() -> None:
    """``overstap serve`` (every sidecar a test starts) and ``overstap outbox`` (the tests' CLI reads) import
    their own command modules only: all of them cost ~0.4 s of CPU more per process (1.3 -> 0.85 s here)."""
    env = {**os.environ, "PYTHONPATH": str(TESTS.parent)}
    for name, expected in (("serve", "serve"), ("outbox", "outbox outbox_import outbox_reconvert"),
                           ("store", "outbox store")):  # store reads its options from the outbox module
        run = subprocess.run([sys.executable, "-c", NAMED, name], cwd=TESTS.parent, env=env, capture_output=True,
                             text=True, timeout=120, check=False)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip().splitlines()[-1] == f"{expected} False", run.stdout


LISTED = """
import sys
from gateway.cli import main
try:
    main(["outbox", "list", "--json", "--data-dir", sys.argv[1]])
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print(sorted(n for n in ("gateway.pipeline", "gateway.render", "gateway.mapping", "gateway.model", "alembic")
             if n in sys.modules))
"""


def test_outbox_list_imports_no_renderer_pipeline_or_mappings(tmp_path: Path) -> None:
    """``overstap outbox list`` (the tests read outboxes with it hundreds of times a run, and an operator's scripts
    as often) imports what renders, converts or reads mappings only in the commands that need them: importing the
    pipeline and the renderers took ~0.4 s of CPU of its ~0.5 (docs/testing.md, "CI run time (session 32)")."""
    from gateway.deliver import outbox

    outbox.open_db(tmp_path / "data")
    env = {**os.environ, "PYTHONPATH": str(TESTS.parent)}
    run = subprocess.run([sys.executable, "-c", LISTED, str(tmp_path / "data")], cwd=TESTS.parent, env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines() == ["[]", "[]"], run.stdout


def test_a_run_asked_for_its_file_times_writes_each_files_span(tmp_path: Path) -> None:
    """``OVERSTAP_FILE_TIMES=<file>``: one line per test file, ``worker file start end``, the files in the order
    they ran, each span covering all its tests (a sleep of 0.3 s in the second file's last): what the tail of a
    ``-n 2`` run is read from (docs/testing.md). What a test starts does not inherit the variable: a test's own
    pytest run (test_left_behind.py) wrote its probe files into the run's file."""
    (tmp_path / "test_a.py").write_text("def test_one():\n    pass\n\n\ndef test_two():\n    pass\n")
    (tmp_path / "test_b.py").write_text("import os\nimport time\n\n\ndef test_quick():\n"
                                        "    assert 'OVERSTAP_FILE_TIMES' not in os.environ\n\n\n"
                                        "def test_slept():\n    time.sleep(0.3)\n")
    times = tmp_path / "times.txt"
    env = {**os.environ, "OVERSTAP_FILE_TIMES": str(times),
           "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    env.pop("PYTEST_XDIST_WORKER", None)
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:xdist", "-p", "no:randomly",
                          "--rootdir", str(tmp_path), "-p", "no:cacheprovider", "test_a.py", "test_b.py"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert "4 passed" in run.stdout, run.stdout + run.stderr
    rows = [line.split() for line in times.read_text().splitlines()]
    assert [(worker, name) for worker, name, *_ in rows] == [("main", "test_a.py"), ("main", "test_b.py")]
    (a_start, a_end), (b_start, b_end) = [(float(start), float(end)) for *_, start, end in rows]
    assert a_start <= a_end <= b_start and b_end - b_start >= 0.3


def test_the_shared_registry_is_one_per_set_of_folders_and_follows_the_mapping_path(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """tests/shared_registry.py (session 31): one compiled registry per process for the same folders and files,
    but a test that opts in to the examples (``OVERSTAP_MAPPING_PATH``) or names a file gets its own, holding
    them: a registry shared across those would let a test convert with mappings it did not ask for."""
    from shared_registry import shared_registry

    from gateway.mapping.registry import discover, examples_dir

    monkeypatch.delenv("OVERSTAP_MAPPING_PATH", raising=False)
    plain = shared_registry()
    assert shared_registry() is plain
    example = discover([examples_dir()])[0]
    monkeypatch.setenv("OVERSTAP_MAPPING_PATH", str(examples_dir()))
    opted_in = shared_registry()
    assert opted_in is not plain and opted_in is shared_registry()
    assert example.resolve() in {p.resolve() for p in opted_in._by_path} - {p.resolve() for p in plain._by_path}
    monkeypatch.delenv("OVERSTAP_MAPPING_PATH")
    named = shared_registry(files=[example])
    assert named is not plain and named.get(str(example)) is named._by_path[example.resolve()]


COMMANDS_THEN_MODULES = """
import json, sys
from gateway.cli import main
runs, modules, folder = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
for args in runs:
    try:
        main([*args, "--data-dir", folder])
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code
print(sorted(name for name in modules if name in sys.modules))
"""


def _commands_then_modules(runs: list[list[str]], modules: list[str], data: Path) -> list[str]:
    """What ``overstap`` said running each of ``runs`` on ``data`` in one fresh process, and last which of
    ``modules`` that process had imported by then."""
    env = {**os.environ, "PYTHONPATH": str(TESTS.parent)}
    run = subprocess.run([sys.executable, "-c", COMMANDS_THEN_MODULES, json.dumps(runs), json.dumps(modules),
                          str(data)], cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip().splitlines()


def test_outbox_show_imports_no_renderer_pipeline_or_mappings(tmp_path: Path) -> None:
    """``overstap outbox show`` reads rows: a delivery whose envelope replaced another (the ledger's
    ``ggk-replaced``) and a message with unmapped input. It imported the renderers for the first and the mapping
    machinery for the second (0.59-0.72 s of CPU a run before session 33; docs/deploy-sidecar.md, *Operations*)."""
    from gateway.deliver import outbox
    from gateway.deliver.unmapped import UnmappedInput
    from gateway.ledger.replacements import REPLACED

    conn = outbox.connect(outbox.open_db(tmp_path / "data"))
    unmapped = UnmappedInput(2, (("Client/Naam", 7),)).encode()
    with outbox.transaction(conn):
        outbox.accept(conn, outbox.NewMessage("default", "translate", b"<x/>", unmapped=unmapped),
                      [outbox.NewDelivery(outbox.NEW, "new-uuid", "zaak-1", b"<x/>", "text/xml", "urn:a", "zaak-1")])
        conn.execute("INSERT INTO remembered (kind, key, value) VALUES (?, 'old-uuid', 'new-uuid')", (REPLACED,))
    conn.close()
    said = _commands_then_modules([["outbox", "show", "1"], ["outbox", "show", "1", "--message", "--payload"]],
                                  ["gateway.pipeline", "gateway.render", "gateway.mapping", "gateway.model",
                                   "lxml.etree"], tmp_path / "data")
    assert "replaced          old-uuid (envelopes the chain holds; this one went instead)" in said
    assert "  unmapped        2 source value(s) no mapping rule used:" in said and "    Client/Naam (line 7)" in said
    assert said[-1] == "[]", said


def test_outbox_replay_of_dead_letters_imports_no_renderer_pipeline_or_mappings(tmp_path: Path) -> None:
    """A dead letter is replayed as stored: ``overstap outbox replay ID`` and ``--all-dead`` read whether the chain
    holds its envelope (a StUF Fo03: the stored bytes read as a GGk envelope, which these are not) and queue it
    again, rendering nothing. They imported the pipeline, the renderers and the mappings (0.60-0.87 s of CPU a run
    before session 33); a quarantined replay, which converts, still does."""
    from gateway.deliver import outbox

    conn = outbox.connect(outbox.open_db(tmp_path / "data"))
    with outbox.transaction(conn):
        for ref in ("uuid-1", "uuid-2"):
            accepted = outbox.accept(conn, outbox.NewMessage("default", "translate", ref.encode()), [
                outbox.NewDelivery(outbox.NEW, ref, "zaak-1", b"<x/>", "text/xml", "urn:a", "zaak-1")])
            outbox.mark_dead(conn, accepted.queued[0].id, 2, 500, "Fo03 StUF055", "HTTP 500: Fo03 StUF055")
    conn.close()
    said = _commands_then_modules([["outbox", "replay", "1"], ["outbox", "replay", "--all-dead"]],
                                  ["gateway.pipeline", "gateway.render", "gateway.mapping", "gateway.model",
                                   "gateway.zaken"], tmp_path / "data")
    assert said[:2] == ["ok   1: queued again as stored", "1 replayed, 0 not"], said
    assert said[2:4] == ["ok   2: queued again as stored", "1 replayed, 0 not"], said
    assert said[-1] == "[]", said
