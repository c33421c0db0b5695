"""Units made by ``units.unit_of`` (without the frozen dataclass's ``__init__``, session 34) are the units
``Unit(...)`` makes: equal, hashed alike, still frozen; and a Jeugdwet message's keys and links are ``jw-`` keys.

Why: every message's units and every unit a batch parent rebuilds come from ``unit_of`` now; it sets slots by
position, so a value in the wrong slot or a Jeugdwet key left unprefixed would join zaken that must stay apart.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from shared_registry import shared_registry

from gateway.pipeline import Converter
from gateway.zaken import Unit, units
from gateway.zaken.units import unit_of

FIXTURES = Path(__file__).parent / "fixtures"


def test_unit_of_makes_the_unit_the_dataclass_makes() -> None:
    values = ("toewijzing", "start", 1, 2, "0363", "12345678", ("product:0363:x",), ("aanvraag:0363:y",))
    made, built = unit_of(*values), Unit(*values)
    assert made == built and hash(made) == hash(built) and type(made) is Unit
    assert [getattr(made, f.name) for f in dataclasses.fields(Unit)] == list(values)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.kind = "aanvraag"  # type: ignore[misc]
    assert dataclasses.replace(made, line_index=5).line_index == 5


@pytest.mark.parametrize("folder", ["ijw21", "ijw32", "iwmo21", "iwmo32"])
def test_a_jeugdwet_messages_units_carry_jw_keys_and_a_wmo_messages_do_not(folder: str,
                                                                           reference_dir: Path) -> None:
    converter = Converter(shared_registry())
    seen = 0
    for path in sorted((FIXTURES / folder).glob("*.xml")):
        _, _, result = converter.to_model(path.read_bytes(), path.name)
        bericht = result.bericht
        if bericht.soort.endswith("-retour"):
            continue
        for unit in units(bericht):
            named = [*unit.keys, *unit.links]
            assert all(k.startswith("jw-") == (bericht.wet == "jw") for k in named), (path.name, named)
            seen += len(named)
    assert seen > 5
