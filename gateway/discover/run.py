"""Stream the INPUTs member by member, profile each message (in a process pool) and cluster the profiles.

The inputs are read with the batch job's own reader (folders, ZIP, tar), so discover accepts
exactly what ``overstap batch`` accepts. Members go to the workers in chunks with a bounded number
of chunks in flight; the parent keeps only the clusters, whose size does not grow with the archive.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from gateway.batch.inputs import Inputs
from gateway.batch.keys import input_labels
from gateway.mapping import Registry

from .cluster import MAX_CLUSTERS, MAX_TOTAL_PATHS, Cluster, cluster_key
from .profile import Profile, Profiler

CHUNK = 64
_worker: Profiler | None = None


@dataclass(slots=True)
class Discovery:
    """The outcome of one discover run: the clusters by key, and how many messages were seen.

    ``inputs`` are the INPUTs' labels (their cleaned base names, as member keys begin), not their paths: the
    report is shared, and scaffold is given its inputs again rather than reading them from a report."""

    inputs: list[str]
    clusters: dict[tuple[str, ...], Cluster] = field(default_factory=dict)
    messages: int = 0
    paths: int = 0  # distinct paths kept over all clusters, at most MAX_TOTAL_PATHS
    unclustered: int = 0  # messages of clusters past MAX_CLUSTERS: counted, not profiled

    def _cluster(self, key: tuple[str, ...], start: Cluster | Profile, messages: int) -> Cluster | None:
        """The cluster for ``key``, started from ``start`` when new; None (the messages counted) past the cap."""
        found = self.clusters.get(key)
        if found is None:
            if len(self.clusters) >= MAX_CLUSTERS:
                self.unclustered += messages
                return None
            found = self.clusters[key] = start.empty() if isinstance(start, Cluster) else Cluster.start(start)
        return found

    def add(self, prof: Profile) -> None:
        self.messages += 1
        found = self._cluster(cluster_key(prof), prof, 1)
        if found is not None:
            self.paths += found.add(prof, MAX_TOTAL_PATHS - self.paths)

    def ordered(self) -> list[Cluster]:
        """Largest cluster first, then by id, so reports and ``scaffold --cluster`` agree."""
        return sorted(self.clusters.values(), key=lambda c: (-c.messages, c.id))

    def merge(self, clusters: dict[tuple[str, ...], Cluster]) -> None:
        """Fold in a worker's clusters of one chunk of messages."""
        for key, part in clusters.items():
            self.messages += part.messages
            found = self._cluster(key, part, part.messages)
            if found is not None:
                self.paths += found.merge(part, MAX_TOTAL_PATHS - self.paths)

    def get(self, cluster_id: str) -> Cluster:
        for found in self.clusters.values():
            if found.id == cluster_id:
                return found
        known = ", ".join(c.id for c in self.ordered())
        raise KeyError(f"no cluster {cluster_id!r} in these inputs; the clusters are: {known}")


def _init(mapping_files: list[str]) -> None:
    global _worker
    _worker = Profiler(Registry(files=[Path(f) for f in mapping_files]))


def _profile_chunk(chunk: list[tuple[str, bytes, str | None]]) -> dict[tuple[str, ...], Cluster]:
    """Profile a chunk and cluster it in the worker: the parent receives a few cluster summaries per chunk
    instead of one profile per message, so neither pickling nor aggregation grows with the parent's share."""
    assert _worker is not None
    part = Discovery([])
    for key, data, problem in chunk:
        part.add(_one(_worker, key, data, problem))
    return part.clusters


def _one(profiler: Profiler, key: str, data: bytes, problem: str | None) -> Profile:
    if problem is not None:
        return Profile(key, "unreadable", problem=problem)
    return profiler.profile(key, data)


def _chunks(paths: list[Path]) -> Iterator[list[tuple[str, bytes, str | None]]]:
    chunk: list[tuple[str, bytes, str | None]] = []
    for member in Inputs(paths).members():
        chunk.append((member.key, member.data, member.problem))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def discover(paths: list[Path], *, workers: int | None = None, mapping_files: list[str] = (),  # type: ignore[assignment]
             progress: Callable[[int], None] | None = None) -> Discovery:
    """Cluster every message of ``paths``; ``workers=0`` profiles in this process (tests, small inputs)."""
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"no such file or folder: {path}")
    found = Discovery(input_labels(paths))
    count = (os.cpu_count() or 1) if workers is None else workers
    if count == 0:
        profiler = Profiler(Registry(files=[Path(f) for f in mapping_files]))
        for chunk in _chunks(paths):
            for key, data, problem in chunk:
                found.add(_one(profiler, key, data, problem))
            if progress:
                progress(found.messages)
        return found
    with ProcessPoolExecutor(count, initializer=_init, initargs=(list(mapping_files),)) as pool:
        pending: set[Future[dict[tuple[str, ...], Cluster]]] = set()
        for chunk in _chunks(paths):
            pending.add(pool.submit(_profile_chunk, chunk))
            if len(pending) >= 2 * count:
                pending = _drain(pending, found, progress, FIRST_COMPLETED)
        _drain(pending, found, progress, None)
    return found


def _drain(pending: set[Future[dict[tuple[str, ...], Cluster]]], found: Discovery,
           progress: Callable[[int], None] | None, when: str | None) -> set[Future[dict[tuple[str, ...], Cluster]]]:
    done, rest = wait(pending, return_when=when) if when else (pending, set())
    for future in done:
        found.merge(future.result())
    if progress:
        progress(found.messages)
    return set(rest)
