"""Where the official reference material lives (StUF/GGk/iWmo XSDs, public samples).

It is never committed (its licence is not ours); tests and ``overstap validate`` read it from
``$OVERSTAP_REFERENCE_DIR``, by default ``../shared/reference`` beside the checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "OVERSTAP_REFERENCE_DIR"


def reference_dir() -> Path:
    default = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"
    return Path(os.environ.get(ENV, str(default))).resolve()


def available() -> bool:
    return (reference_dir() / "stuf" / "_zkn_mutatie_entry.xsd").is_file()
