"""A chunk's outputs kept in the ledger as one value: a resume after a kill must reuse every one of them.

Why: the batch parent commits each chunk's zaak states before the journal records the chunk done, and keeps the
outputs it rendered in that same transaction, so a resume after ``kill -9`` writes them again instead of applying
a member to the ledger twice. They are kept one value a chunk (issue 13: an INSERT and a DELETE a chunk, not a
member); a resume may cut its chunks elsewhere (another ``--chunk-size``), and a run killed before this version kept
one value a member: both must still find every member's outputs. Here the kill is simulated between two
:class:`LedgerStep`s on one ledger; ``tests/test_batch_ledger.py`` kills a real process.
"""

from __future__ import annotations

import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from proxy_helpers import sample, variant

import gateway.batch.ledgered as ledgered
from gateway.batch import BatchOptions
from gateway.batch.chunking import chunked
from gateway.batch.inputs import Inputs
from gateway.batch.ledgered import (
    KIND,
    LedgerStep,
    kept_chunk_outputs,
    kept_chunk_text,
    kept_text,
    open_store,
)
from gateway.batch.runner import BatchRun
from gateway.batch.work import ChunkResult, Worker

CHAIN = ("CasusB-01-WMO301_toewijzing.xml", "CasusB-02-WMO305_start.xml", "CasusB-04-WMO307_stop.xml")
outputs = st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=2000)), max_size=3)


@given(st.dictionaries(st.integers(0, 2**40), outputs, max_size=6))
def test_a_chunks_kept_outputs_come_back_by_member(members: dict[int, list[tuple[str, bytes]]]) -> None:
    text = kept_chunk_text(list(members.items()))
    assert text.isascii()  # text: PostgreSQL's ``remembered.value`` holds it too
    assert kept_chunk_outputs(text) == members


class Setting:
    """Twelve members of four zaken (each a 301, 305, 307) mapped in this process, rendered by ledger steps."""

    def __init__(self, tmp_path: Path) -> None:
        self.archive = tmp_path / "history.zip"
        with zipfile.ZipFile(self.archive, "w") as zf:
            for k in range(4):
                for i, name in enumerate(CHAIN):
                    zf.writestr(f"{k}-{i}-{name}", variant(sample(name), 10 * k + i, zaak=k))
        self.state = str(tmp_path / "state")
        self.run = BatchRun(BatchOptions([self.archive], tmp_path / "out.zip", state=self.state, workers=0))
        self.worker = Worker(self.run.config, self.run.registry)

    def results(self, size: int, start: int = 0) -> list[ChunkResult]:
        return [self.worker.run(chunk) for chunk in chunked(Inputs([self.archive]).members(start=start), size)]

    def step(self) -> LedgerStep:
        return LedgerStep(self.run.config, self.run.registry, open_store(self.state), "run")

    def packed(self, step: LedgerStep, size: int, monkeypatch: pytest.MonkeyPatch,
               start: int = 0) -> list[tuple[str, Any]]:
        """What the step hands the packer for each member, chunk by chunk of ``size``, committed, never pruned."""
        written: list[tuple[str, Any]] = []
        monkeypatch.setattr(ledgered, "pack_outputs", lambda packer, key, outs: written.append((key, outs)) or [])
        for result in self.results(size, start):
            step.process(result)
        step.close()
        return written


    def resumed(self, size: int, monkeypatch: pytest.MonkeyPatch, start: int = 0) -> list[tuple[str, Any]]:
        """The resume after the kill, in chunks of ``size``: it must render nothing (the ledger holds every member)."""
        step = self.step()
        monkeypatch.setattr(step.converter, "render", no_second_render)
        monkeypatch.setattr(step.converter, "plan", no_second_render)  # how the parent renders a chunk (session 32)
        return self.packed(step, size, monkeypatch, start)


def no_second_render(*args: object, **kwargs: object) -> None:
    raise AssertionError("a member the ledger already holds was rendered again (applied twice)")


def test_a_resume_that_cuts_its_chunks_elsewhere_reuses_every_kept_output(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed after the ledger committed chunks of five, resumed with chunks of three: a chunk then holds members
    of two kept values, and members whose value is keyed inside it, not at its start."""
    setting = Setting(tmp_path)
    first = setting.packed(setting.step(), 5, monkeypatch)
    assert len(first) == 12
    assert setting.resumed(3, monkeypatch) == first


def test_a_second_resume_from_inside_a_value_an_earlier_resume_kept_renders_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed with chunks of five; resumed with chunks of three, whose journal committed at member 6 (inside the
    value of members 5-9, which the prune must keep) and which was killed again after member 8: the next resume,
    from member 6, must find members 6-11 in the ledger and render none of them."""
    setting = Setting(tmp_path)
    first = list(setting.packed(setting.step(), 5, monkeypatch))  # a copy: the packer's stand-in goes on writing
    again = setting.step()
    monkeypatch.setattr(again.converter, "render", no_second_render)
    monkeypatch.setattr(again.converter, "plan", no_second_render)  # how the parent renders a chunk (session 32)
    chunks = setting.results(3)
    for result in chunks[:2]:
        again.process(result)
    again.prune(6)  # the journal has members 0-5
    again.process(chunks[2])
    again.close()  # killed after members 6-8
    assert setting.resumed(4, monkeypatch, start=6) == first[6:]


def test_outputs_kept_one_value_a_member_by_an_earlier_run_are_reused(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A run killed before chunk values kept one value a member: its resume must write those outputs again."""
    setting = Setting(tmp_path)
    first = setting.packed(setting.step(), 4, monkeypatch)
    with sqlite3.connect(Path(setting.state) / "ledger.sqlite") as conn:  # the ledger as the earlier run left it
        chunks = conn.execute("SELECT key, value FROM remembered WHERE kind = ?", (KIND,)).fetchall()
        assert len(chunks) == 3  # chunks of four
        for key, text in chunks:
            conn.execute("DELETE FROM remembered WHERE kind = ? AND key = ?", (KIND, key))
            for ordinal, outs in kept_chunk_outputs(text).items():
                conn.execute("INSERT INTO remembered (kind, key, value) VALUES (?, ?, ?)",
                             (KIND, f"run|{ordinal:012d}", kept_text(outs)))
    conn.close()
    assert setting.resumed(4, monkeypatch) == first


def test_a_prune_takes_the_values_of_the_chunks_the_journal_holds(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    setting = Setting(tmp_path)
    step = setting.step()
    monkeypatch.setattr(ledgered, "pack_outputs", lambda packer, key, outs: [])
    for result in setting.results(4):  # values keyed at members 0, 4 and 8
        step.process(result)
    step.prune(8)
    left = [key for key, in step.store.conn.execute("SELECT key FROM remembered")]  # type: ignore[union-attr]
    step.close()
    assert left == ["run|000000000008+4"]
