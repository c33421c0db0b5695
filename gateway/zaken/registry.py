"""The registry of extraElement names (gateway/zaken/extraelementen.yaml): read once, checked by tests."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

REGISTRY = Path(__file__).with_name("extraelementen.yaml")


@cache
def registered() -> tuple[dict[str, Any], ...]:
    """Every registered name with type, bron (source) and betekenis (meaning), in registry order."""
    return tuple(yaml.safe_load(REGISTRY.read_text(encoding="utf-8")))


def is_registered(name: str) -> bool:
    names = {entry["naam"] for entry in registered()}
    return name in names or (name.startswith("vendor.") and "vendor.NAME" in names)


def is_written(name: str) -> bool:
    """A name the writer may emit: registered and not retired (a retired name stays registered, never reused:
    StUF 03.01 3.2.4.1, but is no longer written)."""
    retired = {entry["naam"] for entry in registered() if entry.get("retired")}
    return is_registered(name) and name not in retired
