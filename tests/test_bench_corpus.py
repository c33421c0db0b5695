"""The archive ``benchmarks/batch_bench.py`` generates converts: every message, to at least one zaak message.

The benchmark is meant to measure conversions. Its first generator only varied the berichtidentificatie
and the BSN, so 15% of the archive (cases E and F: starts on a toewijzing of gemeente 0385 no sample
holds) was refused by the ledger (StUF064), and every pass after the first repeated the first one's
chains ("no change", nothing rendered). Not timed: this checks what the benchmark feeds the batch.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from gateway.pipeline import FAILURES, Converter, describe

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import batch_bench  # a script folder, not a package


@pytest.fixture(scope="module")
def bases(reference_dir: Path) -> list[bytes]:
    found = batch_bench.templates()
    assert found, f"no templates under {reference_dir}"
    return found


def test_every_generated_message_converts_to_zaak_messages(bases: list[bytes]) -> None:
    """Three passes in one ledger, in archive order, as ``overstap batch`` meets them."""
    converter = Converter()
    failed: dict[str, str] = {}
    silent: list[str] = []
    for name, data in batch_bench.messages(3 * len(bases), bases):
        try:
            if not converter.convert(data, name).outputs:
                silent.append(name)
        except FAILURES as exc:
            failed[name] = f"{describe(exc, name).code}: {exc}"
    assert failed == {}
    assert silent == [], "a message with no output repeats one before it"


def _beschikking(data: bytes) -> bytes:
    found = re.search(rb"<(?:\w+:)?Beschikking[nN]ummer>([^<]+)<", data)
    assert found is not None
    return found[1]


def test_each_pass_is_a_family_of_its_own(bases: list[bytes]) -> None:
    """Chain values differ between passes and agree within one: a start names the toewijzing of its own pass."""
    n = len(bases)
    generated = [data for _, data in batch_bench.messages(2 * n, bases)]
    passes = [generated[:n], generated[n:]]
    values = [{m[3] for data in family for m in batch_bench.CHAIN.finditer(data)} for family in passes]
    assert values[0] and not values[0] & values[1]
    b01, b02 = (batch_bench.IWMO20.index(name) for name in ("CasusB-01-WMO301_toewijzing.xml",
                                                             "CasusB-02-WMO305_start.xml"))
    for family in passes:
        assert _beschikking(family[b02]) == _beschikking(family[b01])


def test_the_cpu_column_says_how_busy_the_parent_was() -> None:
    """The parent renders every message in order: its CPU a message times the run's rate is the share of a core it
    used, the figure that says a run is bound by it (s35: 0.89-0.93 with one worker and with two)."""
    result = {"parent": 2.5, "startup": 0.5, "workers": 1.5}
    assert batch_bench.cpu_line(result, 10_000, 4_500.0) == "200, 150 (start-up 0.50 s; parent busy 0.90 of a core)"
    assert batch_bench.cpu_line({"parent": None}, 10_000, 4_500.0) == "(not reported)"
