"""gateway/batch/digests.py: the batch's compact set of member digests answers exactly as a Python set
would, across merges and filter growth, and stays near 10 bytes an entry (the batch's memory stays flat)."""

from __future__ import annotations

import hashlib
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.batch.digests import DigestSet
from gateway.batch.keys import NameClaims, folded

U64 = st.integers(0, 2**64 - 1)


@settings(max_examples=200)
@given(st.lists(U64, max_size=300), st.lists(U64, max_size=100), st.integers(1, 17))
def test_it_answers_as_a_python_set_would(added: list[int], probes: list[int], pending_max: int) -> None:
    mine, truth = DigestSet(pending_max), set()
    for value in added:
        mine.add(value)
        truth.add(value)
        assert value in mine
    assert len(mine) == len(truth)
    for value in [*probes, *added, *(v ^ 1 for v in added)]:
        assert (value in mine) == (value in truth)


def test_many_entries_merge_and_grow_the_filter_without_losing_one() -> None:
    mine = DigestSet(pending_max=1000)
    values = [int.from_bytes(hashlib.blake2b(str(i).encode(), digest_size=8).digest(), "big") for i in range(60_000)]
    for value in values:
        mine.add(value)
    assert len(mine) == 60_000 and all(v in mine for v in values[::7])
    assert not any((v ^ (1 << 40)) in mine for v in values[:5000])
    assert mine._mask + 1 > 1 << 19  # the bitmap grew past its first size
    assert list(mine._sorted) == sorted(mine._sorted)


def test_a_large_archive_costs_about_ten_bytes_a_member() -> None:
    """NameClaims over 200,000 members in 1,000 folders: ~10 bytes a member where a set of bytes took ~70
    (14 MB here, 70 MB at a million)."""
    tracemalloc.start()
    try:
        claims = NameClaims()
        for i in range(200_000):
            claims.claim(f"dir{i % 1000}/m{i}.xml", i)
        used, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert used < 4 * 2**20, f"{used / 2**20:.1f} MB"
    assert claims.claim("dir7/m7.xml", 200_001) == "dir7~m7.xml~200001"  # still a clash, still renamed


class _PlainClaims:
    """NameClaims' rule with Python sets and every folder's digest worked out afresh: the reference."""

    def __init__(self) -> None:
        self.files: set[str] = set()
        self.dirs: set[str] = set()

    def claim(self, path: str, position: int) -> str:
        candidate, n = path, 0
        while True:
            parts = folded(candidate).split("/")
            folders = ["/".join(parts[:i]) for i in range(1, len(parts))]
            whole = "/".join(parts)
            if whole not in self.files and whole not in self.dirs and not any(f in self.files for f in folders):
                break
            n += 1
            candidate = f"{path.replace('/', '~')}~{position}" + (f"~{n}" if n > 1 else "")
        self.files.add(whole)
        self.dirs.update(folders)
        return candidate


@settings(max_examples=300)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "a.xml", "m.xml", "A", "A.XML", "M.xml"]), min_size=1,
                         max_size=3).map("/".join), max_size=30))
def test_claims_rename_exactly_the_clashes(paths: list[str]) -> None:
    """A file and a folder of one name, a name twice (or in other case), in any folder and order (members come
    folder by folder, so the folder of the last claim is remembered: it must never answer for another folder)."""
    mine, plain = NameClaims(), _PlainClaims()
    for position, path in enumerate(paths):
        assert mine.claim(path, position) == plain.claim(path, position)


def test_a_file_in_one_folder_is_a_folder_in_a_later_member() -> None:
    claims = NameClaims()
    assert [claims.claim(p, i) for i, p in enumerate(["x/a.xml", "y/b.xml", "x/a.xml/c.xml"])] == \
        ["x/a.xml", "y/b.xml", "x~a.xml~c.xml~2"]
