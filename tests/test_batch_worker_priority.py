"""Batch workers run at a lower priority exactly when they and the parent outnumber the cores.

Why: the parent renders every message in order (the run's serial path); with more processes than cores a worker
waking for its next chunk takes the parent's core. Lower, the workers run on what the parent leaves; with a core
each (the default: one worker fewer than the cores) nothing changes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.batch import BatchOptions, pool
from gateway.batch.pool import WORKER_NICE, OrderedPool
from gateway.batch.runner import BatchRun


def niceness_of_workers(tmp_path: Path, workers: int) -> set[int]:
    run = BatchRun(BatchOptions([tmp_path / "in"], tmp_path / "out.zip", state="none", workers=workers))
    pooled = OrderedPool(run.config, workers, registry=run.registry)
    pooled.start()
    try:
        assert pooled._executor is not None
        return {pooled._executor.submit(os.nice, 0).result() for _ in range(4 * workers)}
    finally:
        pooled.shutdown()


@pytest.mark.parametrize(("cores", "workers", "lower"), [(2, 2, True), (2, 1, False), (4, 2, False), (1, 1, True)])
def test_workers_run_lower_only_when_they_and_the_parent_outnumber_the_cores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cores: int, workers: int, lower: bool) -> None:
    (tmp_path / "in").mkdir()
    monkeypatch.setattr(pool, "usable_cores", lambda: cores)
    parent = os.nice(0)
    expected = min(parent + WORKER_NICE, 19) if lower else parent
    assert niceness_of_workers(tmp_path, workers) == {expected}
    assert os.nice(0) == parent  # the parent keeps its own
