"""What the sidecar answers its senders, read over real HTTP as a StUF 03.01 / StUF-GGk client reads it.

Why: a sender's StUF stack matches the answer to its message (crossRefnummer), orders the answers of one
zender by tijdstipBericht and, in the ISD-keten, checks that every reference is a UUID. The values expected
here are written by hand from the standard (docs/deploy-sidecar.md, *What the sender gets back*), not taken
from the code that makes them.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
from lxml import etree
from proxy_helpers import Receiver, ServerThread, Start, sample, variant
from test_proxy import stuf_reply

STUF = "{http://www.egem.nl/StUF/StUF0301}"
A02 = "CasusA-02-WMO301_toewijzing.xml"


def stuurgegeven(message: etree._Element, path: str) -> str | None:
    return message.findtext(f"{STUF}stuurgegevens/" + "/".join(STUF + step for step in path.split("/")))


def test_tijdstip_bericht_of_the_answers_rises_strictly_even_when_acknowledged_together(start: Start) -> None:
    """StUF 03.01 4.3.2: the tijdstipBericht of a message is greater than that of every message the same system
    made before. Acknowledgements released by one outbox commit are made within the same millisecond."""
    with ServerThread(Receiver().app()) as ds:
        server, _gw = start({"default": {"downstream": ds.url}}, {})
        base = sample(A02)
        bodies = [variant(base, n, zaak=n) for n in range(40)]
        with httpx.Client(timeout=60) as client, ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda body: client.post(server.url + "/soap", content=body), bodies))
    assert [a.status_code for a in answers] == [200] * 40
    moments = [stuurgegeven(stuf_reply(a), "tijdstipBericht") or "" for a in answers]
    assert all(re.fullmatch(r"\d{17}", m) for m in moments), moments
    assert len(set(moments)) == 40, sorted(moments)  # no two alike: a strictly rising sequence
