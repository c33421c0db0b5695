"""Shared test fixtures: where the official reference material is, or a clear skip when it is not here.

The reference folder (official XSDs, public samples) is never part of the repository, so every test
that needs it asks for ``reference_dir`` and is skipped, saying why, on a checkout without it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import reference


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The reference folder with the official schemas and samples; skips the test when it is absent."""
    found = reference.reference_dir()
    if not reference.available() or not (found / "samples" / "iwmo20-xml").is_dir():
        pytest.skip(f"reference material not found at {found} (set {reference.ENV} to the shared reference folder)")
    return found

