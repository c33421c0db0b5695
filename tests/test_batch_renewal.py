"""The batch pool's renewal of outgrown workers (gateway/batch/pool.py) with workers that cannot start: the
run ends as when workers cannot start at all (WorkersFailed, a usage error), and no chunk is blamed for it."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from gateway.batch import pool as batch_pool
from gateway.batch.sinks import SinkSpec
from gateway.batch.work import Chunk, ChunkResult, WorkConfig


def _outgrown_chunk(chunk: Chunk) -> ChunkResult:
    """Every chunk converts, and says its worker has outgrown its allowance."""
    return ChunkResult(chunk.first, chunk.count, None, b"", outgrown=True)


def _cannot_start() -> None:
    os._exit(1)


class _FailingRenewal(batch_pool.OrderedPool):
    """The first workers start; those a renewal starts die at once (as on ENOMEM or a failed fork)."""

    starts = 0

    def _start(self) -> ProcessPoolExecutor:
        self.starts += 1
        return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"),
                                   initializer=None if self.starts == 1 else _cannot_start)


def test_workers_that_cannot_start_at_a_renewal_end_the_run_without_blaming_a_chunk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_pool, "run_chunk", _outgrown_chunk)  # the forked workers inherit it
    pool = _FailingRenewal(WorkConfig(SinkSpec.for_target(tmp_path / "out", 0)), 1, window=1)
    chunks = iter([Chunk(i, [(f"k{i}", b"", None, False)]) for i in range(4)])
    seen = []
    with pytest.raises(batch_pool.WorkersFailed):
        for result in pool.run(chunks, lambda: False):
            seen.append((result.first, result.report))
    assert seen == [] or all(report == b"" for _, report in seen)  # nothing reported as failed in a worker
    assert pool.crashes == 0 and pool.renewals == 1
