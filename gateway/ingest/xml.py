"""Safe XML parsing: no DTDs, no entities, no network, bounded size.

iWmo, iJw and StUF messages never carry a DOCTYPE, so any DOCTYPE is refused outright; that
closes entity bombs and external entities before they can do anything.
"""

from __future__ import annotations

import threading

from lxml import etree

from .errors import InputError

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
_local = threading.local()


def _parser(huge: bool = False) -> etree.XMLParser:
    # lxml parsers are not safe to share between threads; one per thread is cheap.
    name = "huge_parser" if huge else "parser"
    parser = getattr(_local, name, None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=huge,
            remove_blank_text=False,
            collect_ids=False,
        )
        setattr(_local, name, parser)
    return parser


def parse_xml(data: bytes, source: str = "<input>", max_bytes: int = DEFAULT_MAX_BYTES, *,
              huge: bool = False) -> etree._Element:
    """Parse ``data`` into an element tree or raise :class:`InputError` naming line and reason. ``huge``
    lifts libxml2's 10,000,000-character limit on one text node (a GGk envelope's base64 payload may be
    larger); the size stays bounded by ``max_bytes`` and entities stay refused."""
    if len(data) > max_bytes:
        raise InputError(
            f"message is {len(data)} bytes, more than the limit of {max_bytes}", source=source, code="StUF058"
        )
    if not data.strip():
        raise InputError("empty input: expected an XML message", source=source, line=1)
    head = data[:4096]
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise InputError(
            "DOCTYPE/ENTITY declarations are not allowed (entity expansion is refused)",
            source=source,
            line=data[: head.find(b"<!")].count(b"\n") + 1,
        )
    try:
        root = etree.fromstring(data, _parser(huge))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise InputError(f"not well-formed XML: {exc.msg}", source=source, line=line) from None
    tree = root.getroottree()
    if tree.docinfo.doctype:
        raise InputError("DOCTYPE declarations are not allowed", source=source, line=1)
    return root
