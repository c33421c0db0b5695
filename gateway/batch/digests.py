"""A set of 64-bit digests in ~10 bytes each, for what a batch must remember of every member of an archive.

Why: a Python set of 8-byte ``bytes`` costs ~70 bytes an entry (object header plus hash-table slot); over a
1,000,000-member archive that grew the batch parent by ~70 MB, the one part of it that grew with the archive.
Here the newest entries wait in a small set and are merged, in order, into one sorted ``array('Q')`` when it
fills; a bitmap over the low bits answers most look-ups of a new value (the common case: a name not seen
before) without the binary search.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left

PENDING_MAX = 65_536
"""Entries kept in the plain set before they are merged into the sorted array (a few MB at most)."""
_FIRST_FILTER_BITS = 1 << 19
"""The bitmap's first size (64 KiB); it grows fourfold when it holds more than one entry in 16 bits."""


class DigestSet:
    """Membership of 64-bit unsigned integers; no removal (an archive's members are only ever added)."""

    __slots__ = ("_bits", "_mask", "_pending", "_pending_max", "_sorted")

    def __init__(self, pending_max: int = PENDING_MAX) -> None:
        self._sorted = array("Q")
        self._pending: set[int] = set()
        self._pending_max = pending_max
        self._bits = bytearray(_FIRST_FILTER_BITS // 8)
        self._mask = _FIRST_FILTER_BITS - 1

    def __contains__(self, value: int) -> bool:
        bit = value & self._mask
        if not self._bits[bit >> 3] & (1 << (bit & 7)):
            return False  # never added: most look-ups of a new name end here
        if value in self._pending:
            return True
        found = self._sorted
        at = bisect_left(found, value)
        return at < len(found) and found[at] == value

    def __len__(self) -> int:
        return len(self._sorted) + len(self._pending)

    def add(self, value: int) -> None:
        if value in self:
            return
        bit = value & self._mask
        self._bits[bit >> 3] |= 1 << (bit & 7)
        self._pending.add(value)
        if len(self._pending) >= self._pending_max:
            self._merge()

    def _merge(self) -> None:
        """The pending entries into the sorted array, slice by slice: no list of every entry is ever made."""
        old, out, start = self._sorted, array("Q"), 0
        for value in sorted(self._pending):
            at = bisect_left(old, value, start)
            out.extend(old[start:at])
            out.append(value)
            start = at
        out.extend(old[start:])
        self._sorted, self._pending = out, set()
        if len(out) * 16 > self._mask + 1:
            self._grow_filter()

    def _grow_filter(self) -> None:
        size = (self._mask + 1) * 4
        bits, mask = bytearray(size // 8), size - 1
        for value in self._sorted:
            bit = value & mask
            bits[bit >> 3] |= 1 << (bit & 7)
        self._bits, self._mask = bits, mask

    def nbytes(self) -> int:
        """What the entries and the bitmap take (the pending set aside): ~8 bytes an entry and ~1 for the bitmap."""
        return self._sorted.itemsize * len(self._sorted) + len(self._bits)
