"""What a refused message's reply is built from: ``facts_of`` reads a message no mapping took.

Why: the Fo03 or SOAP fault that refuses a message still answers its referentienummer and zender, so the walk
over every element must find them by local name (any prefix, any namespace) and by their parent's name; it was
rewritten for speed (session 31: a hostile message of 100,000 elements cost ~0.35 s of its failure path).
"""

from __future__ import annotations

import pytest

from gateway.proxy import converting
from gateway.proxy.converting import facts_of
from gateway.render.stuf import Party

STUF_DI01 = b"""<?xml version="1.0"?><!-- a comment first --><S:Envelope
 xmlns:S="http://schemas.xmlsoap.org/soap/envelope/" xmlns:st="http://www.egem.nl/StUF/StUF0301"><S:Body>
<st:Di01Bericht><?pi here?><st:stuurgegevens><st:berichtcode>Di01</st:berichtcode>
<st:zender><!-- inside --><st:organisatie>0384</st:organisatie><st:applicatie>SUITE</st:applicatie>
<st:gebruiker>u1</st:gebruiker></st:zender>
<st:ontvanger><st:organisatie>IB</st:organisatie><st:applicatie>GGk</st:applicatie></st:ontvanger>
<st:referentienummer>ref-1</st:referentienummer></st:stuurgegevens>
<st:body><st:zender><st:applicatie>NOT-THE-HEADER</st:applicatie></st:zender>
<x:onbekend xmlns:x="urn:x"><x:referentienummer>not-in-stuurgegevens</x:referentienummer></x:onbekend>
</st:body></st:Di01Bericht></S:Body></S:Envelope>"""

IWMO_HEADER = b"""<WMO301:Bericht xmlns:WMO301="http://www.istandaarden.nl/iwmo/3_2/wmo301/schema"
 xmlns:iwmo="http://www.istandaarden.nl/iwmo/3_2/basisschema/schema"><WMO301:Header>
<WMO301:Afzender>0384</WMO301:Afzender><WMO301:Ontvanger>12345678</WMO301:Ontvanger>
<WMO301:BerichtIdentificatie><iwmo:Identificatie>ID-77</iwmo:Identificatie></WMO301:BerichtIdentificatie>
<WMO301:Identificatie>not-under-berichtidentificatie</WMO301:Identificatie>
</WMO301:Header><WMO301:Afzender>later</WMO301:Afzender></WMO301:Bericht>"""


def test_the_stuf_stuurgegevens_of_a_refused_message_are_read_whole() -> None:
    facts = facts_of(STUF_DI01)
    assert facts.source_ref == "ref-1"  # the stuurgegevens' own, not a referentienummer elsewhere
    assert (facts.afzender, facts.applicatie) == ("0384", "SUITE")
    assert facts.stuf_zender == Party("SUITE", "0384", None, "u1")
    assert facts.stuf_ontvanger == Party("GGk", "IB", None, None)


def test_an_iwmo_header_of_a_refused_message_is_read() -> None:
    facts = facts_of(IWMO_HEADER)
    assert (facts.source_ref, facts.afzender, facts.ontvanger) == ("ID-77", "0384", "12345678")
    assert facts.stuf_zender is None and facts.applicatie is None


def test_a_message_that_does_not_parse_has_no_facts() -> None:
    assert facts_of(b"<a><b></a>") == facts_of(b"") == type(facts_of(b""))()


def test_a_refused_message_of_many_other_elements_is_read_at_its_facts_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """100,000 elements no fact is in (a hostile message of fresh names) are passed over inside lxml: only the
    named ones and their parents reach Python (a walk over all cost ~0.08 s of CPU per such message, session 33),
    and the facts found among them are the same."""
    seen: list[str] = []
    local = converting._local

    def counting(el: object) -> str:
        seen.append(local(el))  # type: ignore[arg-type]
        return seen[-1]

    monkeypatch.setattr(converting, "_local", counting)
    noise = b"".join(b"<n%d/>" % i for i in range(100_000))
    body = STUF_DI01.replace(b"<st:body>", b"<st:body>" + noise, 1)
    facts = facts_of(body)
    assert facts == facts_of(STUF_DI01.replace(b"<st:body>", b"<st:body>" + noise[:40], 1))
    assert facts.source_ref == "ref-1" and facts.stuf_zender == Party("SUITE", "0384", None, "u1")
    assert len(seen) < 40, seen  # 10 named elements and their parents, none of the 100,000
