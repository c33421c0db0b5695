"""Referentienummers of zakLk01 outputs come from a buffer of random bytes instead of one ``uuid.uuid4()`` each.

Why: ``str(uuid.uuid4())`` was ~2.5 µs an output (an ``os.urandom`` call and a ``UUID`` object). The buffered
ids must stay what a receiver and StUF expect: uuid4 text (version 4, RFC 4122 variant), never repeated (across
buffer refills, threads and a forked worker process), and a replaced ``uuid.uuid4`` (counted ids in tests and
identity runs) still decides them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from gateway.render import zkn


def _is_uuid4_text(value: str) -> bool:
    found = uuid.UUID(value)
    return str(found) == value and found.version == 4 and found.variant == uuid.RFC_4122


def test_references_are_uuid4_text_and_never_repeat_across_refills() -> None:
    drawn = [zkn.referentienummer() for _ in range(3 * zkn._References.SIZE // 16 + 7)]
    assert all(_is_uuid4_text(value) for value in drawn)
    assert len(set(drawn)) == len(drawn)
    assert {value[19] for value in drawn} == set("89ab")  # every variant digit occurs: the random bits are kept


def test_threads_never_draw_the_same_reference() -> None:
    drawn: list[list[str]] = [[] for _ in range(6)]

    def draw(mine: list[str]) -> None:
        for _ in range(3000):
            mine.append(zkn.referentienummer())

    threads = [threading.Thread(target=draw, args=(mine,)) for mine in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [value for mine in drawn for value in mine]
    assert len(set(every)) == len(every) == 18000


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_does_not_repeat_the_parents_next_references() -> None:
    """A batch or sidecar worker forked after the parent drew ids must not hand out the parent's next ones."""
    zkn.referentienummer()  # the buffer is filled and holds the next ids
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.close(read)
        os.write(write, ",".join(zkn.referentienummer() for _ in range(4)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        theirs = pipe.read().split(",")
    os.waitpid(child, 0)
    mine = [zkn.referentienummer() for _ in range(4)]
    assert len(theirs) == 4 and all(_is_uuid4_text(value) for value in theirs)
    assert not set(theirs) & set(mine)


def test_a_replaced_uuid4_decides_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=7, version=4))
    assert zkn.referentienummer() == str(uuid.UUID(int=7, version=4))


def test_a_uuid4_replaced_before_the_render_was_imported_still_decides() -> None:
    """The check looks at the function itself, not at what ``uuid.uuid4`` was when the module was imported."""
    script = ("import uuid\nuuid.uuid4 = lambda: uuid.UUID(int=9, version=4)\n"
              "from gateway.render import zkn\nprint(zkn.referentienummer())")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.stdout.strip() == str(uuid.UUID(int=9, version=4))
