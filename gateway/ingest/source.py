"""What ingest hands to mapping: the parsed message, how it arrived and how to recognise it."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree


@dataclass(slots=True)
class Source:
    """One inbound message after unwrapping: the payload root plus the facts used to detect its dialect.

    ``format`` is ``xml`` or ``ei`` (an EI flat file parsed into a tree); ``envelopes`` lists what
    was peeled off on the way in (``soap11``, ``soap12``, ``ggk-Di01``), outermost first.
    """

    name: str
    data: bytes
    root: etree._Element
    format: str = "xml"
    envelopes: list[str] = field(default_factory=list)
    route: str | None = None
    envelope_info: dict[str, str] = field(default_factory=dict)
    envelope_unread: tuple[tuple[str, int | None], ...] = ()
    """(path, line in the envelope) of envelope elements that go nowhere: reported with the unmapped input."""

    @property
    def namespace(self) -> str:
        return etree.QName(self.root).namespace or ""

    @property
    def root_name(self) -> str:
        return etree.QName(self.root).localname

    def describe(self) -> str:
        """Short identification for errors: ``{namespace}root`` and the format."""
        ns = self.namespace
        return (f"{{{ns}}}" if ns else "") + self.root_name + ("" if self.format == "xml" else f" ({self.format})")
