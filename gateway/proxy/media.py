"""What a SOAP request's Content-Type and Content-Encoding may be, and the refusal of what the sidecar cannot read.

Why: the body is read as XML bytes. A gzip body read so was refused as "not well-formed" (or worse, a sender was
told its message was bad when it was only compressed), and a body declared ``application/json`` was taken as XML.
Such a request is answered 415 (``fault_status: http``; else the SOAP status of a client fault) before the body is
read, naming what came and what is expected: nothing is stored, nothing acknowledged, the sender keeps it.

Accepted on purpose, as tests and docs/deploy-sidecar.md promise: no Content-Type at all, ``text/xml`` (SOAP 1.1),
``application/soap+xml`` (SOAP 1.2), bare XML as ``application/xml``, any ``…/…+xml`` (RFC 7303), whatever the
parameters (charset, action); an envelope of the other SOAP version than its media type says is answered in its
own version (gateway/proxy/soap.py). Content-Encoding: none or ``identity``.
"""

from __future__ import annotations

from gateway.render import stuf

XML_TYPES = frozenset({"text/xml", "application/xml", "application/soap+xml"})
EXPECTED = "text/xml (SOAP 1.1), application/soap+xml (SOAP 1.2) or application/xml (bare XML)"


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, without parameters, in lower case ("" when there is none)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def unreadable(content_type: str | None, content_encoding: str | None) -> stuf.Fout | None:
    """The Fo03 for a request whose body the sidecar cannot read as XML, judged from its headers; None when it can."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    if any(c not in ("", "identity") for c in codings):
        return stuf.Fout.of("StUF055", f"Content-Encoding {_shown(content_encoding)} is not read: send the XML "
                            f"uncompressed (no Content-Encoding, or identity) as {EXPECTED}")
    kind = media_type(content_type)
    if kind and kind not in XML_TYPES and not kind.endswith("+xml"):
        return stuf.Fout.of("StUF055", f"Content-Type {_shown(content_type)} is no XML: expected {EXPECTED}",
                            soap_side="client")
    return None


def _shown(value: str | None) -> str:
    """A header value as quoted in a refusal: one line, at most 100 characters (it is the sender's text)."""
    text = " ".join((value or "").split())
    return repr(text if len(text) <= 100 else text[:99] + "…")
