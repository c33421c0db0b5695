"""Open a StUF-GGk envelope (``envelopHeenbericht-ggk_Di01`` / ``envelopRetourbericht-ggk_Du01``).

Messages routed through the ISD-keten arrive with their iWmo/iJw payload base64-encoded inside
the envelope. Ingest checks the envelope's routing data, decodes the payload within the size
limit and hands the payload on, so it converts like any other input; the envelope's stuurgegevens
travel along in ``Source.envelope_info`` (never the payload itself, which holds personal data).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from lxml import etree

from .envelopes import SOAP_NAMESPACES
from .errors import InputError, found, quotable, shape
from .source import Source
from .xmlnames import attribute_path, is_data

GGK_NS = "http://www.stufstandaarden.nl/sectormodel/ggk/0210"
STUF_NS = "http://www.egem.nl/StUF/StUF0301"
XMIME_NS = "http://www.w3.org/2005/05/xmlmime"
ENVELOPES = {
    "envelopHeenbericht-ggk_Di01": "Di01",
    "envelopRetourbericht-ggk_Du01": "Du01",
}
"""Root element -> StUF berichtcode."""
MAX_ENVELOPE_BYTES = 25 * 1024 * 1024
"""GGk spec 3.2/3.3: "Maximum grootte van het ggk0210-Di01 [Du01] bericht inclusief deze base64 inhoud is 25
MegaByte" (foutcodes IB007, CC03: 25 MB). An envelope may be that large whatever the general input limit."""
XML_CONTENT_TYPES = frozenset({"application/xml", "text/xml"})
_WHITESPACE = re.compile(rb"\s+")
_ROOT_NAME = re.compile(rb"<(?:[\w.-]+:)?(envelop(?:Heenbericht-ggk_Di01|Retourbericht-ggk_Du01))\b")
_MIME = re.compile(r"[a-z]{1,20}/[a-z0-9.+-]{1,60}(?:;[ a-z0-9=.\"-]{0,60})?", re.IGNORECASE)

_S = f"{{{STUF_NS}}}"
_G = f"{{{GGK_NS}}}"
REQUIRED_STUURGEGEVENS = ("berichtcode", "zender/organisatie", "zender/applicatie", "ontvanger/organisatie",
                          "ontvanger/applicatie", "referentienummer", "tijdstipBericht", "functie")
PARAMETERS = ("applicatieVersie", "applicatieSubversie", "functieVersie", "functieSubversie",
              "referentienummerBericht", "crossRefnummerBericht")
_SYSTEEM = frozenset(f"{_S}{n}" for n in ("organisatie", "applicatie", "administratie", "gebruiker"))
_CHILDREN = {
    "": frozenset({_G + "stuurgegevens", _G + "parameters"}),
    "stuurgegevens": frozenset(_S + n for n in ("berichtcode", "zender", "ontvanger", "referentienummer",
                                                "tijdstipBericht", "crossRefnummer", "functie")),
    "stuurgegevens.zender": _SYSTEEM,
    "stuurgegevens.ontvanger": _SYSTEEM,
    "parameters": frozenset({*(_G + n for n in PARAMETERS), _G + "bericht"}),
}
"""The elements the GGk XSD allows under each part of an envelope, each at most once: anything else (a second
``bericht``, a second ``stuurgegevens``, an element of another schema) would be passed over without a word, and a
second payload would not be converted while the sender is told the envelope arrived."""
_NOT_IN_DI01 = frozenset({_S + "crossRefnummer"})
"""What a Di01's stuurgegevens may not hold though a Du01's may: StuurgegevensDi01-envelopHeenbericht has no
crossRefnummer (ggk0310_msg_stuf.xsd, spec 3.2). A Di01 is no answer; one that says it is would be passed over."""
REQUIRED_PARAMETERS = ("applicatieVersie", "applicatieSubversie", "functieVersie", "functieSubversie")
"""Verplicht in both envelopes (spec 2.5, 2.6, 3.2, 3.3; required in the XSD; CC06 refuses an envelope without the
applicatie's), four digits each (StUF:Versienr)."""
_VERSIENR = re.compile(r"[0-9]{4}")
_TIJDSTIP = re.compile(r"[0-9]{8,17}")
"""StUF:Tijdstip (stuf0301.xsd): yyyymmdd up to yyyymmddhhmmssmmm, digits only."""
UNREAD = ("stuurgegevens/zender/administratie", "stuurgegevens/zender/gebruiker",
          "stuurgegevens/ontvanger/administratie", "stuurgegevens/ontvanger/gebruiker",
          "parameters/referentienummerBericht", "parameters/crossRefnummerBericht")
"""Envelope elements the GGk XSD allows that no canonical output carries: it has no place for them (its stuurgegevens
are Overstap's own; a gebruiker may name a person), so a filled one is reported as unmapped input, never dropped
without a word (docs/ggk-profile.md 4). The sidecar's Bv03/Fo03 does address the sender's administratie and
gebruiker (StUF 03.01 4.4.1), but an answer is no canonical output."""
_READ_ATTRIBUTES = {_G + "bericht": (f"{{{XMIME_NS}}}contentType", _S + "bestandsnaam")}
"""The envelope attributes :func:`unwrap` reads (the payload's type and file name, the only ones the schema has)."""
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
"""A UUID in its text form (RFC 4122). The spec (2.4, IB009, CC04) asks for version 4; the version is not checked
here because the official GGk examples themselves carry a version 1 UUID."""


SCAN_BYTES = 16 * 1024
"""How far into a body :func:`envelope_root` looks for the envelope: past the XML declaration, comments and a SOAP
Header (WS-Security can take a few KB). A body whose envelope does not start by then gets the general limit."""
_MISC = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.S)
"""What may stand before an element: whitespace, the XML declaration and processing instructions, comments."""
_TAG = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)((?:\s(?:[^<>\"'/]|\"[^\"]*\"|'[^']*')*)?)(/?)>")
"""A whole start tag: prefix, local name, attributes, ``/`` when it is empty."""
_XMLNS = re.compile(rb"\sxmlns(?::([\w.-]+))?\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_HEADER_END = re.compile(rb"</(?:[\w.-]+:)?Header\s*>")
_UNFINISHED = re.compile(rb"<(?:$|!(?:$|-$|--)|\?|[A-Za-z_])")
"""Bytes that may become a comment, processing instruction or start tag once more of the body is in."""


class _More(Exception):
    """The bytes end before they tell whether an envelope starts here."""


def _element(head: bytes, pos: int, scope: dict[bytes, bytes]) -> tuple[str, str, int, bool, dict[bytes, bytes]]:
    """The next element's namespace and local name, where its start tag ends, whether it is empty and the
    namespaces in scope inside it; after what may stand before it. ``("", "", ...)`` when no element is next."""
    while (misc := _MISC.match(head, pos)) is not None:
        pos = misc.end()
    tag = _TAG.match(head, pos)
    if tag is None:
        if pos == len(head) or _UNFINISHED.match(head, pos):
            raise _More
        return "", "", pos, True, scope
    prefix, local, attributes, empty = tag.groups()
    inner = dict(scope)
    for declared in _XMLNS.finditer(attributes):
        inner[declared.group(1) or b""] = declared.group(2) if declared.group(2) is not None else declared.group(3)
    namespace = inner.get(prefix or b"", b"").decode("latin-1")
    return namespace, local.decode("latin-1"), tag.end(), bool(empty), inner


def _scan(head: bytes) -> str | None:
    """The GGk envelope ``head`` starts with, as its root or as the first child of a SOAP Body (after a Header),
    or None; raises :class:`_More` when ``head`` ends too soon to tell."""
    namespace, local = _message(head)
    return local if namespace == GGK_NS and local in ENVELOPES else None


def _message(head: bytes) -> tuple[str, str]:
    """(namespace, local name) of the message ``head`` starts with: its root, or the first child of a SOAP Body
    (after a Header); ``("", "")`` when a SOAP envelope holds no Body first. Raises :class:`_More` as ``_scan``."""
    pos = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    namespace, local, pos, empty, scope = _element(head, pos, {})
    soap = namespace if namespace in SOAP_NAMESPACES and local == "Envelope" else None
    if soap is not None and not empty:
        namespace, local, pos, empty, scope = _element(head, pos, scope)
        if (namespace, local) == (soap, "Header") and not empty:
            end = _HEADER_END.search(head, pos)
            if end is None:
                raise _More
            pos = end.end()
        if (namespace, local) == (soap, "Header"):
            namespace, local, pos, empty, scope = _element(head, pos, scope)
        if (namespace, local) != (soap, "Body") or empty:
            return "", ""
        namespace, local, pos, empty, scope = _element(head, pos, scope)
    return namespace, local


def message_name(data: bytes) -> tuple[str, str] | None:
    """(namespace, local name) of the one message of ``data``, bare or in a SOAP Body, judged from its first
    :data:`SCAN_BYTES` by structure as :func:`envelope_root` does; None when they do not tell."""
    try:
        return _message(data[:SCAN_BYTES])
    except _More:
        return None


def envelope_root(data: bytes) -> str | None:
    """The GGk envelope (``envelopHeenbericht-ggk_Di01`` or ``envelopRetourbericht-ggk_Du01``) that ``data`` is,
    bare or as the one message of a SOAP Body, judged from its first :data:`SCAN_BYTES`; else None.

    Only the structure counts, not a mention: the name in a comment, in text or in a later element does not make a
    body an envelope, so it cannot buy a plain message the envelope's size limit (review of the sidecar, finding 1).
    """
    try:
        return _scan(data[:SCAN_BYTES])
    except _More:
        return None


def soap_of(data: bytes) -> str | None:
    """``soap11``/``soap12`` when ``data``'s root element is a SOAP Envelope, judged from its start tag (within the
    first :data:`SCAN_BYTES`); ``""`` when it is another element (bare XML); None when no start tag can be read.

    The envelope's namespace is its SOAP version (SOAP 1.2 Part 1 5.4.7), not the Content-Type nor a mention of a
    namespace somewhere in the text: an answer in the other version is one the sender's SOAP stack cannot read."""
    head = data[:SCAN_BYTES]
    try:
        namespace, local, *_ = _element(head, 3 if head.startswith(b"\xef\xbb\xbf") else 0, {})
    except _More:
        return None
    if not local:
        return None
    return SOAP_NAMESPACES.get(namespace, "") if local == "Envelope" else ""


def limit_for(data: bytes, max_bytes: int) -> int:
    """The size limit for the whole of ``data``: at least :data:`MAX_ENVELOPE_BYTES` when it is a GGk envelope
    (:func:`envelope_root`), else ``max_bytes``."""
    return max(max_bytes, MAX_ENVELOPE_BYTES) if envelope_root(data) else max_bytes


def head_limit(head: bytes, max_bytes: int) -> int | None:
    """:func:`limit_for` of a body still arriving, from the bytes in so far; None while they are fewer than
    :data:`SCAN_BYTES` and end before they tell (read on, at most to :data:`SCAN_BYTES`)."""
    try:
        root = _scan(head[:SCAN_BYTES])
    except _More:
        if len(head) < SCAN_BYTES:
            return None
        root = None
    return max(max_bytes, MAX_ENVELOPE_BYTES) if root else max_bytes


def is_envelope(root: etree._Element) -> bool:
    """True for a GGk Di01/Du01 root element."""
    tag = root.tag
    return isinstance(tag, str) and tag.startswith(_G) and tag[len(_G):] in ENVELOPES


def malformed(data: bytes, error: InputError) -> InputError:
    """A parse error of ``data`` reworded as a malformed GGk envelope when ``data`` is one; else ``error``."""
    found = _ROOT_NAME.search(data[:4096])
    if found is None:
        return error
    root = found.group(1).decode()
    where = ""
    column = re.search(r"column (\d+)", error.message)
    if error.line and column:
        lines = data.split(b"\n", error.line)
        if len(lines) >= error.line:
            text = lines[error.line - 1].decode("utf-8", "replace")
            col = int(column.group(1))
            near = text[max(col - 1, 0):col + 11].strip()
            if near and quotable(near):  # markup such as "'" or "/>"; message text (a BSN, a name) never
                where = f" near {near!r}"
    return InputError(f"malformed StUF-GGk envelope ({root}): {error.message}{where}", source=error.source,
                      line=error.line, field=f"GGK:{root}", code=error.code)


def text_at(parent: etree._Element, path: str) -> tuple[str | None, etree._Element | None]:
    """The stripped text (None when absent or empty) and the element at ``path`` (StUF names, ``/`` between)."""
    node = parent
    for step in path.split("/"):
        found = node.find(_S + step)
        if found is None:
            return None, None
        node = found
    return own_text(node).strip() or None, node


def own_text(node: etree._Element) -> str:
    """An envelope leaf's text, also where a comment or processing instruction splits it (``03<!-- -->84`` is
    0384: its first part alone would be another organisatie)."""
    if not len(node):
        return node.text or ""
    return "".join([node.text or "", *(child.tail or "" for child in node)])


@dataclass(frozen=True, slots=True)
class Opened:
    """An opened envelope: the decoded payload, ``ggk-Di01``/``ggk-Du01``, its facts and the payload's line."""

    payload: bytes
    kind: str
    info: dict[str, str] = field(default_factory=dict)
    line: int | None = None
    unread: tuple[tuple[str, int | None], ...] = ()
    """(path, line) of each filled envelope element that goes nowhere (:data:`UNREAD`)."""


def _structure(root: etree._Element, code: str, source: str) -> None:
    """Only the elements of :data:`_CHILDREN` under the envelope, its stuurgegevens, zender, ontvanger and
    parameters, each at most once; :class:`InputError` naming the place otherwise."""
    parts = {"": root}
    for where, allowed in _CHILDREN.items():
        parent = parts.get(where)
        if parent is None:
            continue
        seen: set[str] = set()
        for child in parent:
            tag = child.tag
            if not isinstance(tag, str):
                continue  # comments and processing instructions
            local = etree.QName(tag).localname
            place = f"{where}.{local}" if where else local
            if tag not in allowed or (code == "Di01" and tag in _NOT_IN_DI01 and where == "stuurgegevens"):
                raise InputError(f"GGk {code} envelope: {where or 'the envelope'} holds an element {local!r} the GGk "
                                 f"schema does not allow there", source=source, line=child.sourceline, field=place)
            if tag in seen:
                raise InputError(f"GGk {code} envelope: a second {place}; the GGk schema allows one (a second one "
                                 "would be passed over, not converted)", source=source, line=child.sourceline,
                                 field=place)
            seen.add(tag)
            if place in _CHILDREN:
                parts[place] = child
            elif place != "parameters.bericht" and (inner := next(child.iterchildren(etree.Element), None)) is not None:
                raise InputError(f"GGk {code} envelope: {place} holds an element {etree.QName(inner).localname!r}; "
                                 "expected text only", source=source, line=inner.sourceline, field=place)


def check_uuid(stuur: etree._Element, path: str, what: str, source: str) -> None:
    """``stuurgegevens.<path>`` is a UUID (spec 2.4): a Du01 we write later carries this Di01's referentienummer
    as its crossRefnummer, so anything else would go out again to be refused by the chain (IB009, CC04); a Fo01's
    crossRefnummer names the envelope it refuses. ``what`` names the message (``GGk Du01 envelope``)."""
    value, node = text_at(stuur, path)
    if value is not None and _UUID.fullmatch(value) is None:
        raise InputError(f"{what}: stuurgegevens.{path} must be a UUID (spec 2.4: version 4, such as "
                         f"0e09a81f-64a0-4793-b946-d6538fb3f37e), found {shape(value)}", source=source,
                         line=node.sourceline if node is not None else None, field=f"stuurgegevens.{path}")


def _versions(parameters: etree._Element, info: dict[str, str], code: str, source: str) -> None:
    """Each of :data:`REQUIRED_PARAMETERS` is there with four digits; else :class:`InputError` naming it."""
    for name in REQUIRED_PARAMETERS:
        value = info.get(name)
        if value is None:
            raise InputError(f"GGk {code} envelope: parameters.{name} is missing or empty (spec 2.5/2.6: verplicht, "
                             "four digits such as 0002)", source=source, line=parameters.sourceline,
                             field=f"parameters.{name}")
        if _VERSIENR.fullmatch(value) is None:
            node = parameters.find(_G + name)
            raise InputError(f"GGk {code} envelope: parameters.{name} must be four digits (StUF Versienr, such as "
                             f"0002), found {found(value)}", source=source,
                             line=node.sourceline if node is not None else None, field=f"parameters.{name}")


def _base64_text(bericht: etree._Element, code: str, source: str) -> bytes:
    """The base64 text of ``parameters/bericht``, whitespace removed: its text and the text after each comment or
    processing instruction inside it (XML lets one split the text; the first part alone is a cut-off payload)."""
    parts = [bericht.text or ""]
    for child in bericht:
        if isinstance(child.tag, str):
            raise InputError(f"GGk {code} envelope: parameters.bericht holds an element; expected base64 text only",
                             source=source, line=child.sourceline, field="parameters.bericht")
        parts.append(child.tail or "")
    return _WHITESPACE.sub(b"", "".join(parts).encode("ascii", "replace"))


def stuurgegevens_of(stuur: etree._Element, needed: tuple[str, ...], what: str, source: str) -> dict[str, str]:
    """The texts of ``needed`` (each required: :class:`InputError` naming the first missing one) and of the
    optional parts of zender and ontvanger, keyed ``zender.organisatie``; ``what`` names the message."""
    info: dict[str, str] = {}
    for path in needed:
        value, _ = text_at(stuur, path)
        if value is None:
            raise InputError(f"{what}: stuurgegevens.{path.replace('/', '.')} is missing or empty",
                             source=source, line=stuur.sourceline, field=f"stuurgegevens.{path.replace('/', '.')}")
        info[path.replace("/", ".")] = value
    for path in ("zender/administratie", "zender/gebruiker", "ontvanger/administratie", "ontvanger/gebruiker"):
        value, _ = text_at(stuur, path)  # optional, but part of who sent it: its Bv03/Fo03 goes back to all of it
        if value is not None:
            info[path.replace("/", ".")] = value
    return info


def check_tijdstip(stuur: etree._Element, info: dict[str, str], what: str, source: str) -> None:
    """``info``'s tijdstipBericht is a StUF Tijdstip (8 to 17 digits); else :class:`InputError` at its line."""
    if _TIJDSTIP.fullmatch(info["tijdstipBericht"]) is None:
        _, node = text_at(stuur, "tijdstipBericht")
        raise InputError(f"{what}: stuurgegevens.tijdstipBericht must be a StUF Tijdstip (8 to 17 "
                         f"digits: yyyymmddhhmmssmmm), found {found(info['tijdstipBericht'])}", source=source,
                         line=node.sourceline if node is not None else None, field="stuurgegevens.tijdstipBericht")


def unwrap(root: etree._Element, source: str, max_bytes: int) -> Opened:
    """Check the envelope and decode its payload, or raise :class:`InputError` naming line and field."""
    local = root.tag[len(_G):]
    code = ENVELOPES[local]
    _structure(root, code, source)
    stuur = root.find(_G + "stuurgegevens")
    if stuur is None:
        raise InputError(f"GGk {code} envelope without stuurgegevens", source=source, line=root.sourceline,
                         field="stuurgegevens")
    needed = (*REQUIRED_STUURGEGEVENS, "crossRefnummer") if code == "Du01" else REQUIRED_STUURGEGEVENS
    what = f"GGk {code} envelope"
    info = stuurgegevens_of(stuur, needed, what, source)
    if info["berichtcode"] != code:
        _, node = text_at(stuur, "berichtcode")
        raise InputError(f"GGk envelope {local} carries berichtcode {found(info['berichtcode'])}, expected {code}",
                         source=source, line=node.sourceline if node is not None else None,
                         field="stuurgegevens.berichtcode")
    for path in ("referentienummer", "crossRefnummer") if code == "Du01" else ("referentienummer",):
        check_uuid(stuur, path, what, source)
    check_tijdstip(stuur, info, what, source)
    parameters = root.find(_G + "parameters")
    if parameters is None:
        raise InputError(f"GGk {code} envelope without parameters", source=source, line=root.sourceline,
                         field="parameters")
    for name in PARAMETERS:
        node = parameters.find(_G + name)
        if node is not None and own_text(node).strip():
            info[name] = own_text(node).strip()
    _versions(parameters, info, code, source)
    bericht = parameters.find(_G + "bericht")
    if bericht is None:
        raise InputError(f"GGk {code} envelope without parameters.bericht (the payload)", source=source,
                         line=parameters.sourceline, field="parameters.bericht")
    line = bericht.sourceline
    content_type = bericht.get(f"{{{XMIME_NS}}}contentType")
    filename = bericht.get(f"{_S}bestandsnaam")
    if content_type:
        info["contentType"] = content_type
    if filename:
        info["bestandsnaam"] = filename
    if content_type is not None and content_type.split(";")[0].strip().lower() not in XML_CONTENT_TYPES:
        shown = repr(content_type) if _MIME.fullmatch(content_type) else found(content_type)  # a type, no person
        raise InputError(f"GGk payload has xmime:contentType {shown}: Overstap converts XML payloads "
                         "(iWmo/iJw messages) only", source=source, line=line, field="parameters.bericht.contentType")
    encoded = _base64_text(bericht, code, source)
    if not encoded:
        raise InputError(f"GGk {code} envelope: parameters.bericht is empty", source=source, line=line,
                         field="parameters.bericht")
    if len(encoded) // 4 * 3 > max_bytes:
        raise InputError(f"GGk payload decodes to about {len(encoded) // 4 * 3} bytes, more than the limit of "
                         f"{max_bytes}", source=source, line=line, field="parameters.bericht", code="StUF058")
    try:
        payload = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"GGk parameters.bericht is not valid base64: {exc}", source=source, line=line,
                         field="parameters.bericht") from None
    if payload.startswith(b"\xef\xbb\xbf"):
        payload = payload[3:]
    return Opened(payload, f"ggk-{code}", info, line, _unread(root))


def _unread(root: etree._Element) -> tuple[tuple[str, int | None], ...]:
    """(readable path, line) of every filled element of :data:`UNREAD` in the envelope ``root``, and of every
    other envelope value nothing reads (:func:`_loose_values`), in line order."""
    out = []
    for path in UNREAD:
        first, *rest = path.split("/")  # parameters' children are GGK elements, the stuurgegevens' StUF ones
        inner = _G if first == "parameters" else _S
        node = root.find("/".join([_G + first, *(inner + n for n in rest)]))
        if node is not None and own_text(node).strip():
            out.append((_path(node), node.sourceline))
    out += _loose_values(root)
    return tuple(sorted(out, key=lambda found: found[1] or 0))


def _path(el: etree._Element) -> str:
    """``/GGK:envelopHeenbericht-ggk_Di01/GGK:stuurgegevens/...``: the element's path with the document's prefixes."""
    return "/" + "/".join(f"{e.prefix}:{etree.QName(e).localname}" if e.prefix else etree.QName(e).localname
                          for e in reversed([el, *el.iterancestors()]))


def _loose_values(root: etree._Element) -> list[tuple[str, int | None]]:
    """Envelope values the GGk schema has no place for, which :func:`unwrap` reads nowhere: a non-empty attribute
    (but the payload's ``xmime:contentType`` and ``StUF:bestandsnaam``, and ``xsi:``/``xml:`` ones, which
    describe the document) and text beside child elements (reported as the element's ``/text()``), as the
    unmapped check reports them in a payload (docs/mapping-reference.md 14)."""
    out: list[tuple[str, int | None]] = []
    for el in root.iter(etree.Element):
        for name, value in el.items():
            if value.strip() and is_data(name) and name not in _READ_ATTRIBUTES.get(el.tag, ()):
                out.append((attribute_path(_path(el), el, name), el.sourceline))
        if next(el.iterchildren(etree.Element), None) is not None:  # a leaf's text is read, split or not
            texts = [(el.text, el.sourceline), *((child.tail, child.sourceline) for child in el)]
            line = next((at for text, at in texts if text is not None and text.strip()), None)
            if line is not None:
                out.append((f"{_path(el)}/text()", line))
    return out


def read_envelope(root: etree._Element, data: bytes, name: str, max_bytes: int, route: str | None,
                  outer: list[str], blanks: bool = True) -> Source:
    """The :class:`Source` of a GGk envelope: its payload read like any input (``blanks`` as :func:`.read`
    was given), the envelope recorded."""
    from . import read  # the payload is read by the same front door (XML, SOAP or EI)

    opened = unwrap(root, name, max_bytes)
    try:
        inner = read(opened.payload, name, max_bytes=max_bytes, route=route, blanks=blanks)
    except InputError as exc:
        raise payload_error(exc, name, opened.line, opened.info) from None
    if any(kind.startswith("ggk-") for kind in inner.envelopes):
        raise InputError("GGk envelope inside a GGk envelope: expected an iWmo/iJw message as payload",
                         source=name, line=opened.line, field="parameters.bericht")
    return Source(name=name, data=data, root=inner.root, format=inner.format,
                  envelopes=[*outer, opened.kind, *inner.envelopes], route=route, envelope_info=opened.info,
                  envelope_unread=opened.unread)


_KIND_NAME = re.compile(r"[A-Za-z]{2,5}\d{3}(?:\.[A-Za-z]{2,4})?")
"""The name of a message kind (``WMO301``), or a file named after one (``WMO301.txt``)."""


def payload_error(error: InputError, source: str, line: int | None, info: dict[str, str]) -> InputError:
    """An error inside the decoded payload, reported at the envelope's ``parameters.bericht``. The payload is
    named by its bestandsnaam or functie only when that names a message kind: a sender's file name may carry the
    client's name and BSN (``Gaastra_D_123456782.xml``), as an export's file names do."""
    what = next((v for v in (info.get("bestandsnaam"), info.get("functie")) if v and _KIND_NAME.fullmatch(v)),
                "payload")
    at = f" (line {error.line} of the decoded payload)" if error.line else ""
    return InputError(f"GGk payload {what} cannot be read{at}: {error.message}", source=source, line=line,
                      field="parameters.bericht" + (f" > {error.field}" if error.field else ""), code=error.code)
