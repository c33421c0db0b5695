"""Shared by the re-conversion tests (CLI, /admin/reconvert, the console): a receiver that refuses a wrong volume,
and the iWmo 2.0 dialects with a mapping fault an integrator then fixes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gateway.mapping import Registry
from gateway.mapping.registry import builtin_dir
from gateway.receiver import Receiver
from gateway.receiver.apply import refuse
from gateway.receiver.zaak import EXTRA


class StrictReceiver(Receiver):
    """The reference receiver with one rule more, as a zaaksysteem that checks a toewijzing against its beschikking
    may have: the toegewezen product's volume is the beschikte one (StUF055 otherwise)."""

    def _apply(self, inbound: Any) -> Any:
        zaak, operation = super()._apply(inbound)
        extra = zaak.attributes.get(EXTRA) or {}
        toegewezen, beschikt = extra.get("product.omvang.volume"), extra.get("beschikt.omvang.volume")
        if toegewezen is not None and beschikt is not None and toegewezen != beschikt:
            raise refuse("omvang", "extraElement product.omvang.volume", "the toegewezen volume is not the beschikte "
                         "volume", "StUF055")
        return zaak, operation


VOLUME_FAULT = ("          reden_intrekking: m:RedenIntrekking\n          <<: *omvang\n",
                "          reden_intrekking: m:RedenIntrekking\n          <<: *omvang\n"
                "          omvang.volume: m:Omvang/i:Eenheid\n")
"""iWmo 2.0 WMO301's toegewezen product reads its Volume from the Eenheid element: product.omvang.volume 83 where
the source says 22500 (the zaak identificatie and its chain keys are the fixed mapping's)."""
CODE_FAULT = ("          code: m:Product/i:Code\n          aanbieder: m:Aanbieder\n",
              "          code: m:Product/i:Categorie\n          aanbieder: m:Aanbieder\n")
"""Its toegewezen product reads its Categorie as its Code: product "01" where the source says "01A01", and with it
another zaak identificatie than the fixed mapping derives."""


def broken_registry(tmp_path: Path, fault: tuple[str, str] = VOLUME_FAULT) -> Registry:
    """The dialects with a mapping fault (``fault``: the right text and the wrong one)."""
    dialects = tmp_path / "dialects"  # iWmo 2.0's only: the messages here are of it
    shutil.copytree(builtin_dir() / "iwmo20", dialects / "iwmo20")
    mapping = dialects / "iwmo20" / "wmo301.yaml"
    text = mapping.read_text()
    assert text.count(fault[0]) == 1
    mapping.write_text(text.replace(*fault))
    return Registry([dialects])


def fix_mapping(tmp_path: Path) -> None:
    """The integrator's fix: the faulty mapping file put back as shipped."""
    shipped = (builtin_dir() / "iwmo20" / "wmo301.yaml").read_text()
    (tmp_path / "dialects" / "iwmo20" / "wmo301.yaml").write_text(shipped)
