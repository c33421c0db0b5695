"""Which Python ``make venv`` makes ``.venv`` with: the distribution's python3 when it is 3.11+, can make a venv and
has its C headers, else python3 on the PATH, and ``PY=...`` over both (Makefile, README).

Why: a pyenv-built Python (no PGO, no LTO) cost the batch ~9% more instructions and ~13% more CPU a message than
Debian's (docs/performance.md, session 34); the choice is make's, so make itself is asked here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def chosen(tmp_path: Path, *overrides: str) -> str:
    """The ``PY`` the project's Makefile settles on, with ``overrides`` on make's command line."""
    probe = tmp_path / "probe.mk"
    probe.write_text(f"include {ROOT / 'Makefile'}\nshow-py:\n\t@echo $(PY)\n")
    done = subprocess.run(["make", "-s", "-f", str(probe), "show-py", *overrides], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    return done.stdout.strip()


def stand_in(tmp_path: Path, name: str, line: str) -> Path:
    """A stand-in for the distribution's python3: a shell script that answers the Makefile's question with ``line``."""
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{line}\n")
    path.chmod(0o755)
    return path


def fake_python(tmp_path: Path, name: str, exit_code: int) -> Path:
    """One that answers with ``exit_code`` whatever it is asked."""
    return stand_in(tmp_path, name, f"exit {exit_code}")


def test_a_distribution_python_that_can_make_a_venv_is_chosen(tmp_path: Path) -> None:
    assert chosen(tmp_path, f"SYSTEM_PY={sys.executable}") == sys.executable  # 3.11+, with venv and ensurepip


def test_the_makefile_asks_the_python_itself(tmp_path: Path) -> None:
    usable, unusable = fake_python(tmp_path, "yes", 0), fake_python(tmp_path, "no", 1)
    assert chosen(tmp_path, f"SYSTEM_PY={usable}") == str(usable)
    assert chosen(tmp_path, f"SYSTEM_PY={unusable}") == "python3"  # older than 3.11, or no venv/ensurepip


def altered_python(tmp_path: Path, name: str, before: str) -> Path:
    """The test's own Python, with ``before`` run ahead of the Makefile's question (``-c CODE``)."""
    return stand_in(tmp_path, name, f'exec {sys.executable} -c "{before}; $2"')


def test_a_python_older_than_3_11_without_ensurepip_or_headers_is_passed_over(tmp_path: Path) -> None:
    older = altered_python(tmp_path, "older",  # sysconfig first: its paths are of the real version, as a 3.10's are
                           "import sys, sysconfig; sys.version_info = (3, 10, 13)")
    bare = altered_python(tmp_path, "bare", "import sys; sys.modules['ensurepip'] = None")  # Debian without -venv
    headless = altered_python(tmp_path, "headless", "import sysconfig; real = sysconfig.get_paths; "
                              "sysconfig.get_paths = lambda *a, **k: {**real(*a, **k), 'include': '/no'}")
    same = altered_python(tmp_path, "same", "import sys")
    assert chosen(tmp_path, f"SYSTEM_PY={older}") == "python3"
    assert chosen(tmp_path, f"SYSTEM_PY={bare}") == "python3"
    assert chosen(tmp_path, f"SYSTEM_PY={headless}") == "python3"  # no Python.h (python3-dev): no native modules
    assert chosen(tmp_path, f"SYSTEM_PY={same}") == str(same)  # the stand-ins themselves answer as Python does


def test_without_a_distribution_python_the_one_on_the_path_makes_it(tmp_path: Path) -> None:
    assert chosen(tmp_path, f"SYSTEM_PY={tmp_path / 'absent'}") == "python3"


def test_py_on_the_command_line_wins(tmp_path: Path) -> None:
    assert chosen(tmp_path, f"SYSTEM_PY={sys.executable}", "PY=python3.12") == "python3.12"
