"""Where the official reference material lives (StUF/GGk/iWmo XSDs, public samples).

It is never committed (its licence is not ours); tests and ``overstap validate`` read it from
``$OVERSTAP_REFERENCE_DIR``, by default ``../shared/reference`` beside the checkout.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from lxml import etree

ENV = "OVERSTAP_REFERENCE_DIR"


def reference_dir() -> Path:
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"
    return Path(os.environ.get(ENV, str(default))).resolve()


def available() -> bool:
    return (reference_dir() / "stuf" / "_zkn_mutatie_entry.xsd").is_file()


_schema_lock = threading.Lock()
_schemas: dict[tuple[str | None, str], etree.XMLSchema] = {}


def load_schema(relative: str) -> etree.XMLSchema | None:
    """The official XSD at ``relative`` in the reference dir, compiled once per process (None if absent).

    Output validation (render) and source-schema checks (mapping) share this one cache. The hot
    path is one dict look-up: no path building or file-system calls once a schema is loaded.
    """
    key = (os.environ.get(ENV), relative)
    found = _schemas.get(key)
    if found is not None:
        return found
    with _schema_lock:
        if key not in _schemas:
            path = reference_dir() / relative
            if not path.is_file():
                return None
            _schemas[key] = etree.XMLSchema(etree.parse(str(path)))
        return _schemas[key]
