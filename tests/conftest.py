"""Shared test fixtures: where the official reference material is, or a clear skip when it is not here.

The reference folder (official XSDs, public samples) is never part of the repository, so every test
that needs it asks for ``reference_dir`` and is skipped, saying why, on a checkout without it.
"""

from __future__ import annotations

import multiprocessing.resource_tracker
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from proxy_helpers import Start, alive, descendants, gateways, samples_dir, wait_for
from receiver_messages import created, receiver  # noqa: F401 (the reference-receiver tests' fixtures)

from gateway import reference
from gateway.mapping import Registry


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The reference folder with the official schemas and samples; skips the test when it is absent."""
    found = reference.reference_dir()
    if not reference.available() or not (found / "samples" / "iwmo20-xml").is_dir():
        pytest.skip(f"reference material not found at {found} (set {reference.ENV} to the shared reference folder)")
    return found



@pytest.fixture(scope="module")
def examples_opted_in() -> Iterator[None]:
    """The shipped example mappings take part in detection only when asked: tests that use them as their
    vendor dialects (registries, CLI runs, worker processes) opt in through OVERSTAP_MAPPING_PATH."""
    examples = Path(__file__).resolve().parents[1] / "mappings" / "examples"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OVERSTAP_MAPPING_PATH", str(examples))
        yield


@pytest.fixture(scope="module")
def registry() -> Registry:
    """All mappings (dialects/ and mappings/); skips where the reference samples are absent."""
    samples_dir()
    return Registry()


@pytest.fixture
def start(tmp_path: Path, registry: Registry) -> Iterator[Start]:
    """Start sidecar gateways in this test (uvicorn threads on 127.0.0.1); all are stopped after it."""
    with gateways(tmp_path, registry) as run:
        yield run


def _own_tracker() -> set[int]:
    """This process's multiprocessing resource tracker: it lives as long as the test run, by design."""
    pid = getattr(multiprocessing.resource_tracker._resource_tracker, "_pid", None)
    return {pid} if pid else set()


_LEFT_BY_WORKERS: list[str] = []
"""Processes the xdist workers found left behind (``make test`` runs two): the controller fails the run for them."""


LEFT_BEHIND_WAIT = "OVERSTAP_LEFT_BEHIND_WAIT"
"""Seconds a process the run started may take to end after it (default 10): test_left_behind.py's own runs, whose
``sleep 47`` never ends, set 1 and save the ten seconds each (docs/testing.md, "CI run time (session 31)")."""


def _left_behind_wait() -> float:
    return float(os.environ.get(LEFT_BEHIND_WAIT) or 10)


def _left_behind() -> list[str]:
    """Processes this process started that are still there after the run, killed (ours), one line each."""
    left: set[int] = set()

    def settled() -> bool:
        left.clear()
        left.update(descendants(os.getpid()) - _own_tracker())
        return not left

    if wait_for(settled, timeout=_left_behind_wait(), interval=0.2):
        return []
    lines = []
    for pid in sorted(alive(left)):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            lines.append(f"{pid}: {command[:160]}")
            os.kill(pid, signal.SIGKILL)  # ours: started by this run
        except OSError:
            continue
    return lines


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """xdist controller: a worker's leftovers would otherwise vanish with it (its exit status is not the run's)."""
    _LEFT_BY_WORKERS.extend(getattr(node, "workeroutput", {}).get("left_behind", []))


FILE_TIMES = "OVERSTAP_FILE_TIMES"
_FILE_SPANS: dict[str, list[float]] = {}
"""Test file -> [first test's start, last test's end] in this process, when ``OVERSTAP_FILE_TIMES`` names a file."""
_TIMES_TO: list[str] = []
"""The file this process writes its spans to: ``OVERSTAP_FILE_TIMES`` as it found it (:func:`_take_file_times`)."""


def _take_file_times(config: pytest.Config) -> None:
    """Keep ``OVERSTAP_FILE_TIMES`` for this process and take it out of the environment of what its tests start
    (a test's own pytest run wrote its probe files' lines into the run's file); the xdist controller leaves it for
    the workers it is about to start."""
    controller = not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", None))
    path = os.environ.get(FILE_TIMES) if controller else os.environ.pop(FILE_TIMES, None)
    if path:
        _TIMES_TO.append(path)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Where each file's time went, per xdist worker: with ``--dist loadfile`` a long file that starts last
    leaves the other worker idle at the end (docs/testing.md, "CI run time (session 30)")."""
    started = time.time()
    yield
    if _TIMES_TO:
        _FILE_SPANS.setdefault(item.nodeid.split("::")[0], [started, started])[1] = time.time()


def _write_file_spans() -> None:
    """One line per file, ``worker file start end`` (epoch seconds), appended in one write per process."""
    if _TIMES_TO and _FILE_SPANS:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        lines = "".join(f"{worker} {name} {start:.3f} {end:.3f}\n" for name, (start, end) in _FILE_SPANS.items())
        with open(_TIMES_TO[0], "a", encoding="utf-8") as out:
            out.write(lines)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if a process it started is still there (a worker that outlived its gateway, say)."""
    _write_file_spans()
    if not Path("/proc/self").is_dir():
        return
    lines = _left_behind()
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # an xdist worker: the controller reports them and fails the run
        worker_output["left_behind"] = lines
        return
    lines += _LEFT_BY_WORKERS
    if lines:
        print(f"\nprocesses left behind by the test run (still there {_left_behind_wait():g} s after it, now killed):"
              "\n  " + "\n  ".join(lines))
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_PYCACHE: list[str] = []
"""The run's shared bytecode folder, if :func:`pytest_configure` made one (removed when the run ends)."""


def pytest_configure(config: pytest.Config) -> None:
    """Where the environment forbids writing bytecode (PYTHONDONTWRITEBYTECODE, set in the CI container), every
    process a test starts (``overstap serve``, a CLI run, a conversion worker) compiled gateway/ from source again:
    about 0.4 s of CPU each, hundreds of them per run. The run's processes share a bytecode folder outside the
    checkout instead (PYTHONPYCACHEPREFIX, made here before the xdist workers start; removed after the run)."""
    _take_file_times(config)
    if hasattr(config, "workerinput") or not os.environ.get("PYTHONDONTWRITEBYTECODE") \
            or os.environ.get("PYTHONPYCACHEPREFIX"):
        return
    folder = tempfile.mkdtemp(prefix="overstap-pycache-")
    _PYCACHE.append(folder)
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the run's bytecode folder (only the controller made one)."""
    for folder in _PYCACHE:
        shutil.rmtree(folder, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker, files with `slow` tests first: whole files go to a process (`--dist loadfile`) in
    collection order, so the longest ones at the end of the alphabet left one process working alone for minutes.
    Every worker sorts alike (xdist checks the collections agree); one process keeps the plain order."""
    if hasattr(config, "workerinput"):
        slow = {item.path for item in items if item.get_closest_marker("slow") is not None}
        items.sort(key=lambda item: item.path not in slow)  # stable: the order within each group stays


def pytest_sessionstart(session: pytest.Session) -> None:
    """Every CLI run in the tests keeps its zaak ledger in memory unless a test names a --state folder, so no
    test leaves state in the checkout or sees another run's chains. In CI the reference folder is always
    there: its absence is a broken run, not a reason to skip."""
    os.environ["OVERSTAP_STATE"] = "none"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes") and not reference.available():
        pytest.exit(f"CI=true but the reference material is missing at {reference.reference_dir()} "
                     f"(set {reference.ENV}); refusing to report a green run that skipped the schema tests",
                     returncode=3)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say loudly, at the end, when the run did not have the reference material."""
    if not reference.available():
        terminalreporter.write_line(
            f"NOTE: reference material absent at {reference.reference_dir()}: schema and sample tests were "
            f"skipped (set {reference.ENV})", yellow=True, bold=True)
