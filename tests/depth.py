"""How deep the `longer_*` property variants and the long soaks go in this run (docs/testing.md, "CI run time").

Why: at full depth they took about 1,000 of the suite's 2,900 test-seconds, bounding `make test` at 25 minutes.
`make test` runs them at a quick depth (every property and soak still runs, each kind of event still drawn);
``OVERSTAP_DEPTH=long`` (the nightly, `.ci/nightly`) runs the depth they had before session 29.
"""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")

ENV = "OVERSTAP_DEPTH"
LONG = os.environ.get(ENV, "").strip().lower() == "long"
"""True in the nightly's deep run (``OVERSTAP_DEPTH=long``)."""


def depth(quick: T, long: T) -> T:
    """``long`` in the nightly's deep run, else ``quick`` (example counts, seeds, rounds)."""
    return long if LONG else quick
