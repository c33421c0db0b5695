"""A scenario's messages as they are sent: converted by Overstap, made unique to the run, made wrong on purpose.

Each scenario is converted with a fresh zaak ledger, so its first message of a chain is a creeerZaak. So that
the set can be run again against the same receiver (which keeps its zaken), every zaak identificatie gets a
run-specific form — the gemeentecode (RGBZ: its first four characters) and length kept — and every
tijdstipBericht comes from one clock per run, strictly rising across scenarios (StUF 03.01 §4.3.2).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from lxml import etree

from gateway.ledger import MemoryLedger
from gateway.pipeline import Converter
from gateway.render import stuf

from .scenarios import Scenario

STUF = "{http://www.egem.nl/StUF/StUF0301}"
ZKN = "{http://www.egem.nl/StUF/sector/zkn/0310}"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"


@dataclass(slots=True)
class Outgoing:
    """One canonical message to send, with what the report says about it."""

    source: str
    operation: str
    soap_action: str
    referentienummer: str
    zaak: str
    root: etree._Element

    def body(self) -> bytes:
        return etree.tostring(self.root, xml_declaration=True, encoding="UTF-8")


class BuildError(ValueError):
    """A scenario whose messages do not convert, or cannot be made wrong the way it asks."""


class RunClock:
    """tijdstipBericht for every message of a run: now, then one millisecond more each time."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.moment = start or dt.datetime.now()

    def next(self) -> str:
        self.moment += dt.timedelta(milliseconds=1)
        return self.moment.strftime("%Y%m%d%H%M%S") + f"{self.moment.microsecond // 1000:03d}"


def _stuur(root: etree._Element, name: str) -> etree._Element:
    found = root.find(f"{{*}}stuurgegevens/{STUF}{name}")
    if found is None:
        raise BuildError(f"a converted message has no stuurgegevens/{name}")
    return found


def _rename(identificatie: str, run: str, scenario: str) -> str:
    digest = hashlib.sha256(f"{run}|{scenario}|{identificatie}".encode()).hexdigest().upper()
    return identificatie[:4] + digest[: max(len(identificatie) - 4, 8)]


def build(scenario: Scenario, converter_settings: dict[str, object], run: str, clock: RunClock) -> list[Outgoing]:
    """The messages ``scenario`` sends, in order; raises :class:`BuildError` naming the file that failed."""
    converter = Converter(ledger=MemoryLedger(), profile=scenario.profile, **converter_settings)  # type: ignore[arg-type]
    out: list[Outgoing] = []
    for path in scenario.messages:
        try:
            conversion = converter.convert(path.read_bytes(), path.name)
        except Exception as exc:  # the scenario set is data: a bad file is a report line, not a traceback
            raise BuildError(f"{path.name} does not convert: {exc}") from None
        for output in conversion.outputs:
            root = etree.fromstring(output.xml)
            name = etree.QName(root)
            operation = output.operation or ("Du01" if name.localname.endswith("Du01") else "Di01")
            action = output.soap_action or stuf.soap_action(name.namespace or "", name.localname)
            out.append(Outgoing(path.name, operation, action, output.referentienummer, output.zaak or "", root))
    names = {o.zaak: _rename(o.zaak, run, scenario.id) for o in out if o.zaak}
    for o in out:
        for el in o.root.iter(f"{ZKN}identificatie"):
            if el.text in names:
                el.text = names[el.text]
        o.zaak = names.get(o.zaak, o.zaak)
    _make_wrong(scenario, out)
    wrong_tijdstip = scenario.wrong == "repeat-tijdstip"
    for n, o in enumerate(out):
        stamp = _stuur(o.root, "tijdstipBericht")
        stamp.text = _stuur(out[0].root, "tijdstipBericht").text if wrong_tijdstip and n == 1 else clock.next()
    return out


def _make_wrong(scenario: Scenario, out: list[Outgoing]) -> None:
    """Apply the scenario's ``wrong:`` (gateway/compliance/scenarios.py WRONGS) to its messages."""
    if scenario.wrong in ("skip-creeer", "skip-di01"):
        first = "creeerZaak" if scenario.wrong == "skip-creeer" else "Di01"
        out[:] = [o for o in out if o.operation != first]
    elif scenario.wrong == "reuse-referentienummer":
        del out[2:]
        if len(out) < 2:
            raise BuildError("reuse-referentienummer needs two messages")
        _stuur(out[1].root, "referentienummer").text = out[0].referentienummer
        out[1].referentienummer = out[0].referentienummer
    elif scenario.wrong == "repeat-tijdstip":
        del out[2:]
        if len(out) < 2:
            raise BuildError("repeat-tijdstip needs two messages")
    elif scenario.wrong == "oud-from-nieuw":
        update = next((o for o in out if o.operation == "updateZaak"), None)
        if update is None:
            raise BuildError("oud-from-nieuw needs an updateZaak among the messages")
        out[:] = out[: out.index(update) + 1]
        oud, nieuw = update.root.findall(f"{ZKN}object")[:2]
        for old, new in zip(oud, nieuw, strict=False):
            if old.tag == new.tag != f"{ZKN}identificatie" and new.text and old.text != new.text:
                old.text = new.text  # the old object now claims the new value: not what the receiver holds
                for attribute in (XSI_NIL, f"{STUF}noValue"):
                    old.attrib.pop(attribute, None)
                return
        raise BuildError("oud-from-nieuw found no element whose old and new values differ")
