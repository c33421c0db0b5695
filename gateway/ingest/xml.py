"""Safe XML parsing: no DTDs, no entities, no network, no file access, bounded size.

iWmo, iJw and StUF messages never carry a DOCTYPE, so any DOCTYPE is refused outright, wherever it
sits and in whatever encoding: the whole text is scanned before parsing (UTF-16/32 inputs are
decoded first and parsed as the UTF-8 that was scanned), the parser's resolver answers every
external load with nothing (so libxml2 never opens a file, a FIFO or a URL), and a DOCTYPE that
still reached the tree is refused after the parse. The refusal text never depends on the files
present on this machine, so it cannot be used as an existence oracle.

libxml2's own words on a message that is not well-formed can quote the message (an undefined entity
``&Castricum;``, a prefix ``n123456782``): what it quotes and any long number in it go through the rule
of :mod:`gateway.ingest.errors` (a code-shaped word stays, the rest is told by its shape).
"""

from __future__ import annotations

import codecs
import re
import threading

from lxml import etree

from .errors import InputError, quotable, shape

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_NODES = 500_000
"""Elements and attributes one message may hold, counted before it is parsed as the ``<`` that do not open an end
tag plus the ``=`` signs (an upper bound: a comment, CDATA section or processing instruction counts its ``<``, text
its ``=``, a namespace declaration its ``=``). The 10 MB limit alone lets through 2.4 million empty elements; what
libxml2 and the conversion spend grows with the count, not with the bytes: 1.2 million leaves took 650 MB and 6 s,
500,000 take up to ~270 MB and ~5 s (docs/batch.md, *Sizing for the worst message*). A 2.x message of many clients
at the 10 MB limit holds ~220,000 (48 bytes an element); a 3.x message holds one client (a few hundred). A text of
at most ``MAX_NODES`` bytes cannot pass the bound and is not counted."""
MAX_ATTRIBUTES = 4_096
"""Attributes one element may carry. No iWmo/iJw element declares one (only namespace declarations and ``xsi:``
attributes occur); the widest StUF 0301/BG/ZKN 0310 and GGk types declare ten. libxml2 2.14 parses them in linear
time, but lxml reads them in time quadratic in their number (``items()`` looks each value up by name: 40,000 take
8 s, in one C call that holds the GIL, so neither the per-message alarm nor a thread of the process can act): 4,096
take ~20 ms. Each attribute takes at least 5 bytes (`` a=""``), so a text of at most ``5 * MAX_ATTRIBUTES`` bytes
cannot hold such an element and is not looked at: a message under 20 KB pays nothing for the bound."""
LINEAR_ATTRIBUTES = etree.LIBXML_VERSION >= (2, 12, 0)
"""Whether this libxml2 parses an element's attributes in linear time. Before 2.12 it checked each new attribute
against all earlier ones for a duplicate, in time quadratic in their number (a 10 MB message holds ~2 million:
hours in one C call); lxml's wheels carry 2.12 or later, a build against an older system libxml2 does not.
Without it a wide element is refused in the bytes, before the parse (:func:`_refuse_wide_text`)."""
DTD_REFUSED = "DOCTYPE/ENTITY declarations are not allowed (entity expansion and external files are refused)"
_local = threading.local()
_NODE = re.compile(rb"<(?!/)|=")
"""What :data:`MAX_NODES` counts, one match a node (the fast count is ``count(b"<") - count(b"</") + count(b"=")``)."""
_WIDE_ELEMENT = etree.XPath(f"(//*[count(@*) > {MAX_ATTRIBUTES}])[1]")
"""The first element with more than :data:`MAX_ATTRIBUTES` attributes, found in libxml2 (linear in the attributes)."""
_DECLARATION = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_DECLARATION_TEXT = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_XML_DECL = re.compile(rb"\A<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"']")
_XML_DECL_TEXT = re.compile(r"\A(<\?xml[^>]{0,200}?)\s+encoding\s*=\s*([\"'])[^\"']*\2")
_WIDE = (  # byte-order marks and BOM-less first characters of UTF-32/UTF-16 XML (XML 1.0 appendix F)
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (b"\x00\x00\x00<", "utf-32-be"), (b"<\x00\x00\x00", "utf-32-le"),
    (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"),
    (b"\x00<\x00?", "utf-16-be"), (b"<\x00?\x00", "utf-16-le"),
)
_QUOTED = re.compile(r"'([^'\n]*)'")
_ECHOED = re.compile(r"\n.*?(?=, line \d+, column \d+\Z|\Z)", re.S)  # "CData section not finished\n<its text>"
_NUMBER = re.compile(r"(?<!line )(?<!column )(?<![0-9])[0-9]{5,}(?![0-9])")
_TOO_DEEP = re.compile(r"Excessive depth in document: (\d+)")
"""libxml2's words for nesting past its limit (256; 2048 for ``huge``)."""
_TOO_LONG = re.compile(r"Resource limit exceeded: (?:Text node too long|Buffer size limit exceeded)")
"""libxml2's words for one text, attribute value, CDATA section or processing instruction past 10,000,000
characters (its limit without ``huge``), with the advice "try XML_PARSE_HUGE", a parser option, not the sender's."""
MAX_VALUE_CHARS = 10_000_000
_BAD_BYTES = re.compile(r"Invalid bytes in character encoding|not proper UTF-8", re.IGNORECASE)
"""libxml2's words (2.9 and 2.12+) for bytes that are no character in the encoding the text is read in."""
_ASCII_COMPATIBLE = re.compile(r"(utf-?8|us-ascii|ascii|iso[-_]?8859-\d{1,2}|latin-?1|windows-125\d|cp125\d)\Z",
                               re.IGNORECASE)


class _NoExternal(etree.Resolver):
    """Every external load (DTD subset, entity, XInclude) gets an empty document: nothing is opened."""

    def resolve(self, system_url: str, public_id: str, context: object) -> object:
        return self.resolve_string("", context)


def _parser(huge: bool = False, blanks: bool = True) -> etree.XMLParser:
    # lxml parsers are not safe to share between threads; one per thread is cheap.
    name = ("huge_parser" if huge else "parser") + ("" if blanks else "_lean")
    parser = getattr(_local, name, None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=huge,
            remove_blank_text=not blanks,
            collect_ids=False,
        )
        parser.resolvers.add(_NoExternal())
        setattr(_local, name, parser)
    return parser


def wide_encoding(data: bytes) -> str | None:
    """``utf-16-le`` etc. when ``data`` is UTF-16/UTF-32 by its BOM or first character, else None."""
    if data[:1] == b"<" and data[1:2] != b"\0":  # the usual start: no mark starts so (those with "<" have a 0 next)
        return None
    head = data[:4]
    for mark, codec in _WIDE:
        if head.startswith(mark):
            return codec
    return None


def _refuse_declarations(found: int, text: bytes | str, source: str) -> None:
    newline = b"\n" if isinstance(text, bytes) else "\n"
    line = text[:found].count(newline) + 1  # type: ignore[arg-type]
    raise InputError(DTD_REFUSED, source=source, line=line)


def _normalised(data: bytes, source: str) -> bytes:
    """``data`` as bytes libxml2 may parse: scanned for DOCTYPE/ENTITY in full, UTF-16/32 turned into UTF-8."""
    codec = wide_encoding(data)
    if codec is not None:
        text = data.decode(codec, errors="replace").removeprefix("\ufeff")
        found = _DECLARATION_TEXT.search(text)
        if found:
            _refuse_declarations(found.start(), text, source)
        return _XML_DECL_TEXT.sub(r"\1", text, count=1).encode("utf-8")
    if data[:4] == b"\x4c\x6f\xa7\x94":
        raise InputError("EBCDIC input is not supported: expected UTF-8, UTF-16 or a Latin encoding",
                         source=source, line=1)
    declared = _XML_DECL.match(data.removeprefix(codecs.BOM_UTF8))
    if declared and not _ASCII_COMPATIBLE.match(declared.group(1).decode("ascii")):
        name = declared.group(1).decode("ascii")
        if name.lower().replace("-", "") not in ("utf16", "utf32"):
            raise InputError(f"encoding {name!r} is not supported: expected UTF-8, UTF-16 or a Latin encoding",
                             source=source, line=1)
        # UTF-16/32 text starts with a byte-order mark or a 0 byte (wide_encoding): this one is in single bytes
        raise InputError(f"the XML declaration says encoding {name!r}, but the message is written in single bytes "
                         f"(no byte-order mark, no 0 bytes): expected {name} text, or a declaration of the encoding "
                         "it is written in (UTF-8)", source=source, line=1, field="encoding")
    found = declaration_at(data)
    if found != -1:
        _refuse_declarations(found, data, source)
    return data


def declaration_at(data: bytes) -> int:
    """Where the first DOCTYPE/ENTITY declaration starts in ``data``, or -1: what ``_DECLARATION.search`` finds.

    Why not that search: it steps through every byte of a message that holds a comment (~2 µs for 4 KB, 43% of
    batch_bench's messages); a declaration begins ``<!``, so only each ``!`` (found by memchr, ~2 a message) is
    tried, by a match at the ``<`` before it."""
    at = data.find(b"!", 1)  # a "!" at 0 has no "<" before it
    for _ in range(SCAN_TRIES):
        if at == -1:
            return -1
        if data[at - 1] == 0x3C and _DECLARATION.match(data, at - 1) is not None:
            return at - 1
        at = data.find(b"!", at + 1)
    if at == -1:
        return -1
    found = _DECLARATION.search(data, at - 1)  # many "!" (prose, or a hostile message): the regex's one pass in C
    return found.start() if found is not None else -1


SCAN_TRIES = 64
"""The ``!`` :func:`declaration_at` tries one by one before it hands the rest to the regex: a message of ten million
``!`` costs the regex's ~10 ms, not ten million Python steps."""


def _encoding_of(text: bytes) -> str:
    """The encoding libxml2 reads ``text`` in, in words: the one its XML declaration names, else UTF-8."""
    declared = _XML_DECL.match(text.removeprefix(codecs.BOM_UTF8))
    if declared:
        return f"the encoding its XML declaration names ({declared.group(1).decode('ascii')})"
    return "UTF-8, as it has no XML declaration naming another encoding (a charset sent with it over HTTP is not used)"


def _readable(message: str) -> str:
    """libxml2's message without what it quoted from the input (an entity name, a long number, the text of
    an unfinished CDATA section), unless that is code-shaped or markup (``expected '>'``). Element names
    stay: they are the message's markup, which the integrator needs to find the fault."""
    message = _ECHOED.sub("", message)
    message = _QUOTED.sub(lambda m: m.group(0) if quotable(m.group(1)) else f"({shape(m.group(1))})", message)
    return _NUMBER.sub(lambda m: f"({shape(m.group(0))})", message)


def _count_nodes(text: bytes, source: str) -> bool:
    """Refuse ``text`` when it holds more than :data:`MAX_NODES` elements and attributes (counted as there, before
    libxml2 builds anything), naming the line the count passes the bound on. True when an element of it may carry
    more than :data:`MAX_ATTRIBUTES` attributes (more ``=`` than that): the parsed tree is to be checked.
    Only called for a text longer than ``5 * MAX_ATTRIBUTES`` bytes (~6 µs a 20 KB text, 4 ms a 10 MB one)."""
    equals = text.count(b"=")
    if len(text) > MAX_NODES:
        nodes = text.count(b"<") + equals
        if nodes > MAX_NODES and nodes - text.count(b"</") > MAX_NODES:
            line = None
            for n, found in enumerate(_NODE.finditer(text), 1):  # at most MAX_NODES + 1 steps, when refusing
                if n > MAX_NODES:
                    line = text.count(b"\n", 0, found.start()) + 1
                    break
            raise InputError(f"more than {MAX_NODES:,} elements and attributes in one message (counted as the '<' "
                             f"that do not open an end tag and the '=' signs; the count passes {MAX_NODES:,} on "
                             f"this line): expected at most {MAX_NODES:,}", source=source, line=line)
    return equals > MAX_ATTRIBUTES


_TAG_AND_TEXT = re.compile(rb"<[^<]*")
"""A start tag (or end tag, comment, CDATA section, processing instruction) and the text after it, up to the next ``<``:
an attribute value cannot hold a ``<``, so every ``=`` of one element's attributes is inside one match."""


def _refuse_wide_text(text: bytes, source: str) -> None:
    """For a libxml2 before 2.12 (:data:`LINEAR_ATTRIBUTES`): refuse ``text`` before the parse when some ``<`` is
    followed by more than :data:`MAX_ATTRIBUTES` ``=`` before the next ``<``, naming its line. An upper bound on
    the attributes of that element: the text after it, a comment or a CDATA section count their ``=`` too."""
    for found in _TAG_AND_TEXT.finditer(text):
        if found.end() - found.start() > 5 * MAX_ATTRIBUTES and found.group().count(b"=") > MAX_ATTRIBUTES:
            raise InputError(f"element has more than {MAX_ATTRIBUTES:,} attributes (counted as the '=' signs after "
                             f"its '<': this libxml2, {'.'.join(map(str, etree.LIBXML_VERSION))}, would take time "
                             "quadratic in their number to parse them): expected at most "
                             f"{MAX_ATTRIBUTES:,} on one element", source=source,
                             line=text.count(b"\n", 0, found.start()) + 1)


def _refuse_wide(root: etree._Element, source: str) -> None:
    """Refuse the first element of ``root``'s tree with more than :data:`MAX_ATTRIBUTES` attributes, if any, naming
    it by its path (the document's prefixes) and line."""
    found = _WIDE_ELEMENT(root)
    if found:
        el = found[0]
        names = [f"{node.prefix}:{etree.QName(node).localname}" if node.prefix else etree.QName(node).localname
                 for node in [el, *el.iterancestors()]]
        raise InputError(f"element has {len(el.keys()):,} attributes: expected at most {MAX_ATTRIBUTES:,} on one "
                         "element", source=source, line=el.sourceline, field="/" + "/".join(reversed(names)))


def parse_xml(data: bytes, source: str = "<input>", max_bytes: int = DEFAULT_MAX_BYTES, *,
              huge: bool = False, blanks: bool = True) -> etree._Element:
    """Parse ``data`` into an element tree or raise :class:`InputError` naming line and reason. ``huge``
    lifts libxml2's 10,000,000-character limit on one text node (a GGk envelope's base64 payload may be
    larger); the size stays bounded by ``max_bytes`` and entities stay refused. ``blanks=False`` leaves out
    the whitespace-only text between elements (libxml2's ``remove_blank_text``; a leaf's own blank text and
    ``xml:space="preserve"`` are kept): conversion strips every value it reads, and a tree without those
    nodes costs ~10 µs less a message to build and to walk. Besides ``max_bytes``, a message may hold at most
    :data:`MAX_NODES` elements and attributes (refused before libxml2 builds anything) and an element at most
    :data:`MAX_ATTRIBUTES` attributes (refused before anything reads them)."""
    if len(data) > max_bytes:
        raise InputError(
            f"message is {len(data)} bytes, more than the limit of {max_bytes}", source=source, code="StUF058"
        )
    if not data or data.isspace():  # what ``not data.strip()`` says, without copying the message
        raise InputError("empty input: expected an XML message", source=source, line=1)
    text = _normalised(data, source)
    wide = len(text) > 5 * MAX_ATTRIBUTES and _count_nodes(text, source)  # most messages are not counted
    if wide and not LINEAR_ATTRIBUTES:
        _refuse_wide_text(text, source)
    try:
        root = etree.fromstring(text, _parser(huge, blanks))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        deep = _TOO_DEEP.search(exc.msg)
        if deep:  # well-formed, but deeper than libxml2 goes; its advice (a parser option) is not the sender's
            raise InputError(f"elements nested more than {deep.group(1)} levels deep: expected at most "
                             f"{deep.group(1)} (a message nests a few dozen)", source=source, line=line) from None
        if _TOO_LONG.search(exc.msg):  # well-formed too: one value longer than libxml2 reads (a GGk payload's text)
            raise InputError(f"one text or attribute value is longer than {MAX_VALUE_CHARS:,} characters: expected "
                             "values of a message's length (a base64 payload belongs in a GGk envelope's "
                             "parameters/bericht)", source=source, line=line) from None
        said = _readable(exc.msg)
        if _BAD_BYTES.search(said):  # the encoding it is read in: its declaration's, never the HTTP charset
            said += f"; expected text in {_encoding_of(text)}"
        raise InputError(f"not well-formed XML: {said}", source=source, line=line) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise InputError(DTD_REFUSED, source=source, line=1)
    if wide:
        _refuse_wide(root, source)
    return root
