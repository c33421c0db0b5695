"""Profile ggk and zkn keep separate tijdstipBericht counters because they write separate zenders (session 22).

Why: StUF 03.01 4.3.2 asks a tijdstipBericht later than every earlier one of a *system*, told apart by
organisatie, applicatie and administratie. docs/canonical-spec.md ("One tijdstipBericht counter per zender") says the
two counters are correct because, with the default settings, the GGk envelope and the zakLk01 of one message name
different zenders; if a change made them name the same one, this fails and that argument has to be made again.
"""

from __future__ import annotations

import re

from proxy_helpers import sample
from shared_registry import shared_registry

from gateway.ledger.base import MemoryLedger
from gateway.pipeline import Converter

A02 = "CasusA-02-WMO301_toewijzing.xml"


def _zenders(profile: str, ledger: MemoryLedger) -> set[str]:
    outputs = Converter(shared_registry(), profile=profile, ledger=ledger).convert(sample(A02), A02).outputs
    texts = [o.xml.decode() if isinstance(o.xml, bytes) else str(o.xml) for o in outputs]
    return {re.sub(r"\s+", "", re.search(r"<StUF:zender>(.*?)</StUF:zender>", t, re.S).group(1))  # type: ignore[union-attr]
            for t in texts}


def test_the_ggk_envelope_and_the_zaklk01_of_one_message_name_two_zenders_with_a_counter_each() -> None:
    ledger = MemoryLedger()
    ggk, zkn = _zenders("ggk", ledger), _zenders("zkn", ledger)
    assert ggk == {"<StUF:organisatie>0384</StUF:organisatie><StUF:applicatie>OVERSTAP</StUF:applicatie>"
                   "<StUF:administratie>gemeente0384</StUF:administratie>"}  # whitespace removed
    assert zkn == {"<StUF:organisatie>0384</StUF:organisatie><StUF:applicatie>OVERSTAP</StUF:applicatie>"}
    assert sorted(ledger._data["tijdstip"]) == ["0384/OVERSTAP", "0384|OVERSTAP|"]
