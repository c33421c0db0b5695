"""What a receiver under test answered, read strictly: a verdict passes only on an answer a sender could rely on.

Why strict: a compliance run that passes a receiver whose answers a real sender would misread is worse than
none. So a Bv03 or Fo03 counts only when it is

* in a SOAP 1.1 Envelope, the version the request was sent in (SOAP 1.1 §4: a Body's answer in another
  envelope namespace is a VersionMismatch; the testbed answers in the request's version),
* about this message: its crossRefnummer is the referentienummer of the message answered (StUF 03.01 §4.4.1
  for the Bv03, §4.4.3 for the Fo03: "Het crossRefNummer wordt gevuld met het referentienummer van het bericht
  naar aanleiding waarvan het [...] bericht wordt aangemaakt"),
* a Bv03 with a 2xx status: a sender that reads HTTP 500 offers the message again, whatever the body says.

Answers are read with a size cap and an overall deadline, so a receiver that trickles or floods cannot hang
the run or fill memory. Nothing the receiver wrote is echoed but its fout code (a Fo03's omschrijving may
quote the message, and so a BSN).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
from lxml import etree

from gateway.ingest import InputError, parse_xml
from gateway.ingest.xml import DTD_REFUSED
from gateway.model.checks import mask_bsns

STUF = "{http://www.egem.nl/StUF/StUF0301}"
SOAP11 = "{http://schemas.xmlsoap.org/soap/envelope/}"
SOAP12 = "{http://www.w3.org/2003/05/soap-envelope}"
MAX_ANSWER = 1024 * 1024
"""Bytes of an answer read at most: a Bv03 or Fo03 is a few kB."""
MAX_CODE = 40
"""Characters of a fout code shown: StUF codes are seven; a longer one is the receiver's text, clipped."""


class NoAnswer(Exception):
    """The receiver gave no usable HTTP answer: not reachable, too slow, or too much."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """An HTTP answer read in full (within the cap and the deadline)."""

    status: int
    content: bytes


def fetch(client: httpx.Client, method: str, url: str, timeout: float, **kwargs: object) -> Fetched:
    """``method url`` with an overall ``timeout`` and :data:`MAX_ANSWER` cap; raises :class:`NoAnswer` saying why.

    httpx's timeout bounds each read, not the whole answer: a receiver sending a byte a second would never
    time out, so the deadline is checked between chunks too."""
    deadline = time.monotonic() + timeout
    try:
        with client.stream(method, url, timeout=timeout, **kwargs) as response:  # type: ignore[arg-type]
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_ANSWER:
                    raise NoAnswer(f"more than {MAX_ANSWER} bytes")
                if time.monotonic() > deadline:
                    raise NoAnswer(f"no complete answer within {timeout:g}s")
                chunks.append(chunk)
            return Fetched(response.status_code, b"".join(chunks))
    except httpx.TimeoutException:
        raise NoAnswer(f"nothing within {timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise NoAnswer(f"nothing ({type(exc).__name__})") from None


def _code(text: str | None) -> str | None:
    """The fout code as the report may show it: one line, clipped, a BSN in it masked (it is the receiver's text)."""
    if text is None:
        return None
    text = mask_bsns(" ".join(text.split()))
    return text if len(text) <= MAX_CODE else text[:MAX_CODE] + "…"


def read_answer(fetched: Fetched, referentienummer: str | None) -> tuple[str, str | None, str | None]:
    """(``Bv03`` | ``Fo03`` | what else came back, fout code, omschrijving) of a receiver's answer to the message
    sent under ``referentienummer``; anything but a usable Bv03/Fo03 is named so that it matches no expectation."""
    status = fetched.status
    try:
        root = parse_xml(fetched.content, "answer", MAX_ANSWER)
    except InputError as exc:
        if exc.message == DTD_REFUSED:  # XML, but with what no SOAP message may carry: said so, not "not XML"
            return (f"HTTP {status}, XML with a DOCTYPE, which SOAP forbids (SOAP 1.1 §3: a SOAP message must not "
                    "contain a Document Type Declaration)"), None, None
        return f"HTTP {status}, not XML", None, None
    if root.tag == f"{SOAP12}Envelope":
        return f"HTTP {status}, a SOAP 1.2 envelope (the request was SOAP 1.1)", None, None
    if root.tag != f"{SOAP11}Envelope":
        return f"HTTP {status}, {etree.QName(root).localname} without a SOAP 1.1 Envelope", None, None
    body = root.find(f"{SOAP11}Body")
    children = [] if body is None else [c for c in body if isinstance(c.tag, str)]
    if len(children) != 1:
        return f"HTTP {status}, a SOAP Body with {len(children)} elements (expected one answer)", None, None
    answer = children[0]
    if answer.tag == f"{SOAP11}Fault":
        answer = next(answer.iter(f"{STUF}Fo03Bericht"), answer)
    if answer.tag == f"{STUF}Bv03Bericht":
        kind, code, omschrijving = "Bv03", None, None
        if not 200 <= status < 300:
            return f"Bv03 with HTTP {status} (a sender reads a failure)", None, None
    elif answer.tag == f"{STUF}Fo03Bericht":
        kind = "Fo03"
        code = _code(answer.findtext(f"{STUF}body/{STUF}code"))
        omschrijving = answer.findtext(f"{STUF}body/{STUF}omschrijving")
    else:
        return f"HTTP {status}, {etree.QName(answer).localname}", None, None
    cross = (answer.findtext(f"{STUF}stuurgegevens/{STUF}crossRefnummer") or "").strip()
    if referentienummer and cross != referentienummer:
        said = "without a crossRefnummer" if not cross else "with a crossRefnummer naming another message"
        return f"{kind} {said} (expected the referentienummer sent)", code, omschrijving
    return kind, code, omschrijving
