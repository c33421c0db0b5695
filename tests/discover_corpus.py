"""The archive the discover and scaffold tests read: every known dialect plus vendor variants made here.

Known dialects: the public iWmo 2.0 samples (XML and EI), every fixture dialect in tests/fixtures and
the three example vendor dialects in mappings/examples. Variants: copies of the iWmo 2.0 WMO301
samples with one deviation each, the way a vendor's software drifts from the standard:

* ``renamed``    Beschikkingnummer written as BeschikkingNr
* ``attribute``  the product Categorie as an attribute of Product instead of a child element
* ``dates``      every date as dd-mm-yyyy
* ``prefix``     product codes with the vendor's prefix VND-
* ``code``       an Eenheid 99, in no code list (same structure: it stays in the iWmo 2.0 301 cluster)
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
EXAMPLES = ROOT / "mappings" / "examples"
M = "http://www.istandaarden.nl/iwmo/2_0/wmo301/schema/2_0"
I = "http://www.istandaarden.nl/iwmo/2_0/basisschema/schema/2_0"  # noqa: E741
VARIANT_SOURCES = ("CasusA-02-WMO301_toewijzing.xml", "CasusB-01-WMO301_toewijzing.xml",
                   "CasusC-02-WMO301_herindicatie.xml")
_ISO = re.compile(r"^(\d{4})-(\d\d)-(\d\d)$")


def _renamed(root: etree._Element) -> None:
    for el in root.iter(f"{{{M}}}Beschikkingnummer"):
        el.tag = f"{{{M}}}BeschikkingNr"


def _attribute(root: etree._Element) -> None:
    for product in root.iter(f"{{{M}}}Product"):
        categorie = product.find(f"{{{I}}}Categorie")
        if categorie is not None:
            product.set("Categorie", categorie.text or "")
            product.remove(categorie)


def _dates(root: etree._Element) -> None:
    for el in root.iter():
        if isinstance(el.tag, str) and el.text and _ISO.match(el.text.strip()):
            y, m, d = _ISO.match(el.text.strip()).groups()  # type: ignore[union-attr]
            el.text = f"{d}-{m}-{y}"


def _prefix(root: etree._Element) -> None:
    for product in root.iter(f"{{{M}}}Product"):
        code = product.find(f"{{{I}}}Code")
        if code is not None:
            code.text = f"VND-{code.text}"


def _code(root: etree._Element) -> None:
    for product in root.iter(f"{{{M}}}ToegewezenProduct"):
        product.find(f"{{{M}}}Omvang/{{{I}}}Eenheid").text = "99"  # type: ignore[union-attr]
        break


VARIANTS: dict[str, Callable[[etree._Element], None]] = {
    "renamed": _renamed, "attribute": _attribute, "dates": _dates, "prefix": _prefix, "code": _code,
}


def variant(data: bytes, kind: str) -> bytes:
    root = etree.fromstring(data)
    VARIANTS[kind](root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def members(reference: Path) -> dict[str, bytes]:
    """Archive member name -> bytes, for every known dialect and every variant."""
    out: dict[str, bytes] = {}
    for folder in ("iwmo20-xml", "iwmo-ei"):
        for path in sorted((reference / "samples" / folder).iterdir()):
            out[f"samples/{folder}/{path.name}"] = path.read_bytes()
    for path in sorted(FIXTURES.rglob("*.xml")):
        out[f"fixtures/{path.relative_to(FIXTURES)}"] = path.read_bytes()
    for path in sorted(EXAMPLES.glob("*/fixtures/*.xml")):
        out[f"examples/{path.relative_to(EXAMPLES)}"] = path.read_bytes()
    for kind in VARIANTS:
        for name in VARIANT_SOURCES:
            out[f"variants/{kind}/{name}"] = variant((reference / "samples" / "iwmo20-xml" / name).read_bytes(), kind)
    return out


def write_zip(files: dict[str, bytes], path: Path) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path
