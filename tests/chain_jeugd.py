"""iJw chain messages for tests: an iWmo 2.1 or 3.2 chain message (chain_messages.py, test_chain_property_32.py)
made into its Jeugdwet twin with lxml, as the iJw fixtures were made (tests/fixtures/ijw21/README.md, ijw32/README.md):
the iJw namespaces (``/iwmo/`` -> ``/ijw/``, ``wmo3xx`` -> ``jw3xx``), the iJw BerichtCode of the same message, and
a Jeugdwet product (JZ020) for each Wmo one (WMO020), its code the Wmo code under the Jeugdwet categorie. Every
other value stays, so an iWmo and an iJw chain drawn alike share client, beschikking, ToewijzingNummer and
ReferentieAanbieder: what a gemeente that numbers both from one counter, or an aanbieder with one reference
series, sends."""

from __future__ import annotations

from lxml import etree

BERICHTCODE = {"414": "436", "415": "437", "418": "438", "420": "440", "444": "446", "445": "447", "480": "486",
               "482": "488"}
"""iWmo BerichtCode -> the iJw one of the same message (notes/codelists.md 1): 301, 302, 305, 307, 315, 316, 317,
319."""
CATEGORIE = {"01": "32", "02": "45", "07": "33"}
"""The Wmo categories the chains use -> a Jeugdwet one (JZ020): 2.1's 01 and 07 as the ijw21 fixtures took them
(32 ambulant, 33 dagbehandeling), 3.2's 02 as 45 (ambulante jeugdhulp, the ijw32 fixtures')."""


def jeugd_product(code: str) -> str:
    """The Jeugdwet product code of a Wmo one: its categorie mapped, the rest kept (``01A01`` -> ``32A01``)."""
    return CATEGORIE[code[:2]] + code[2:]


def _namespace(uri: str) -> str:
    return uri.replace("/iwmo/", "/ijw/").replace("/wmo3", "/jw3")


def jeugdwet(xml: bytes) -> bytes:
    """The iJw twin of the iWmo message ``xml`` (2.1 or 3.2)."""
    root = etree.fromstring(xml)
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        name = etree.QName(element)
        if name.namespace:
            element.tag = etree.QName(_namespace(name.namespace), name.localname).text
        if name.localname == "BerichtCode":
            element.text = BERICHTCODE[element.text or ""]
        elif name.localname == "Categorie":
            element.text = CATEGORIE[element.text or ""]
        elif name.localname == "Code" and etree.QName(element.getparent()).localname == "Product":
            element.text = jeugd_product(element.text or "")
    etree.cleanup_namespaces(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
