"""How a run's members become chunks for the pool, and which chunk end the journal may commit as done.

Apart from the runner because both are pure bookkeeping over ordinals and keys that the resume tests drive alone.
"""

from __future__ import annotations

from collections.abc import Iterator

from .inputs import Member
from .work import Chunk

CHUNK_BYTES = 2 * 1024 * 1024
"""A chunk ends at about this many bytes of members even before it has its count: one pipe message stays small."""


def chunked(members: Iterator[Member], size: int, last_keys: dict[int, str] | None = None) -> Iterator[Chunk]:
    """Consecutive members in chunks of at most ``size`` members or about 2 MB; ``last_keys`` gets each chunk's
    end (the ordinal after its last member) and that member's key, for the journal's commits."""
    chunk: Chunk | None = None
    nbytes = 0
    for member in members:
        if chunk is None:
            chunk, nbytes = Chunk(member.ordinal, []), 0
        data = member.data
        chunk.members.append((member.key, data, member.problem, member.whole))
        nbytes += len(data) if data.__class__ is bytes else data.size  # type: ignore[union-attr]  # a ZipRef
        if chunk.count >= size or nbytes >= CHUNK_BYTES:
            if last_keys is not None:
                last_keys[chunk.first + chunk.count] = chunk.members[-1][0]
            yield chunk
            chunk = None
    if chunk is not None:
        if last_keys is not None:
            last_keys[chunk.first + chunk.count] = chunk.members[-1][0]
        yield chunk



def covered(last_keys: dict[int, str], done: int, last: tuple[int, str] | None) -> tuple[int, str] | None:
    """The newest chunk end at or before ``done`` with its last member's key, or ``last`` when none has come since;
    the ends it passes are dropped from ``last_keys``. Not ``done`` itself: a chunk retried member by member after
    a crash commits within itself, and its end is not reached yet."""
    ends = [end for end in last_keys if end <= done]
    if not ends:
        return last
    newest = max(ends)
    found = (newest, last_keys[newest])
    for end in ends:
        del last_keys[end]
    return found
